"""``slipstream dags``: list, show and check the DAGs of the DAGs folder."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from slipstream.cli.output import emit, output_option

if TYPE_CHECKING:
    from slipstream.serialized_dag import SerializedDag


@click.group("dags")
def dags() -> None:
    """DAGs: list, show, import-errors, trigger, test, backfill, pause, list-runs, versions."""


def dag_row(dag: SerializedDag) -> dict[str, Any]:
    return {
        "dag_id": dag.dag_id,
        "fileloc": dag.fileloc,
        "relative_fileloc": dag.data.get("relative_fileloc"),
        "owners": dag.owner,
        "schedule": dag.timetable_summary,
        "tags": list(dag.tags),
        "tasks": len(dag.tasks),
        "description": dag.description,
    }


@dags.command("list")
@output_option
def list_dags(output: str) -> None:
    """DAGs found in the DAGs folder (and the examples, if enabled)."""
    from slipstream.cli.dag_lookup import load_bag, remote_serialized_dags
    from slipstream.cli.store_access import is_remote

    if is_remote():
        rows = [dag_row(dag) for dag in remote_serialized_dags()]
        emit(rows, ["dag_id", "relative_fileloc", "owners", "schedule", "tags", "tasks"], output)
        return
    bag = load_bag()
    rows = [dag_row(bag.dags[dag_id]) for dag_id in bag.dag_ids]
    emit(rows, ["dag_id", "relative_fileloc", "owners", "schedule", "tags", "tasks"], output)
    if bag.import_errors and output == "table":
        click.echo(
            f"\n{len(bag.import_errors)} DAG file(s) failed to import: "
            f"see `slipstream dags import-errors`",
            err=True,
        )


@dags.command("import-errors")
@output_option
def import_errors(output: str) -> None:
    """DAG files that failed to import, and why."""
    from slipstream.cli.dag_lookup import load_bag
    from slipstream.cli.store_access import cli_store, is_remote

    if is_remote():
        with cli_store() as store:
            errors = {e.filename: e.stacktrace for e in store.list_import_errors(limit=None).items}
    else:
        errors = load_bag().import_errors
    rows = [
        {"filepath": path, "error": message.split("\n\n", 1)[0], "stack_trace": message}
        for path, message in sorted(errors.items())
    ]
    emit(rows, ["filepath", "error"], output)


@dags.command("show")
@click.argument("dag_id")
@click.option("--dot", is_flag=True, help="Print Graphviz DOT instead of text.")
def show(dag_id: str, dot: bool) -> None:
    """A DAG's tasks and dependencies."""
    from slipstream.cli.dag_lookup import serialized_dag

    dag = serialized_dag(dag_id)
    if dot:
        click.echo(render_dot(dag))
    else:
        click.echo(render_text(dag))


def render_text(dag: SerializedDag) -> str:
    lines = [f"DAG {dag.dag_id}  schedule={dag.timetable_summary}  tasks={len(dag.tasks)}"]
    for task in dag.tasks.values():
        mapped = " [mapped]" if task.is_mapped else ""
        lines.append(f"  {task.task_id} ({task.custom_operator_name or task.operator}){mapped}")
        for downstream in task.downstream:
            lines.append(f"      >> {downstream}")
    return "\n".join(lines)


def render_dot(dag: SerializedDag) -> str:
    def quote(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"digraph {quote(dag.dag_id)} {{", "  rankdir=LR;", "  node [shape=box];"]
    groups: dict[str | None, list[str]] = {}
    for task in dag.tasks.values():
        groups.setdefault(task.task_group, []).append(task.task_id)
    for group, task_ids in groups.items():
        indent = "  "
        if group is not None:
            lines.append(f"  subgraph {quote('cluster_' + group)} {{ label={quote(group)};")
            indent = "    "
        for task_id in task_ids:
            task = dag.tasks[task_id]
            lines.append(f"{indent}{quote(task_id)} [label={quote(task.label)}];")
        if group is not None:
            lines.append("  }")
    for task in dag.tasks.values():
        for downstream in task.downstream:
            lines.append(f"  {quote(task.task_id)} -> {quote(downstream)};")
    lines.append("}")
    return "\n".join(lines)


def _ensure_parsed(app: Any, dag_id: str) -> None:
    """Parse the DAGs folder if the store does not know ``dag_id`` yet."""
    if app.store.get_dag(dag_id) is None:
        app.parse()
    if app.store.get_dag(dag_id) is None:
        from slipstream.cli.dag_lookup import serialized_dag

        serialized_dag(dag_id)  # raises the "not found, known DAGs: ..." error


@dags.command("trigger")
@click.argument("dag_id")
@click.option("--conf", "-c", help="Run conf, a JSON object (checked against the DAG's params).")
@click.option("--run-id", "-r", help="Run id (default: manual__<logical date>).")
@click.option("--logical-date", "-l", help="ISO date-time of the run (default: now).")
@click.option("--wait", is_flag=True, help="Wait until the run ends; exit 1 unless it succeeded.")
@click.option("--timeout", type=float, default=3600, show_default=True, help="With --wait.")
@output_option
def trigger(
    dag_id: str,
    conf: str | None,
    run_id: str | None,
    logical_date: str | None,
    wait: bool,
    timeout: float,
    output: str,
) -> None:
    """Create a run of a DAG now; a running scheduler picks it up."""
    from slipstream.cli.dag_lookup import parse_conf, parse_date
    from slipstream.cli.output import emit_one
    from slipstream.runtime import Slipstream

    conf_value = parse_conf(conf)
    when = parse_date(logical_date, "--logical-date")
    from slipstream.cli.store_access import is_remote

    if is_remote():
        _trigger_remotely(dag_id, conf_value, when, run_id, wait, timeout, output)
        return
    with Slipstream(migrate=False) as app:
        _ensure_parsed(app, dag_id)
        run = app.trigger(dag_id, conf=conf_value, logical_date=when, run_id=run_id)
        dag = app.store.get_dag(dag_id)
        if dag is not None and dag.is_paused:
            click.echo(
                f"DAG {dag_id} is paused: the run waits until `slipstream dags unpause {dag_id}`",
                err=True,
            )
        if not wait:
            emit_one(_run_row(run), output)
            return
        deadline = time.monotonic() + timeout
        current = run
        while not current.state.finished:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"run {run.run_id} did not finish within {timeout:g}s (state {current.state})"
                )
            time.sleep(0.2)
            current = app.store.get_dag_run(dag_id, run.run_id) or current
        emit_one(_run_row(current), output)
        if current.state != "success":
            sys.exit(1)


def _trigger_remotely(
    dag_id: str,
    conf: dict[str, Any],
    logical_date: Any,
    run_id: str | None,
    wait: bool,
    timeout: float,
    output: str,
) -> None:
    """``dags trigger`` through ``POST /api/v2/dags/{dag_id}/dagRuns``."""
    from datetime import UTC, datetime

    from slipstream.cli.api_store import ApiStore
    from slipstream.cli.output import emit_one
    from slipstream.cli.remote import path
    from slipstream.cli.store_access import cli_store

    with cli_store() as store:
        assert isinstance(store, ApiStore)
        dag = store.get_dag(dag_id)
        if dag is None:
            raise click.ClickException(f"DAG {dag_id!r} not found on {store.client.api_url}")
        body = {
            "dag_run_id": run_id,
            "logical_date": (logical_date or datetime.now(UTC)).isoformat(),
            "conf": conf,
        }
        answer = store.client.request(
            "POST", path("dags", dag_id, "dagRuns"), json_body=body, what=f"DAG {dag_id!r}"
        )
        run = store.run_from_json(answer)
        if dag.is_paused:
            click.echo(
                f"DAG {dag_id} is paused: the run waits until `slipstream dags unpause {dag_id}`",
                err=True,
            )
        deadline = time.monotonic() + timeout
        while wait and not run.state.finished:
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"run {run.run_id} did not finish within {timeout:g}s (state {run.state})"
                )
            time.sleep(0.5)
            run = store.get_dag_run(dag_id, run.run_id) or run
    emit_one(_run_row(run), output)
    if wait and run.state != "success":
        sys.exit(1)


def _run_row(run: Any) -> dict[str, Any]:
    return {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state.value,
        "run_type": run.run_type.value,
        "logical_date": run.logical_date.isoformat() if run.logical_date else None,
        "conf": dict(run.conf),
    }


@dags.command("test")
@click.argument("dag_id")
@click.option("--logical-date", "-l", help="ISO date-time of the run (default: now).")
@click.option("--conf", "-c", help="Run conf, a JSON object.")
@click.option("--timeout", type=float, default=3600, show_default=True)
def test(dag_id: str, logical_date: str | None, conf: str | None, timeout: float) -> None:
    """Run a whole DAG once in this process (sequential executor), recorded in the store
    like any run, printing each task's log and state. Exit 0 only if the run succeeded."""
    from slipstream.cli.store_access import require_local

    require_local("dags test")
    from slipstream.cli.dag_lookup import parse_conf, parse_date, render_states
    from slipstream.runtime import Slipstream
    from slipstream.state import DagRunType

    conf_value = parse_conf(conf)
    when = parse_date(logical_date, "--logical-date")
    with Slipstream({"core.executor": "sequential"}, migrate=True, echo_logs=True) as app:
        _ensure_parsed(app, dag_id)
        from slipstream.scheduler.triggering import trigger_dag_run

        run = trigger_dag_run(
            app.store,
            dag_id,
            conf=conf_value,
            logical_date=when,
            triggered_by="dags test",
            run_type=DagRunType.MANUAL,
        )
        app.scheduler.focus = {(dag_id, run.run_id)}  # this run only, nothing else
        final = app.wait(run, timeout=timeout)
        click.echo(render_states(app, final))
        click.echo(f"Run {final.run_id} of {dag_id}: {final.state.value}")
        if final.state != "success":
            sys.exit(1)


@dags.command("backfill")
@click.argument("dag_id")
@click.option("--start", "-s", "start", required=True, help="First logical date (ISO).")
@click.option("--end", "-e", "end", required=True, help="Last logical date (ISO), inclusive.")
@click.option(
    "--max-active-runs", type=int, default=None, help="Runs at once (default: the DAG's)."
)
@click.option("--timeout", type=float, default=24 * 3600, show_default=True)
def backfill(
    dag_id: str, start: str, end: str, max_active_runs: int | None, timeout: float
) -> None:
    """Run a DAG for every scheduled logical date between --start and --end."""
    from slipstream.cli.store_access import require_local

    require_local("dags backfill")
    from slipstream.cli.dag_lookup import parse_date
    from slipstream.runtime import Slipstream
    from slipstream.scheduler.backfill import Backfill

    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    assert first is not None and last is not None
    if last < first:
        raise click.BadParameter("--end is before --start", param_hint="--end")
    if max_active_runs is not None and max_active_runs < 1:
        raise click.BadParameter("must be at least 1", param_hint="--max-active-runs")
    with Slipstream(migrate=False) as app:
        _ensure_parsed(app, dag_id)
        job = Backfill(app, dag_id, first, last, max_active_runs=max_active_runs)
        if not job.dates:
            raise click.ClickException(
                f"DAG {dag_id!r} has no scheduled logical date between {start} and {end}"
            )
        with click.progressbar(length=len(job.dates), label=f"Backfilling {dag_id}") as bar:
            job.run(timeout=timeout, progress=bar.update)
        counts = job.summary()
        click.echo(", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
        if counts.get("failed"):
            sys.exit(1)


@dags.command("versions")
@click.argument("dag_id")
@output_option
def versions(dag_id: str, output: str) -> None:
    """Every stored version of a DAG: number, content hash, when first seen, tasks."""
    from slipstream.cli.store_access import cli_store

    with cli_store() as store:
        if store.get_dag(dag_id) is None:
            raise click.ClickException(f"DAG {dag_id!r} is not in the metadata database")
        rows = [
            {
                "dag_id": v.dag_id,
                "version_number": v.version_number,
                "content_hash": v.content_hash[:12] if output == "table" else v.content_hash,
                "created_at": v.created_at.isoformat(),
                "tasks": len(v.serialized.get("tasks", [])),
            }
            for v in store.list_dag_versions(dag_id)
        ]
    emit(rows, ["version_number", "content_hash", "created_at", "tasks"], output)


@dags.command("report")
@output_option
def report(output: str) -> None:
    """How long each DAG file took to parse the last time, slowest first."""
    from slipstream.cli.store_access import cli_store

    with cli_store() as store:
        rows = [
            {
                "file": p.path,
                "duration_s": round(p.parse_duration, 3),
                "dags": list(p.dag_ids),
                "last_parsed_at": p.last_parsed_at.isoformat(),
            }
            for p in store.list_file_parses()
        ]
    emit(rows, ["file", "duration_s", "dags", "last_parsed_at"], output)
