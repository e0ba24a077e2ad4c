"""A metadata store that is a slipstream REST API elsewhere.

The CLI's commands are written against the store interface; with an API URL set,
``cli_store()`` hands them this object instead, so a command prints the same rows
whether it reads the database or the server. Only what the CLI uses is here; the
rest says clearly that it is not available remotely.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from datetime import UTC, datetime
from typing import Any

from slipstream.cli.remote import ApiClient, ApiError, path
from slipstream.errors import NotFoundError
from slipstream.metadata.base import MetadataStore, SchemaStatus
from slipstream.metadata.records import (
    Connection,
    Dag,
    DagImportError,
    DagRun,
    DagVersion,
    NextRun,
    Page,
    Pool,
    TaskInstance,
    User,
    Variable,
)
from slipstream.state import DagRunState, DagRunType, TaskInstanceState

PAGE = 100  # the server's largest page


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ApiStore(MetadataStore):
    def __init__(self, client: ApiClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def check(self) -> SchemaStatus:
        return SchemaStatus(ok=True, current=None, head="", message="served by the API")

    def _get(self, *segments: str, what: str, params: Any = None) -> Any:
        return self.client.request("GET", path(*segments), params=params, what=what)

    def _maybe(self, *segments: str, what: str) -> Any:
        try:
            return self._get(*segments, what=what)
        except ApiError as exc:
            if "was not found" in exc.message:
                return None
            raise

    def _pages(self, *segments: str, key: str, what: str, params: Any = None) -> Iterator[Any]:
        offset = 0
        while True:
            body = self._get(
                *segments, what=what, params={**(params or {}), "limit": PAGE, "offset": offset}
            )
            items = body[key]
            yield from items
            offset += len(items)
            if not items or offset >= body["total_entries"]:
                return

    # -- DAGs --------------------------------------------------------------------------

    @staticmethod
    def dag_from_json(body: dict[str, Any]) -> Dag:
        return Dag(
            dag_id=body["dag_id"],
            fileloc=body["fileloc"],
            relative_fileloc=body.get("relative_fileloc"),
            owners=body.get("owners") or (),
            tags=[tag["name"] for tag in body.get("tags") or ()],
            description=body.get("description"),
            schedule=body.get("timetable_summary"),
            is_paused=body["is_paused"],
            is_active=not body.get("is_stale", False),
            max_active_runs=body.get("max_active_runs") or 16,
            max_active_tasks=body.get("max_active_tasks") or 16,
            last_parsed_time=_when(body.get("last_parsed_time")),
            next_run=NextRun(
                logical_date=_when(body.get("next_dagrun_logical_date")),
                data_interval_start=_when(body.get("next_dagrun_data_interval_start")),
                data_interval_end=_when(body.get("next_dagrun_data_interval_end")),
                create_after=_when(body.get("next_dagrun_run_after")),
            ),
        )

    def get_dag(self, dag_id: str) -> Dag | None:
        body = self._maybe("dags", dag_id, what=f"DAG {dag_id!r}")
        return self.dag_from_json(body) if body else None

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
        params: dict[str, Any] = {"order_by": order_by, "exclude_stale": active is True}
        if paused is not None:
            params["paused"] = paused
        if tags:
            params["tags"] = list(tags)
        if dag_id_pattern:
            params["dag_id_pattern"] = dag_id_pattern
        dags = [
            self.dag_from_json(b)
            for b in self._pages("dags", key="dags", what="DAGs", params=params)
        ]
        if scheduled is not None:  # the API has no such filter
            dags = [d for d in dags if (d.schedule not in (None, "None")) == scheduled]
        return Page(items=dags[offset : None if limit is None else offset + limit], total=len(dags))

    def set_dag_paused(self, dag_id: str, paused: bool) -> Dag:
        body = self.client.request(
            "PATCH", path("dags", dag_id), json_body={"is_paused": paused}, what=f"DAG {dag_id!r}"
        )
        return self.dag_from_json(body)

    def serialized_dag(self, dag_id: str) -> dict[str, Any]:
        """The latest serialized form of the DAG (slipstream's own route)."""
        body = self._get("dags", dag_id, "serialized", what=f"DAG {dag_id!r}")
        serialized: dict[str, Any] = body["serialized"]
        return serialized

    def list_dag_versions(self, dag_id: str) -> list[DagVersion]:
        versions = []
        for body in self._pages(
            "dags", dag_id, "dagVersions", key="dag_versions", what=f"DAG {dag_id!r}"
        ):
            number = body["version_number"]
            serialized = self._get(
                "dags",
                dag_id,
                "serialized",
                what=f"version {number} of DAG {dag_id!r}",
                params={"version_number": number},
            )["serialized"]
            versions.append(
                DagVersion(
                    id=0,
                    dag_id=body["dag_id"],
                    version_number=number,
                    content_hash=body.get("content_hash") or "",
                    serialized=serialized,
                    source_code=None,
                    created_at=_when(body["created_at"]) or datetime.now(UTC),
                )
            )
        return sorted(versions, key=lambda v: v.version_number)

    def list_import_errors(
        self, *, limit: int | None = 100, offset: int = 0, order_by: str = "filename"
    ) -> Page[DagImportError]:
        errors = [
            DagImportError(
                id=body["import_error_id"],
                filename=body["filename"],
                stacktrace=body["stack_trace"],
                timestamp=_when(body["timestamp"]) or datetime.now(UTC),
            )
            for body in self._pages(
                "importErrors",
                key="import_errors",
                what="import errors",
                params={"order_by": order_by},
            )
        ]
        end = None if limit is None else offset + limit
        return Page(items=errors[offset:end], total=len(errors))

    # -- runs and task instances -------------------------------------------------------------

    @staticmethod
    def run_from_json(body: dict[str, Any]) -> DagRun:
        return DagRun(
            id=0,
            dag_id=body["dag_id"],
            run_id=body["dag_run_id"],
            run_type=DagRunType(body["run_type"]),
            state=DagRunState(body["state"]),
            logical_date=_when(body.get("logical_date")),
            data_interval_start=_when(body.get("data_interval_start")),
            data_interval_end=_when(body.get("data_interval_end")),
            run_after=_when(body.get("run_after")) or datetime.now(UTC),
            conf=body.get("conf") or {},
            dag_version_id=None,
            triggered_by=body.get("triggered_by"),
            backfill_id=None,
            queued_at=_when(body.get("queued_at")),
            start_date=_when(body.get("start_date")),
            end_date=_when(body.get("end_date")),
            created_at=_when(body.get("run_after")) or datetime.now(UTC),
        )

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRun | None:
        body = self._maybe("dags", dag_id, "dagRuns", run_id, what=f"run {run_id!r}")
        return self.run_from_json(body) if body else None

    def list_dag_runs(
        self,
        *,
        dag_ids: Collection[str] = (),
        states: Collection[DagRunState] = (),
        run_types: Collection[str] = (),
        logical_date_gte: datetime | None = None,
        logical_date_lte: datetime | None = None,
        run_after_gte: datetime | None = None,
        run_after_lte: datetime | None = None,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "id",
    ) -> Page[DagRun]:
        params: dict[str, Any] = {"limit": min(limit or PAGE, PAGE)}
        if order_by != "id":
            params["order_by"] = order_by
        if states:
            params["state"] = [str(s) for s in states]
        if run_types:
            params["run_type"] = list(run_types)
        for name, value in (
            ("logical_date_gte", logical_date_gte),
            ("logical_date_lte", logical_date_lte),
            ("run_after_gte", run_after_gte),
            ("run_after_lte", run_after_lte),
            ("start_date_gte", start_date_gte),
            ("start_date_lte", start_date_lte),
            ("end_date_gte", end_date_gte),
            ("end_date_lte", end_date_lte),
        ):
            if value is not None:
                params[name] = value.isoformat()
        dag_id = next(iter(dag_ids)) if len(dag_ids) == 1 else "~"
        params["offset"] = offset
        body = self._get("dags", dag_id, "dagRuns", what=f"DAG {dag_id!r}", params=params)
        return Page(
            items=[self.run_from_json(b) for b in body["dag_runs"]], total=body["total_entries"]
        )

    @staticmethod
    def ti_from_json(body: dict[str, Any]) -> TaskInstance:
        return TaskInstance(
            id=0,
            dag_id=body["dag_id"],
            run_id=body["dag_run_id"],
            task_id=body["task_id"],
            map_index=body["map_index"],
            try_number=body["try_number"],
            max_tries=body["max_tries"],
            state=TaskInstanceState(body.get("state") or "none"),
            start_date=_when(body.get("start_date")),
            end_date=_when(body.get("end_date")),
            duration=body.get("duration"),
            queued_at=_when(body.get("queued_when")),
            scheduled_at=_when(body.get("scheduled_when")),
            hostname=body.get("hostname") or None,
            pid=body.get("pid"),
            executor=body.get("executor"),
            pool=body["pool"],
            pool_slots=body["pool_slots"],
            queue=body.get("queue") or "default",
            priority_weight=body.get("priority_weight") or 1,
            operator=body.get("operator"),
            next_retry_at=None,
            reschedule_at=None,
            last_heartbeat_at=None,
            dag_version_id=None,
            rendered_fields=body.get("rendered_fields"),
            external_executor_id=None,
            lease_owner=None,
            updated_at=datetime.now(UTC),
        )

    def list_task_instances(
        self,
        *,
        dag_ids: Collection[str] = (),
        run_ids: Collection[str] = (),
        task_ids: Collection[str] = (),
        states: Collection[TaskInstanceState] = (),
        pools: Collection[str] = (),
        queues: Collection[str] = (),
        executors: Collection[str] = (),
        map_indexes: Collection[int] = (),
        mapped: bool | None = None,
        placeholders: bool = True,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        duration_gte: float | None = None,
        duration_lte: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        order_by: str = "id",
        with_total: bool = True,
    ) -> Page[TaskInstance]:
        """The API never lists the placeholders of expanded mapped tasks (as Airflow).
        ``with_total`` changes nothing here: every page is read anyway."""
        params: dict[str, Any] = {} if order_by == "id" else {"order_by": order_by}
        for name, values in (
            ("task_id", task_ids),
            ("state", [str(s) for s in states]),
            ("pool", pools),
            ("queue", queues),
            ("executor", executors),
            ("map_index", map_indexes),
        ):
            if values:
                params[name] = list(values)
        for name, value in (
            ("start_date_gte", start_date_gte),
            ("start_date_lte", start_date_lte),
            ("end_date_gte", end_date_gte),
            ("end_date_lte", end_date_lte),
        ):
            if value is not None:
                params[name] = value.isoformat()
        if duration_gte is not None:
            params["duration_gte"] = duration_gte
        if duration_lte is not None:
            params["duration_lte"] = duration_lte
        dag_id = next(iter(dag_ids)) if len(dag_ids) == 1 else "~"
        run_id = next(iter(run_ids)) if len(run_ids) == 1 else "~"
        tis = [
            self.ti_from_json(body)
            for body in self._pages(
                "dags",
                dag_id,
                "dagRuns",
                run_id,
                "taskInstances",
                key="task_instances",
                what=f"run {run_id!r} of DAG {dag_id!r}",
                params=params,
            )
        ]
        end = None if limit is None else offset + limit
        return Page(items=tis[offset:end], total=len(tis))

    # -- variables, connections, pools, users -----------------------------------------------

    def get_variable(self, key: str) -> Variable | None:
        body = self._maybe("variables", key, what=f"variable {key!r}")
        if body is None:
            return None
        return Variable(key=body["key"], value=body["value"], description=body.get("description"))

    def list_variables(self, *, limit: int | None = None, offset: int = 0) -> Page[Variable]:
        items = [
            Variable(key=b["key"], value=b["value"], description=b.get("description"))
            for b in self._pages("variables", key="variables", what="variables")
        ]
        end = None if limit is None else offset + limit
        return Page(items=items[offset:end], total=len(items))

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        body = {"key": key, "value": value, "description": description}
        if self.get_variable(key) is None:
            self.client.request("POST", path("variables"), json_body=body)
        else:
            self.client.request("PATCH", path("variables", key), json_body=body)

    def delete_variable(self, key: str) -> None:
        self._delete("variables", key, what=f"variable {key!r}")

    def _delete(self, *segments: str, what: str) -> None:
        try:
            self.client.request("DELETE", path(*segments), what=what)
        except ApiError as exc:
            if "was not found" in exc.message:
                raise NotFoundError(f"{what} does not exist") from None
            raise

    @staticmethod
    def connection_from_json(body: dict[str, Any]) -> Connection:
        extra = body.get("extra")
        try:
            extra_value = json.loads(extra) if isinstance(extra, str) and extra else extra or {}
        except ValueError:
            extra_value = {}
        return Connection(
            conn_id=body["connection_id"],
            conn_type=body["conn_type"],
            host=body.get("host"),
            schema=body.get("schema"),
            login=body.get("login"),
            password=body.get("password"),
            port=body.get("port"),
            extra=extra_value if isinstance(extra_value, dict) else {},
            description=body.get("description"),
        )

    def get_connection(self, conn_id: str) -> Connection | None:
        body = self._maybe("connections", conn_id, what=f"connection {conn_id!r}")
        return self.connection_from_json(body) if body else None

    def list_connections(self, *, limit: int | None = None, offset: int = 0) -> Page[Connection]:
        items = [
            self.connection_from_json(b)
            for b in self._pages("connections", key="connections", what="connections")
        ]
        end = None if limit is None else offset + limit
        return Page(items=items[offset:end], total=len(items))

    def set_connection(self, conn: Connection) -> None:
        body = {
            "connection_id": conn.conn_id,
            "conn_type": conn.conn_type,
            "host": conn.host,
            "schema": conn.schema,
            "login": conn.login,
            "password": conn.password,
            "port": conn.port,
            "extra": json.dumps(conn.extra) if conn.extra else None,
            "description": conn.description,
        }
        if self.get_connection(conn.conn_id) is None:
            self.client.request("POST", path("connections"), json_body=body)
        else:
            self.client.request("PATCH", path("connections", conn.conn_id), json_body=body)

    def delete_connection(self, conn_id: str) -> None:
        self._delete("connections", conn_id, what=f"connection {conn_id!r}")

    @staticmethod
    def pool_from_json(body: dict[str, Any]) -> Pool:
        return Pool(
            name=body["name"],
            slots=body["slots"],
            description=body.get("description"),
            occupied_slots=body.get("occupied_slots", 0),
            running_slots=body.get("running_slots", 0),
            queued_slots=body.get("queued_slots", 0),
            scheduled_slots=body.get("scheduled_slots", 0),
        )

    def get_pool(self, name: str) -> Pool | None:
        body = self._maybe("pools", name, what=f"pool {name!r}")
        return self.pool_from_json(body) if body else None

    def list_pools(self, *, scheduled: bool = True) -> list[Pool]:
        return [self.pool_from_json(b) for b in self._pages("pools", key="pools", what="pools")]

    def set_pool(self, name: str, slots: int, *, description: str | None = None) -> Pool:
        body = {"name": name, "slots": slots, "description": description}
        if self.get_pool(name) is None:
            answer = self.client.request("POST", path("pools"), json_body=body)
        else:
            answer = self.client.request("PATCH", path("pools", name), json_body=body)
        return self.pool_from_json(answer)

    def delete_pool(self, name: str) -> None:
        self._delete("pools", name, what=f"pool {name!r}")

    @staticmethod
    def user_from_json(body: dict[str, Any]) -> User:
        return User(
            id=0,
            username=body["username"],
            role=body["role"],
            password_hash="",
            email=body.get("email"),
            active=body.get("active", True),
            created_at=_when(body.get("created_at")) or datetime.now(UTC),
            last_login=_when(body.get("last_login")),
        )

    def get_user(self, username: str) -> User | None:
        body = self._maybe("users", username, what=f"user {username!r}")
        return self.user_from_json(body) if body else None

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> Page[User]:
        items = [self.user_from_json(b) for b in self._pages("users", key="users", what="users")]
        end = None if limit is None else offset + limit
        return Page(items=items[offset:end], total=len(items))

    def create_user_with_password(
        self, username: str, *, role: str, email: str | None, password: str
    ) -> None:
        """Users are created by the server, which hashes the password itself."""
        body = {"username": username, "role": role, "email": email, "password": password}
        self.client.request("POST", path("users"), json_body=body)

    def set_user_password(self, username: str, password: str) -> None:
        self.client.request(
            "PATCH",
            path("users", username),
            json_body={"password": password},
            what=f"user {username!r}",
        )

    def delete_user(self, username: str) -> None:
        self._delete("users", username, what=f"user {username!r}")
