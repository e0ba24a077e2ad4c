"""Small builders shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from slipstream.config import load
from slipstream.metadata import open_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import DagMetadata, DagRun, NewDagRun, NewTaskInstance
from slipstream.metadata.sqlalchemy import SqlAlchemyStore
from slipstream.state import DagRunState, DagRunType

T0 = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def dag_meta(dag_id: str = "etl", **kwargs: object) -> DagMetadata:
    values: dict[str, object] = {
        "fileloc": f"/dags/{dag_id}.py",
        "relative_fileloc": f"{dag_id}.py",
        "last_parsed_time": T0,
    }
    values.update(kwargs)
    return DagMetadata(dag_id=dag_id, **values)  # type: ignore[arg-type]


def new_run(
    store: MetadataStore,
    dag_id: str = "etl",
    run_id: str = "manual__1",
    *,
    day: int = 0,
    state: DagRunState = DagRunState.QUEUED,
    tasks: tuple[str, ...] = (),
    **kwargs: object,
) -> DagRun:
    """A run (creating its DAG when needed), with task instances for ``tasks``."""
    if store.get_dag(dag_id) is None:
        store.upsert_dags([dag_meta(dag_id)])
    logical = T0 + timedelta(days=day)
    values: dict[str, object] = {
        "logical_date": logical,
        "data_interval_start": logical - timedelta(days=1),
        "data_interval_end": logical,
        "run_after": logical,
    }
    values.update(kwargs)
    run = store.create_dag_run(
        NewDagRun(
            dag_id=dag_id,
            run_id=run_id,
            run_type=DagRunType.MANUAL,
            state=state,
            **values,  # type: ignore[arg-type]
        )
    )
    if tasks:
        store.create_task_instances(dag_id, run_id, [NewTaskInstance(task_id=t) for t in tasks])
    return run


def make_store(url: str, home: Path, **overrides: object) -> SqlAlchemyStore:
    """A store built the way slipstream builds it: config -> plugin -> factory."""
    config, manager = load(
        cwd=home,
        environ={"SLIPSTREAM_HOME": str(home)},
        overrides={"core.metadata": url, "core.executor": "sequential", **overrides},
        load_entrypoints=False,
    )
    store = open_store(config, manager)
    assert isinstance(store, SqlAlchemyStore)
    return store
