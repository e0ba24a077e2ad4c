"""DAGs, their versions, parse records and import errors."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from slipstream.errors import NotFoundError
from slipstream.metadata.records import (
    Dag,
    DagFileParse,
    DagImportError,
    DagMetadata,
    DagVersion,
    NextRun,
    Page,
)
from slipstream.metadata.sqlalchemy import schema as s
from slipstream.metadata.sqlalchemy._base import (
    StoreBase,
    check_aware,
    check_json,
    chunks,
    inserted_id,
    update_many,
    utcnow,
)

DAG_ORDER = {"dag_id", "fileloc", "last_parsed_time", "next_dagrun", "is_paused"}
IMPORT_ERROR_ORDER = {"id", "filename", "timestamp"}
VERSION_ORDER = {"id", "dag_id", "version_number", "created_at"}


def _next_run_values(next_run: NextRun) -> dict[str, Any]:
    for name in ("logical_date", "data_interval_start", "data_interval_end", "create_after"):
        check_aware(getattr(next_run, name), f"next_run.{name}")
    return {
        "next_dagrun": next_run.logical_date,
        "next_dagrun_data_interval_start": next_run.data_interval_start,
        "next_dagrun_data_interval_end": next_run.data_interval_end,
        "next_dagrun_create_after": next_run.create_after,
    }


def _dag(row: sa.Row[Any], tags: Iterable[str]) -> Dag:
    m = row._mapping
    return Dag(
        dag_id=m["dag_id"],
        fileloc=m["fileloc"],
        relative_fileloc=m["relative_fileloc"],
        owners=m["owners"],
        tags=sorted(tags),
        description=m["description"],
        schedule=m["schedule"],
        is_paused=bool(m["is_paused"]),
        is_active=bool(m["is_active"]),
        max_active_runs=m["max_active_runs"],
        max_active_tasks=m["max_active_tasks"],
        last_parsed_time=m["last_parsed_time"],
        next_run=NextRun(
            logical_date=m["next_dagrun"],
            data_interval_start=m["next_dagrun_data_interval_start"],
            data_interval_end=m["next_dagrun_data_interval_end"],
            create_after=m["next_dagrun_create_after"],
        ),
    )


def _version(row: sa.Row[Any]) -> DagVersion:
    m = row._mapping
    return DagVersion(
        id=m["id"],
        dag_id=m["dag_id"],
        version_number=m["version_number"],
        content_hash=m["content_hash"],
        serialized=m["serialized"],
        source_code=m["source_code"],
        created_at=m["created_at"],
    )


def _import_error(row: sa.Row[Any]) -> DagImportError:
    return DagImportError(
        id=row.id, filename=row.filename, stacktrace=row.stacktrace, timestamp=row.timestamp
    )


class DagsMixin(StoreBase):
    # -- DAGs ---------------------------------------------------------------------

    def upsert_dags(self, dags: Iterable[DagMetadata], *, paused_on_creation: bool = True) -> None:
        batch = {dag.dag_id: dag for dag in dags}  # the last parse of an id wins
        if not batch:
            return
        for dag in batch.values():
            check_aware(dag.last_parsed_time, "last_parsed_time")
        try:
            self._upsert_dags(batch, paused_on_creation)
        except sa.exc.IntegrityError:  # another process inserted one of them first
            self._upsert_dags(batch, paused_on_creation)

    def _upsert_dags(self, batch: Mapping[str, DagMetadata], paused_on_creation: bool) -> None:
        with self._write() as conn:
            existing: set[str] = set()
            for ids in chunks(list(batch)):
                existing.update(
                    conn.scalars(sa.select(s.dag.c.dag_id).where(s.dag.c.dag_id.in_(ids)))
                )
            new_rows: list[dict[str, Any]] = []
            updates: list[tuple[Any, dict[str, Any]]] = []
            for dag in batch.values():
                values: dict[str, Any] = {
                    "fileloc": dag.fileloc,
                    "relative_fileloc": dag.relative_fileloc,
                    "owners": list(dag.owners),
                    "description": dag.description,
                    "schedule": dag.schedule,
                    "is_active": True,
                    "max_active_runs": dag.max_active_runs,
                    "max_active_tasks": dag.max_active_tasks,
                    "last_parsed_time": dag.last_parsed_time,
                }
                if dag.dag_id in existing:
                    if dag.next_run is not None:
                        values.update(_next_run_values(dag.next_run))
                    updates.append((dag.dag_id, values))
                else:
                    values.update(_next_run_values(dag.next_run or NextRun()))
                    new_rows.append(
                        {"dag_id": dag.dag_id, "is_paused": paused_on_creation, **values}
                    )
            if new_rows:
                conn.execute(s.dag.insert(), new_rows)
            update_many(conn, s.dag, "dag_id", updates)
            for ids in chunks(list(batch)):
                conn.execute(s.dag_tag.delete().where(s.dag_tag.c.dag_id.in_(ids)))
            tags = [
                {"dag_id": dag.dag_id, "name": tag}
                for dag in batch.values()
                for tag in sorted(set(dag.tags))
            ]
            if tags:
                conn.execute(s.dag_tag.insert(), tags)

    def _tags_for(self, conn: sa.Connection, dag_ids: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {dag_id: [] for dag_id in dag_ids}
        for ids in chunks(dag_ids):
            query = sa.select(s.dag_tag.c.dag_id, s.dag_tag.c.name).where(
                s.dag_tag.c.dag_id.in_(ids)
            )
            for dag_id, name in conn.execute(query):
                found[dag_id].append(name)
        return found

    def get_dag(self, dag_id: str) -> Dag | None:
        with self._read() as conn:
            row = conn.execute(sa.select(s.dag).where(s.dag.c.dag_id == dag_id)).first()
            if row is None:
                return None
            return _dag(row, self._tags_for(conn, [dag_id])[dag_id])

    def list_dags(
        self,
        *,
        paused: bool | None = None,
        active: bool | None = True,
        tags: Collection[str] = (),
        dag_id_pattern: str | None = None,
        scheduled: bool | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "dag_id",
    ) -> Page[Dag]:
        query = sa.select(s.dag)
        if scheduled is not None:
            has_schedule = sa.and_(s.dag.c.schedule.is_not(None), s.dag.c.schedule != "None")
            query = query.where(has_schedule if scheduled else sa.not_(has_schedule))
        if paused is not None:
            query = query.where(s.dag.c.is_paused == paused)
        if active is not None:
            query = query.where(s.dag.c.is_active == active)
        if tags:
            tagged = sa.select(s.dag_tag.c.dag_id).where(s.dag_tag.c.name.in_(list(tags)))
            query = query.where(s.dag.c.dag_id.in_(tagged))
        if dag_id_pattern:
            query = query.where(s.dag.c.dag_id.ilike(f"%{dag_id_pattern}%"))
        order = self._order(s.dag, order_by, DAG_ORDER, "dag_id")
        with self._read() as conn:
            page = self._page(conn, query, order, limit, offset, lambda row: row)
            tags_by_id = self._tags_for(conn, [row.dag_id for row in page.items])
        return Page(
            items=[_dag(row, tags_by_id[row.dag_id]) for row in page.items], total=page.total
        )

    def list_dag_tags(
        self,
        *,
        name_pattern: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
        descending: bool = False,
    ) -> Page[str]:
        name = s.dag_tag.c.name
        query = sa.select(name).distinct()
        if name_pattern:
            query = query.where(name.ilike(f"%{name_pattern}%"))
        order = [name.desc() if descending else name.asc()]
        with self._read() as conn:
            return self._page(conn, query, order, limit, offset, lambda row: str(row.name))

    def set_dag_paused(self, dag_id: str, paused: bool) -> Dag:
        with self._write() as conn:
            done = conn.execute(
                s.dag.update().where(s.dag.c.dag_id == dag_id).values(is_paused=paused)
            )
            if done.rowcount == 0:
                raise NotFoundError(f"DAG {dag_id!r} does not exist")
        found = self.get_dag(dag_id)
        assert found is not None
        return found

    def set_dag_next_run(self, dag_id: str, next_run: NextRun) -> None:
        values = _next_run_values(next_run)
        with self._write() as conn:
            done = conn.execute(s.dag.update().where(s.dag.c.dag_id == dag_id).values(**values))
            if done.rowcount == 0:
                raise NotFoundError(f"DAG {dag_id!r} does not exist")

    def deactivate_dags(self, dag_ids: Collection[str]) -> None:
        with self._write() as conn:
            for ids in chunks(sorted(dag_ids)):
                conn.execute(s.dag.update().where(s.dag.c.dag_id.in_(ids)).values(is_active=False))

    def deactivate_missing_dags(self, existing_files: Collection[str]) -> list[str]:
        keep = set(existing_files)
        with self._write() as conn:
            rows = conn.execute(
                sa.select(s.dag.c.dag_id, s.dag.c.fileloc).where(s.dag.c.is_active == sa.true())
            )
            gone = sorted(dag_id for dag_id, fileloc in rows if fileloc not in keep)
            for ids in chunks(gone):
                conn.execute(s.dag.update().where(s.dag.c.dag_id.in_(ids)).values(is_active=False))
        return gone

    # -- DAG versions ---------------------------------------------------------------

    def add_dag_version(
        self,
        dag_id: str,
        serialized: Mapping[str, Any],
        content_hash: str,
        source_code: str | None,
    ) -> DagVersion:
        check_json(serialized, f"the serialized DAG {dag_id!r}")
        with self._write() as conn:
            # Lock the DAG row: concurrent writers of one DAG number versions in turn.
            locked = conn.execute(
                sa.select(s.dag.c.dag_id).where(s.dag.c.dag_id == dag_id).with_for_update()
            ).first()
            if locked is None:
                raise NotFoundError(f"DAG {dag_id!r} does not exist: upsert it before versions")
            latest = conn.execute(
                sa.select(s.dag_version)
                .where(s.dag_version.c.dag_id == dag_id)
                .order_by(s.dag_version.c.version_number.desc())
                .limit(1)
            ).first()
            if latest is not None and latest.content_hash == content_hash:
                return _version(latest)
            number = 1 if latest is None else latest.version_number + 1
            inserted = conn.execute(
                s.dag_version.insert().values(
                    dag_id=dag_id,
                    version_number=number,
                    content_hash=content_hash,
                    serialized=dict(serialized),
                    source_code=source_code,
                    created_at=utcnow(),
                )
            )
            version_id = inserted_id(inserted)
            row = conn.execute(sa.select(s.dag_version).where(s.dag_version.c.id == version_id))
            return _version(row.one())

    def get_dag_version(self, dag_id: str, version_number: int | None = None) -> DagVersion | None:
        query = sa.select(s.dag_version).where(s.dag_version.c.dag_id == dag_id)
        if version_number is None:
            query = query.order_by(s.dag_version.c.version_number.desc()).limit(1)
        else:
            query = query.where(s.dag_version.c.version_number == version_number)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _version(row)

    def get_dag_version_by_id(self, version_id: int) -> DagVersion | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(s.dag_version).where(s.dag_version.c.id == version_id)
            ).first()
        return None if row is None else _version(row)

    def list_dag_versions(self, dag_id: str) -> list[DagVersion]:
        query = (
            sa.select(s.dag_version)
            .where(s.dag_version.c.dag_id == dag_id)
            .order_by(s.dag_version.c.version_number)
        )
        with self._read() as conn:
            return [_version(row) for row in conn.execute(query)]

    def find_dag_versions(
        self,
        *,
        dag_ids: Collection[str] = (),
        version_number: int | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "id",
    ) -> Page[DagVersion]:
        t = s.dag_version
        query = sa.select(t)
        if dag_ids:
            query = query.where(t.c.dag_id.in_(list(dag_ids)))
        if version_number is not None:
            query = query.where(t.c.version_number == version_number)
        order = self._order(t, order_by, VERSION_ORDER, "id")
        with self._read() as conn:
            return self._page(conn, query, order, limit, offset, _version)

    # -- parse records and import errors ----------------------------------------------

    def record_file_parses(self, parses: Iterable[DagFileParse]) -> None:
        parses = list(parses)
        for parse in parses:
            check_aware(parse.last_parsed_at, "last_parsed_at")
        rows = {
            parse.path: {
                "path": parse.path,
                "mtime": parse.mtime,
                "content_hash": parse.content_hash,
                "last_parsed_at": parse.last_parsed_at,
                "parse_duration": parse.parse_duration,
                "dag_ids": list(parse.dag_ids),
            }
            for parse in parses
        }
        if not rows:
            return
        with self._write() as conn:
            for paths in chunks(list(rows)):
                conn.execute(s.dag_file_parse.delete().where(s.dag_file_parse.c.path.in_(paths)))
            conn.execute(s.dag_file_parse.insert(), list(rows.values()))

    def list_file_parses(self, *, limit: int | None = None) -> list[DagFileParse]:
        t = s.dag_file_parse
        query = sa.select(t).order_by(t.c.parse_duration.desc(), t.c.path).limit(limit)
        with self._read() as conn:
            return [
                DagFileParse(
                    path=row.path,
                    mtime=row.mtime,
                    content_hash=row.content_hash,
                    last_parsed_at=row.last_parsed_at,
                    parse_duration=row.parse_duration,
                    dag_ids=row.dag_ids,
                )
                for row in conn.execute(query)
            ]

    def delete_file_parses(self, paths: Collection[str]) -> None:
        with self._write() as conn:
            for chunk in chunks(sorted(paths)):
                conn.execute(s.dag_file_parse.delete().where(s.dag_file_parse.c.path.in_(chunk)))

    def replace_import_error(self, filename: str, stacktrace: str, when: datetime) -> None:
        check_aware(when, "when")
        with self._write() as conn:
            conn.execute(s.import_error.delete().where(s.import_error.c.filename == filename))
            conn.execute(
                s.import_error.insert().values(
                    filename=filename, stacktrace=stacktrace, timestamp=when
                )
            )

    def clear_import_errors(self, filenames: Collection[str]) -> None:
        with self._write() as conn:
            for chunk in chunks(sorted(filenames)):
                conn.execute(s.import_error.delete().where(s.import_error.c.filename.in_(chunk)))

    def list_import_errors(
        self, *, limit: int | None = 100, offset: int = 0, order_by: str = "filename"
    ) -> Page[DagImportError]:
        order = self._order(s.import_error, order_by, IMPORT_ERROR_ORDER, "id")
        with self._read() as conn:
            return self._page(
                conn,
                sa.select(s.import_error),
                order,
                limit,
                offset,
                _import_error,
            )

    def get_import_error(self, import_error_id: int) -> DagImportError | None:
        with self._read() as conn:
            row = conn.execute(
                sa.select(s.import_error).where(s.import_error.c.id == import_error_id)
            ).first()
        return None if row is None else _import_error(row)
