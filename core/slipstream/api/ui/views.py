"""What the UI's pages and JSON endpoints show, read from the store: plain records that
the templates draw and the polling endpoints send. No HTTP here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Dag, DagRun, DagVersion, TaskInstance
from slipstream.serialized_dag import SerializedDag, deserialize_dag
from slipstream.state import DagRunState
from slipstream.state import TaskInstanceState as TIS

RECENT_RUNS = 10  # dots per DAG on the DAG list
DEFAULT_GRID_RUNS = 25
MAX_GRID_RUNS = 100
ACTIVE_RUN_STATES = (DagRunState.QUEUED, DagRunState.RUNNING)

# When a mapped task's instances differ, the cell shows the one that matters most.
_STATE_WEIGHT = {
    TIS.RUNNING: 0,
    TIS.RESTARTING: 1,
    TIS.QUEUED: 2,
    TIS.UP_FOR_RETRY: 3,
    TIS.UP_FOR_RESCHEDULE: 4,
    TIS.FAILED: 5,
    TIS.UPSTREAM_FAILED: 6,
    TIS.SCHEDULED: 7,
    TIS.NONE: 8,
    TIS.SKIPPED: 9,
    TIS.SUCCESS: 10,
    TIS.REMOVED: 11,
}


def fmt_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def run_duration(run: DagRun) -> float | None:
    if run.start_date and run.end_date:
        return (run.end_date - run.start_date).total_seconds()
    return None


def summarize_states(states: Iterable[TIS]) -> TIS | None:
    ordered = sorted(states, key=lambda s: _STATE_WEIGHT.get(s, 99))
    return ordered[0] if ordered else None


# -- DAG list -------------------------------------------------------------------------


@attrs.frozen
class DagRow:
    dag: Dag
    recent_runs: tuple[DagRun, ...]  # oldest first

    @property
    def last_run(self) -> DagRun | None:
        return self.recent_runs[-1] if self.recent_runs else None


def recent_runs(store: MetadataStore, dag_id: str, count: int = RECENT_RUNS) -> tuple[DagRun, ...]:
    runs = store.list_dag_runs(dag_ids=[dag_id], order_by="-id", limit=count).items
    return tuple(reversed(runs))


def dag_rows(store: MetadataStore, dags: Iterable[Dag]) -> list[DagRow]:
    return [DagRow(dag=dag, recent_runs=recent_runs(store, dag.dag_id)) for dag in dags]


def all_tags(store: MetadataStore) -> list[str]:
    tags: set[str] = set()
    for dag in store.list_dags(limit=None).items:
        tags.update(dag.tags)
    return sorted(tags)


def run_json(run: DagRun) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "state": run.state.value,
        "run_type": run.run_type.value,
        "logical_date": fmt_time(run.logical_date),
    }


def dag_status(store: MetadataStore, dag_ids: Sequence[str]) -> dict[str, Any]:
    """Recent runs of each DAG: what the DAG list polls while a run is active."""
    out: dict[str, Any] = {}
    for dag_id in dag_ids:
        dag = store.get_dag(dag_id)
        if dag is None:
            continue
        runs = recent_runs(store, dag_id)
        out[dag_id] = {
            "is_paused": dag.is_paused,
            "runs": [run_json(r) for r in runs],
            "last_state": runs[-1].state.value if runs else None,
            "next_run": fmt_time(dag.next_run.logical_date),
        }
    return out


# -- One DAG ---------------------------------------------------------------------------


def latest_sdag(store: MetadataStore, dag_id: str) -> tuple[DagVersion, SerializedDag] | None:
    version = store.get_dag_version(dag_id)
    if version is None:
        return None
    return version, deserialize_dag(version.serialized)


def version_numbers(store: MetadataStore, dag_id: str) -> dict[int, int]:
    """Version id → version number, for showing which version each run used."""
    return {v.id: v.version_number for v in store.list_dag_versions(dag_id)}


@attrs.frozen
class GridCell:
    state: str  # a TaskInstanceState value; "" when the run has no such task
    count: int  # task instances behind the cell (mapped tasks have several)
    try_number: int


@attrs.frozen
class GridRow:
    task_id: str
    operator: str
    group_depth: int
    cells: tuple[GridCell, ...]


@attrs.frozen
class Grid:
    runs: tuple[DagRun, ...]  # oldest first
    rows: tuple[GridRow, ...]
    versions: Mapping[int, int]

    @property
    def active(self) -> bool:
        return any(run.state in ACTIVE_RUN_STATES for run in self.runs)


def cell_states(tis: Iterable[TaskInstance]) -> dict[tuple[str, str], GridCell]:
    """(run_id, task_id) → the cell for it, mapped instances folded into one."""
    grouped: dict[tuple[str, str], list[TaskInstance]] = {}
    for ti in tis:
        if ti.state == TIS.REMOVED and ti.map_index < 0:
            continue
        grouped.setdefault((ti.run_id, ti.task_id), []).append(ti)
    cells = {}
    for key, items in grouped.items():
        state = summarize_states(ti.state for ti in items)
        cells[key] = GridCell(
            state=state.value if state else "",
            count=len(items),
            try_number=max(ti.try_number for ti in items),
        )
    return cells


def task_order(sdag: SerializedDag | None, extra: Iterable[str] = ()) -> list[str]:
    order = list(sdag.tasks) if sdag is not None else []
    known = set(order)
    for task_id in extra:
        if task_id not in known:
            order.append(task_id)
            known.add(task_id)
    return order


def build_grid(store: MetadataStore, dag_id: str, run_count: int = DEFAULT_GRID_RUNS) -> Grid:
    runs = tuple(
        reversed(
            store.list_dag_runs(
                dag_ids=[dag_id], order_by="-id", limit=max(1, min(run_count, MAX_GRID_RUNS))
            ).items
        )
    )
    tis = (
        store.list_task_instances(
            dag_ids=[dag_id], run_ids=[r.run_id for r in runs], limit=None
        ).items
        if runs
        else ()
    )
    cells = cell_states(tis)
    latest = latest_sdag(store, dag_id)
    sdag = latest[1] if latest else None
    order = task_order(sdag, (ti.task_id for ti in tis))
    rows = []
    empty = GridCell(state="", count=0, try_number=0)
    for task_id in order:
        task = sdag.tasks.get(task_id) if sdag is not None else None
        group = (task.data.get("task_group") or "") if task is not None else ""
        rows.append(
            GridRow(
                task_id=task_id,
                operator=str(task.data.get("operator", "")) if task is not None else "",
                group_depth=group.count(".") + 1 if group else 0,
                cells=tuple(cells.get((run.run_id, task_id), empty) for run in runs),
            )
        )
    return Grid(runs=runs, rows=tuple(rows), versions=version_numbers(store, dag_id))


def grid_status(store: MetadataStore, dag_id: str, run_ids: Sequence[str]) -> dict[str, Any]:
    """The grid's poll: the newest run ids and states, and the task states of ``run_ids``."""
    runs = store.list_dag_runs(dag_ids=[dag_id], order_by="-id", limit=MAX_GRID_RUNS).items
    wanted = [r for r in run_ids if r]
    tis = (
        store.list_task_instances(dag_ids=[dag_id], run_ids=wanted, limit=None).items
        if wanted
        else ()
    )
    cells = cell_states(tis)
    states: dict[str, dict[str, Any]] = {run_id: {} for run_id in wanted}
    for (run_id, task_id), cell in cells.items():
        states.setdefault(run_id, {})[task_id] = {"state": cell.state, "count": cell.count}
    return {
        "runs": [run_json(r) for r in reversed(runs)],
        "tis": states,
        "active": any(r.state in ACTIVE_RUN_STATES for r in runs),
    }


# -- Trigger form ------------------------------------------------------------------------


@attrs.frozen
class ParamField:
    """One input of the trigger form, from a DAG param's JSON Schema."""

    name: str
    kind: str  # text, number, integer, checkbox, select, date, datetime, time, json, textarea
    title: str
    description: str | None
    default: Any
    has_default: bool
    nullable: bool
    schema: Mapping[str, Any]
    options: tuple[tuple[str, str], ...] = ()  # (value as JSON, label) for select

    @property
    def required(self) -> bool:
        return not self.has_default and not self.nullable

    @property
    def default_text(self) -> str:
        """The default as the input shows it."""
        import json

        if not self.has_default or self.default is None:
            return ""
        if self.kind in ("json", "select"):
            return json.dumps(self.default)
        if self.kind == "datetime" and isinstance(self.default, str):
            return self.default[:16]
        return str(self.default)


def param_fields(params: Mapping[str, Mapping[str, Any]]) -> list[ParamField]:
    import json

    fields = []
    for name, spec in params.items():
        schema: dict[str, Any] = dict(spec.get("schema") or {})
        declared = schema.get("type")
        types = declared if isinstance(declared, list) else [declared] if declared else []
        nullable = "null" in types
        main = next((t for t in types if t != "null"), None)
        fmt = schema.get("format")
        options: tuple[tuple[str, str], ...] = ()
        if "enum" in schema:
            kind = "select"
            display = schema.get("values_display") or {}
            options = tuple((json.dumps(v), str(display.get(str(v), v))) for v in schema["enum"])
        elif main == "boolean":
            kind = "checkbox"
        elif main in ("integer", "number"):
            kind = main
        elif main == "string" and fmt == "date":
            kind = "date"
        elif main == "string" and fmt == "date-time":
            kind = "datetime"
        elif main == "string" and fmt == "time":
            kind = "time"
        elif main == "string":
            kind = "textarea" if fmt == "multiline" else "text"
        else:
            kind = "json"
        fields.append(
            ParamField(
                name=name,
                kind=kind,
                title=str(schema.get("title") or name),
                description=spec.get("description") or schema.get("description"),
                default=spec.get("default"),
                has_default=bool(spec.get("has_default", True)),
                nullable=nullable,
                schema=schema,
                options=options,
            )
        )
    return fields


def param_errors(sdag: SerializedDag, conf: Mapping[str, Any]) -> dict[str, str]:
    """Each param's complaint about ``conf`` (empty when every value is valid)."""
    from slipstream.exceptions import ParamValidationError

    params = sdag.params
    errors = {}
    for name in params:
        try:
            if name in conf:
                params.get_param(name).resolve(conf[name], name)
            else:
                params.get_param(name).resolve(name=name)
        except ParamValidationError as exc:
            errors[name] = str(exc)
    return errors
