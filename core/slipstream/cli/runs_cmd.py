"""DAG and run state from the metadata store: ``dags pause|unpause|list-runs`` and
``tasks states-for-dag-run``.

Unlike ``dags list`` (which parses the DAGs folder), these read what the store
knows, so a DAG appears here once the dag processor has recorded it. They are
attached to the ``dags`` and ``tasks`` groups in ``slipstream.plugins.builtins.cli``.
"""

from __future__ import annotations

from typing import Any

import click

from slipstream.cli.crud_helpers import fail, iso
from slipstream.cli.output import emit, output_option
from slipstream.cli.store_access import cli_store
from slipstream.metadata.base import MetadataStore
from slipstream.metadata.records import Dag, DagRun, TaskInstance
from slipstream.state import DagRunState

RUN_COLUMNS = ["run_id", "state", "run_type", "logical_date", "start_date", "end_date"]
TI_COLUMNS = ["task_id", "map_index", "state", "try_number", "start_date", "end_date"]


# -- what the commands do (the REST API mode will call the server instead) ------------


def known_dag(store: MetadataStore, dag_id: str) -> Dag:
    dag = store.get_dag(dag_id)
    if dag is None:
        fail(
            f"DAG {dag_id!r} is not in the metadata database "
            "(a DAG is recorded there once the dag processor has parsed its file)"
        )
    return dag


def set_paused(store: MetadataStore, dag_id: str, paused: bool) -> dict[str, Any]:
    known_dag(store, dag_id)
    dag = store.set_dag_paused(dag_id, paused)
    return {"dag_id": dag.dag_id, "is_paused": dag.is_paused}


def run_record(run: DagRun) -> dict[str, Any]:
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state.value,
        "run_type": run.run_type.value,
        "logical_date": iso(run.logical_date),
        "start_date": iso(run.start_date),
        "end_date": iso(run.end_date),
        "data_interval_start": iso(run.data_interval_start),
        "data_interval_end": iso(run.data_interval_end),
        "run_after": iso(run.run_after),
    }


def run_records(
    store: MetadataStore, dag_id: str, state: str | None, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """The DAG's runs, newest first (by ``run_after``: a manual run may have no
    logical date), and how many match in all."""
    known_dag(store, dag_id)
    page = store.list_dag_runs(
        dag_ids=[dag_id],
        states=[DagRunState(state)] if state else [],
        limit=limit,
        order_by="-run_after",
    )
    return [run_record(run) for run in page.items], page.total


def ti_record(ti: TaskInstance) -> dict[str, Any]:
    """The four keys scripts rely on first (issue 5), then the useful rest."""
    return {
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "state": ti.state.value,
        "try_number": ti.try_number,
        "start_date": iso(ti.start_date),
        "end_date": iso(ti.end_date),
        "duration": ti.duration,
        "max_tries": ti.max_tries,
        "operator": ti.operator,
        "pool": ti.pool,
        "hostname": ti.hostname,
    }


def ti_records(store: MetadataStore, dag_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of one run, by task id then map index."""
    known_dag(store, dag_id)
    if store.get_dag_run(dag_id, run_id) is None:
        fail(f"DAG {dag_id!r} has no run {run_id!r} (see `slipstream dags list-runs {dag_id}`)")
    page = store.list_task_instances(dag_ids=[dag_id], run_ids=[run_id], limit=None)
    # Once a mapped task expands, its unmapped placeholder stays behind as "removed":
    # not a task instance anyone ran, so it is left out (as the embedding API does).
    expanded = {ti.task_id for ti in page.items if ti.map_index >= 0}
    tis = sorted(
        (
            ti
            for ti in page.items
            if not (ti.map_index < 0 and ti.task_id in expanded and ti.state == "removed")
        ),
        key=lambda ti: (ti.task_id, ti.map_index),
    )
    return [ti_record(ti) for ti in tis]


# -- the commands ------------------------------------------------------------------------


@click.command("pause")
@click.argument("dag_id")
@output_option
def pause(dag_id: str, output: str) -> None:
    """Pause a DAG: the scheduler creates no new runs of it."""
    with cli_store() as store:
        record = set_paused(store, dag_id, True)
    emit([record], ["dag_id", "is_paused"], output)


@click.command("unpause")
@click.argument("dag_id")
@output_option
def unpause(dag_id: str, output: str) -> None:
    """Unpause a DAG: the scheduler runs it on its schedule again."""
    with cli_store() as store:
        record = set_paused(store, dag_id, False)
    emit([record], ["dag_id", "is_paused"], output)


@click.command("list-runs")
@click.argument("dag_id")
@click.option("--state", type=click.Choice([s.value for s in DagRunState]), help="Only these.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most N runs."
)
@output_option
def list_runs(dag_id: str, state: str | None, limit: int, output: str) -> None:
    """A DAG's runs, newest first."""
    with cli_store() as store:
        rows, total = run_records(store, dag_id, state, limit)
    emit(rows, RUN_COLUMNS, output)
    if total > len(rows) and output == "table":
        click.echo(f"\n{len(rows)} of {total} runs shown: raise --limit for more", err=True)


@click.command("states-for-dag-run")
@click.argument("dag_id")
@click.argument("run_id")
@output_option
def states_for_dag_run(dag_id: str, run_id: str, output: str) -> None:
    """The state of every task instance of one run."""
    with cli_store() as store:
        rows = ti_records(store, dag_id, run_id)
    emit(rows, TI_COLUMNS, output)
