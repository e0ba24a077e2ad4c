"""What several schedulers use to share work without talking to each other.

Claims lock rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL, MySQL 8,
MariaDB 10.6+): a row another scheduler is claiming is skipped, never waited for,
and never claimed twice. SQLite has a single writer (BEGIN IMMEDIATE), which
excludes concurrent claims by itself.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from slipstream.errors import StoreError
from slipstream.metadata.records import DagRun, TaskInstance
from slipstream.metadata.sqlalchemy import schema as s
from slipstream.metadata.sqlalchemy._base import StoreBase, chunks, utcnow
from slipstream.metadata.sqlalchemy._runs import _run, _ti
from slipstream.metadata.sqlalchemy.engine import supports_skip_locked
from slipstream.state import DagRunState, TaskInstanceState, check_transition


def lock_skipping(
    conn: sa.Connection,
    table: sa.Table,
    query: sa.Select[Any],
    recheck: sa.ColumnElement[bool],
) -> list[int]:
    """Run ``query`` (ids, ordered, limited) and lock its rows, skipping locked ones.

    ``recheck`` is the query's condition, evaluated again under the lock.
    """
    dialect = conn.dialect
    if dialect.name in ("mysql", "mariadb"):
        if not supports_skip_locked(dialect):
            raise StoreError("claims need MySQL 8.0.1+ or MariaDB 10.6+ (SKIP LOCKED)")
        # InnoDB locks every row a sorted scan reads, so "ORDER BY ... LIMIT n FOR UPDATE"
        # would lock all candidates and starve other schedulers. Pick candidates
        # without locks, then lock just those by primary key.
        candidates = list(conn.scalars(query))
        if not candidates:
            return []
        locked = set(
            conn.scalars(
                sa.select(table.c.id)
                .where(table.c.id.in_(candidates), recheck)
                .with_for_update(skip_locked=True)
            )
        )
        return [ident for ident in candidates if ident in locked]
    if supports_skip_locked(dialect):
        return list(conn.scalars(query.with_for_update(skip_locked=True)))
    return list(conn.scalars(query))


class ClaimsMixin(StoreBase):
    def claim_task_instances(
        self,
        *,
        from_state: TaskInstanceState,
        to_state: TaskInstanceState,
        limit: int,
        owner: str,
        pools: Collection[str] = (),
        dag_ids: Collection[str] = (),
    ) -> list[TaskInstance]:
        check_transition(from_state, to_state)
        if limit <= 0:
            return []
        t = s.task_instance
        condition = t.c.state == from_state.value
        query = sa.select(t.c.id).where(condition)
        if pools:
            query = query.where(t.c.pool.in_(list(pools)))
        if dag_ids:
            query = query.where(t.c.dag_id.in_(list(dag_ids)))
        query = query.order_by(t.c.priority_weight.desc(), t.c.id).limit(limit)
        with self._write() as conn:
            ids = lock_skipping(conn, t, query, condition)
            if not ids:
                return []
            now = utcnow()
            values: dict[str, Any] = {"state": to_state.value, "lease_owner": owner}
            values["updated_at"] = now
            if to_state == TaskInstanceState.QUEUED:
                values["queued_at"] = now
            elif to_state == TaskInstanceState.SCHEDULED:
                values["scheduled_at"] = now
            conn.execute(t.update().where(t.c.id.in_(ids), condition).values(**values))
            claimed = {
                row.id: _ti(row) for row in conn.execute(sa.select(t).where(t.c.id.in_(ids)))
            }
        return [claimed[ti_id] for ti_id in ids]

    def claim_dag_runs(
        self,
        *,
        states: Collection[DagRunState],
        limit: int,
        owner: str,
        lease: timedelta,
        dag_ids: Collection[str] = (),
    ) -> list[DagRun]:
        if limit <= 0 or not states:
            return []
        r = s.dag_run
        now = utcnow()
        condition = sa.and_(
            r.c.state.in_([DagRunState(x).value for x in states]),
            sa.or_(
                r.c.lease_owner.is_(None),
                r.c.lease_owner == owner,
                r.c.lease_expires_at < now,
            ),
        )
        query = sa.select(r.c.id).where(condition)
        if dag_ids:
            query = query.where(r.c.dag_id.in_(list(dag_ids)))
        query = query.order_by(r.c.run_after, r.c.id).limit(limit)
        with self._write() as conn:
            ids = lock_skipping(conn, r, query, condition)
            if not ids:
                return []
            conn.execute(
                r.update()
                .where(r.c.id.in_(ids))
                .values(lease_owner=owner, lease_expires_at=now + lease)
            )
            claimed = {
                row.id: _run(row) for row in conn.execute(sa.select(r).where(r.c.id.in_(ids)))
            }
        return [claimed[run_id] for run_id in ids]

    def release_dag_runs(self, owner: str, run_ids: Collection[int] | None = None) -> None:
        r = s.dag_run
        with self._write() as conn:
            if run_ids is None:
                conn.execute(
                    r.update()
                    .where(r.c.lease_owner == owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
                return
            for chunk in chunks(sorted(run_ids)):
                conn.execute(
                    r.update()
                    .where(r.c.id.in_(chunk), r.c.lease_owner == owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )
