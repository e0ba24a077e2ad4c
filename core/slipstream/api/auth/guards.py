"""Route guards: ``guards=[requires(Role.OP)]`` on a handler or controller."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from slipstream.api.auth.middleware import Principal
from slipstream.api.auth.roles import Role


def requires(role: Role) -> Guard:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or not principal.has_role(role):
            have = (
                principal.role.label
                if isinstance(principal, Principal) and principal.role
                else None
            )
            raise PermissionDeniedException(
                f"This needs the {role.label} role or higher"
                + (f"; you have {have}" if have else "")
            )

    return guard


can_read = requires(Role.VIEWER)
can_edit = requires(Role.USER)
can_operate = requires(Role.OP)
can_admin = requires(Role.ADMIN)
