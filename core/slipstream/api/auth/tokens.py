"""Signed tokens (JWT, HS256): access tokens for API clients, UI sessions, and
tokens scoped to one task try for remote workers.

The signing key comes from ``api.secret_key`` or is generated once into
``<home>/api_secret.key`` (mode 0600), so every process on one machine agrees.
"""

from __future__ import annotations

import secrets
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs
import jwt

from slipstream.metadata.secrets import read_or_create_key_file

KEY_FILE = "api_secret.key"
ALGORITHM = "HS256"
ISSUER = "slipstream"


class TokenKind(StrEnum):
    ACCESS = "access"  # POST /auth/token: an API client acting as a user
    SESSION = "session"  # the UI's cookie; carries a CSRF secret
    TASK = "task"  # one task try, for the task-execution API


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or of another kind."""


@attrs.frozen(kw_only=True)
class TokenClaims:
    subject: str  # a user name, or the task instance id for task tokens
    kind: TokenKind
    issued_at: int
    expires_at: int
    role: str | None = None
    csrf: str | None = attrs.field(default=None, repr=False)
    extra: dict[str, Any] = attrs.field(factory=dict)


class TokenSigner:
    def __init__(self, key: str) -> None:
        if len(key) < 32:
            raise ValueError("api.secret_key must be at least 32 characters long")
        self._key = key

    @classmethod
    def for_home(cls, configured_key: str | None, home: Path) -> TokenSigner:
        key = (configured_key or "").strip() or read_or_create_key_file(
            home / KEY_FILE, lambda: secrets.token_urlsafe(48).encode("ascii")
        )
        return cls(key)

    def issue(
        self,
        subject: str,
        kind: TokenKind,
        *,
        lifetime: float,
        role: str | None = None,
        csrf: str | None = None,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "sub": subject,
            "kind": kind.value,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": secrets.token_hex(8),
            **extra,
        }
        if role is not None:
            payload["role"] = role
        if csrf is not None:
            payload["csrf"] = csrf
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, *, kinds: tuple[TokenKind, ...]) -> TokenClaims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWTError:
            raise InvalidToken("the token is not valid") from None
        try:
            kind = TokenKind(str(payload.get("kind")))
        except ValueError:
            raise InvalidToken("the token is not valid") from None
        if kind not in kinds:
            raise InvalidToken(f"a {kind.value} token cannot be used here")
        reserved = {"iss", "sub", "kind", "iat", "exp", "jti", "role", "csrf"}
        return TokenClaims(
            subject=str(payload["sub"]),
            kind=kind,
            issued_at=int(payload["iat"]),
            expires_at=int(payload["exp"]),
            role=payload.get("role"),
            csrf=payload.get("csrf"),
            extra={k: v for k, v in payload.items() if k not in reserved},
        )
