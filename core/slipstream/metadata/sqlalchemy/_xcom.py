"""XCom: small JSON values task instances pass to each other."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from slipstream.errors import NotFoundError
from slipstream.metadata.records import TaskInstanceRef, XCom
from slipstream.metadata.sqlalchemy import schema as s
from slipstream.metadata.sqlalchemy._base import StoreBase, check_json, utcnow


class XComMixin(StoreBase):
    def _run_pk(self, conn: sa.Connection, dag_id: str, run_id: str) -> int:
        run_pk = conn.scalar(
            sa.select(s.dag_run.c.id).where(
                s.dag_run.c.dag_id == dag_id, s.dag_run.c.run_id == run_id
            )
        )
        if run_pk is None:
            raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r}")
        return int(run_pk)

    def set_xcom(self, ref: TaskInstanceRef, key: str, value: Any) -> None:
        check_json(value, f"XCom {key!r} of {ref.task_id!r}")
        x = s.xcom
        with self._write() as conn:
            run_pk = self._run_pk(conn, ref.dag_id, ref.run_id)
            where = (
                x.c.dag_run_id == run_pk,
                x.c.task_id == ref.task_id,
                x.c.map_index == ref.map_index,
                x.c.key == key,
            )
            conn.execute(x.delete().where(*where))
            conn.execute(
                x.insert().values(
                    dag_run_id=run_pk,
                    dag_id=ref.dag_id,
                    run_id=ref.run_id,
                    task_id=ref.task_id,
                    map_index=ref.map_index,
                    key=key,
                    value=value,
                    timestamp=utcnow(),
                )
            )

    def get_xcom(self, ref: TaskInstanceRef, key: str = "return_value") -> XCom | None:
        found = self._xcoms(ref.dag_id, ref.run_id, ref.task_id, key, ref.map_index)
        return found[0] if found else None

    def list_xcoms(
        self, dag_id: str, run_id: str, *, task_id: str | None = None, key: str | None = None
    ) -> list[XCom]:
        return self._xcoms(dag_id, run_id, task_id, key, None)

    def _xcoms(
        self,
        dag_id: str,
        run_id: str,
        task_id: str | None,
        key: str | None,
        map_index: int | None,
    ) -> list[XCom]:
        x = s.xcom
        query = (
            sa.select(x)
            .where(x.c.dag_id == dag_id, x.c.run_id == run_id)
            .order_by(x.c.task_id, x.c.map_index, x.c.key)
        )
        if task_id is not None:
            query = query.where(x.c.task_id == task_id)
        if key is not None:
            query = query.where(x.c.key == key)
        if map_index is not None:
            query = query.where(x.c.map_index == map_index)
        with self._read() as conn:
            return [
                XCom(
                    dag_id=row.dag_id,
                    run_id=row.run_id,
                    task_id=row.task_id,
                    map_index=row.map_index,
                    key=row.key,
                    value=row.value,
                    timestamp=row.timestamp,
                )
                for row in conn.execute(query)
            ]

    def delete_xcoms(self, ref: TaskInstanceRef) -> None:
        x = s.xcom
        with self._write() as conn:
            run_pk = self._run_pk(conn, ref.dag_id, ref.run_id)
            conn.execute(
                x.delete().where(
                    x.c.dag_run_id == run_pk,
                    x.c.task_id == ref.task_id,
                    x.c.map_index == ref.map_index,
                )
            )
