"""Who is calling: a bearer token (API clients, remote workers) or the UI's
session cookie. Every route needs one unless it opts out (``exclude_from_auth``).

Requests authenticated by the cookie that change something must also carry the
session's CSRF secret in ``X-CSRF-Token``: a page on another site can make the
browser send the cookie, but cannot read the secret.
"""

from __future__ import annotations

import hmac
from typing import Any

import anyio.to_thread
import attrs
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware.authentication import (
    AbstractAuthenticationMiddleware,
    AuthenticationResult,
)

from slipstream.api.auth.roles import Role
from slipstream.api.auth.tokens import InvalidToken, TokenClaims, TokenKind

SESSION_COOKIE = "slipstream_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@attrs.frozen(kw_only=True)
class Principal:
    """The caller: a user (by token or session) or one task try (task token)."""

    name: str
    kind: TokenKind
    role: Role | None
    claims: TokenClaims

    def has_role(self, role: Role) -> bool:
        return self.role is not None and self.role >= role


class AuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Any:
        from slipstream.api.context import ApiContext

        ctx: ApiContext = connection.app.state["ctx"]
        header = connection.headers.get("authorization", "")
        scheme, _, credentials = header.partition(" ")
        kinds: tuple[TokenKind, ...]
        if scheme.lower() == "bearer" and credentials.strip():
            token, kinds = credentials.strip(), (TokenKind.ACCESS, TokenKind.TASK)
        elif connection.cookies.get(SESSION_COOKIE):
            token, kinds = connection.cookies[SESSION_COOKIE], (TokenKind.SESSION,)
        else:
            raise NotAuthorizedException("Not authenticated")
        try:
            claims = ctx.signer.verify(token, kinds=kinds)
        except InvalidToken as exc:
            raise NotAuthorizedException(str(exc).capitalize()) from None
        if claims.kind is TokenKind.TASK:
            principal = Principal(name=claims.subject, kind=claims.kind, role=None, claims=claims)
            return AuthenticationResult(user=principal, auth=claims)
        # Users are looked up on every request, so that a deleted or demoted user
        # loses access at once rather than when the token expires.
        user = await anyio.to_thread.run_sync(ctx.store.get_user, claims.subject)
        if user is None or not user.active:
            raise NotAuthorizedException("The user of this token no longer exists or is inactive")
        if claims.kind is TokenKind.SESSION and connection.scope.get("method") not in SAFE_METHODS:
            sent = connection.headers.get(CSRF_HEADER, "")
            if not claims.csrf or not hmac.compare_digest(sent, claims.csrf):
                raise PermissionDeniedException("CSRF token missing or wrong")
        principal = Principal(
            name=user.username, kind=claims.kind, role=Role.parse(user.role), claims=claims
        )
        return AuthenticationResult(user=principal, auth=claims)
