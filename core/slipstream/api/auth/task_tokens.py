"""Task tokens: a credential scoped to one try of one task instance.

The scheduler mints one into each workload of an executor whose workers report
through the task-execution API (``Executor.needs_task_token``). The token names
the task instance id and try number; the API accepts it only for that try, and
only while the store says the try runs (the expiry is a backstop, not the rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from slipstream.api.auth.tokens import InvalidToken, TokenClaims, TokenKind, TokenSigner

if TYPE_CHECKING:
    from slipstream.config import Config
    from slipstream.executors.base import TaskInstanceKey, Workload

SCOPE_CLAIMS = ("dag_id", "run_id", "task_id", "map_index", "try_number")


@attrs.frozen(kw_only=True)
class TaskTokenScope:
    """What a task token names: one try of one task instance."""

    ti_id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    @classmethod
    def from_claims(cls, claims: TokenClaims) -> TaskTokenScope:
        if claims.kind is not TokenKind.TASK:
            raise InvalidToken(f"a {claims.kind.value} token is not a task token")
        extra = claims.extra
        try:
            return cls(
                ti_id=int(claims.subject),
                dag_id=str(extra["dag_id"]),
                run_id=str(extra["run_id"]),
                task_id=str(extra["task_id"]),
                map_index=int(extra["map_index"]),
                try_number=int(extra["try_number"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InvalidToken("the task token does not name a task try") from None

    @property
    def key(self) -> TaskInstanceKey:
        from slipstream.executors.base import TaskInstanceKey

        return TaskInstanceKey(
            dag_id=self.dag_id,
            run_id=self.run_id,
            task_id=self.task_id,
            map_index=self.map_index,
            try_number=self.try_number,
        )

    def claims(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SCOPE_CLAIMS}


def issue_task_token(signer: TokenSigner, scope: TaskTokenScope, *, lifetime: float) -> str:
    return signer.issue(str(scope.ti_id), TokenKind.TASK, lifetime=lifetime, **scope.claims())


class TaskTokenMinter:
    """Puts a task token into workloads: ``minter(ti_id, workload)``.

    The token lives for the try's ``execution_timeout`` plus ``margin`` seconds
    (``api.task_token_expiration``: the wait in a queue, and the whole lifetime of a
    try without a timeout); heartbeats renew it while the try runs.
    """

    def __init__(self, signer: TokenSigner, *, margin: float) -> None:
        self.signer = signer
        self.margin = margin

    @classmethod
    def for_config(cls, config: Config) -> TaskTokenMinter:
        return cls(
            TokenSigner.for_home(config["api.secret_key"], config.home),
            margin=float(config["api.task_token_expiration"]),
        )

    def __call__(self, ti_id: int, workload: Workload) -> Workload:
        key = workload.key
        scope = TaskTokenScope(
            ti_id=ti_id,
            dag_id=key.dag_id,
            run_id=key.run_id,
            task_id=key.task_id,
            map_index=key.map_index,
            try_number=key.try_number,
        )
        lifetime = (workload.timeout_seconds or 0.0) + self.margin
        return attrs.evolve(workload, token=issue_task_token(self.signer, scope, lifetime=lifetime))
