"""``slipstream tasks``: list a DAG's tasks, render their templates, test one."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import click

from slipstream.cli.output import emit, output_option


@click.group("tasks")
def tasks() -> None:
    """Tasks: list, render, test, clear, run, states-for-dag-run."""


@tasks.command("list")
@click.argument("dag_id")
@output_option
def list_tasks(dag_id: str, output: str) -> None:
    """The tasks of a DAG, upstream first."""
    from slipstream.cli.dag_lookup import serialized_dag

    dag = serialized_dag(dag_id)
    rows: list[dict[str, Any]] = [
        {
            "task_id": task.task_id,
            "operator": task.custom_operator_name or task.operator,
            "upstream": task.upstream,
            "trigger_rule": task.trigger_rule.value,
            "retries": task.retries,
            "pool": task.pool,
            "mapped": task.is_mapped,
        }
        for task in dag.tasks.values()
    ]
    emit(rows, ["task_id", "operator", "upstream", "trigger_rule", "retries", "mapped"], output)


def _run_info(dag: Any, logical_date: datetime | None, conf: dict[str, Any]) -> Any:
    from slipstream.execution.runner import RunInfo

    moment = logical_date or datetime.now(UTC)
    interval = dag.timetable.data_interval_for(moment)
    return RunInfo(
        run_id=f"manual__{moment.isoformat()}",
        logical_date=moment,
        data_interval_start=interval.start,
        data_interval_end=interval.end,
        conf=conf,
    )


@tasks.command("render")
@click.argument("dag_id")
@click.argument("task_id")
@click.option("--logical-date", "-l", help="ISO date of the run to render for (default: now).")
@click.option("--map-index", type=int, default=-1, show_default=True)
@click.option("--conf", "-c", help="Run conf as a JSON object.")
def render(
    dag_id: str, task_id: str, logical_date: str | None, map_index: int, conf: str | None
) -> None:
    """Print a task's template fields rendered for a run."""
    from slipstream.cli.store_access import require_local

    require_local("tasks render")
    from slipstream.cli.dag_lookup import parse_conf, parse_date, real_dag
    from slipstream.execution.runner import RuntimeTaskInstance
    from slipstream.templating import build_context
    from slipstream.testing import MemoryTaskClient

    dag = real_dag(dag_id)
    if not dag.has_task(task_id):
        raise click.ClickException(f"task {task_id!r} is not in DAG {dag_id!r}")
    task: Any = dag.get_task(task_id)
    if task.is_mapped:
        raise click.ClickException(
            f"task {task_id!r} is mapped: its arguments are known only during a run"
        )
    run = _run_info(dag, parse_date(logical_date, "--logical-date"), parse_conf(conf))
    client = MemoryTaskClient()
    ti = RuntimeTaskInstance(
        dag=dag, task=task, run=run, map_index=map_index, try_number=1, max_tries=0, client=client
    )
    from slipstream.execution.client import using_client

    with using_client(client):
        context = build_context(
            dag=dag,
            task=task,
            run_id=run.run_id,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
            params=task.params.resolve(run.conf),
            ti=ti,
            dag_run=run,
        )
        try:
            task.render_template_fields(context)
        except Exception as exc:
            raise click.ClickException(str(exc)) from exc
    rule = "# " + "-" * 58
    for field in task.template_fields:
        click.echo(f"{rule}\n# property: {field}\n{rule}\n{getattr(task, field)}")


@tasks.command("test")
@click.argument("dag_id")
@click.argument("task_id")
@click.option("--logical-date", "-l", help="ISO date of the run (default: now).")
@click.option("--map-index", type=int, default=-1, show_default=True)
@click.option("--conf", "-c", help="Run conf as a JSON object.")
def test(
    dag_id: str, task_id: str, logical_date: str | None, map_index: int, conf: str | None
) -> None:
    """Run one task in this process, ignoring dependencies; records nothing."""
    from slipstream.cli.store_access import require_local

    require_local("tasks test")
    from slipstream.cli.dag_lookup import parse_conf, parse_date, real_dag
    from slipstream.execution.runner import run_task
    from slipstream.testing import MemoryTaskClient

    dag = real_dag(dag_id)
    if not dag.has_task(task_id):
        raise click.ClickException(f"task {task_id!r} is not in DAG {dag_id!r}")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s - %(message)s"))
    task_log = logging.getLogger("slipstream.task")
    task_log.addHandler(handler)
    task_log.setLevel(logging.INFO)
    try:
        outcome = run_task(
            dag=dag,
            task_id=task_id,
            run=_run_info(dag, parse_date(logical_date, "--logical-date"), parse_conf(conf)),
            client=MemoryTaskClient(),
            map_index=map_index,
            max_tries=0,
        )
    finally:
        task_log.removeHandler(handler)
    click.echo(f"Task {task_id} ended in state {outcome.state.value}")
    if outcome.error:
        click.echo(f"Error: {outcome.error}", err=True)
    if outcome.state.value not in ("success", "skipped"):
        sys.exit(1)


@tasks.command("clear")
@click.argument("dag_id")
@click.option("--task-regex", "-t", help="Only tasks whose id matches this regular expression.")
@click.option("--start-date", "--start", "-s", "start", help="Runs from this logical date (ISO).")
@click.option("--end-date", "--end", "-e", "end", help="Runs up to this logical date (ISO).")
@click.option("--run-id", "run_ids", multiple=True, help="Only these runs.")
@click.option("--only-failed", "-f", is_flag=True, help="Only failed and upstream_failed ones.")
@click.option("--downstream", "-d", is_flag=True, help="Also their downstream tasks.")
@click.option("--upstream", "-u", is_flag=True, help="Also their upstream tasks.")
@click.option(
    "--use-latest-version",
    is_flag=True,
    help="Run them from the DAG's latest version, not the one their run started with.",
)
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def clear(
    dag_id: str,
    task_regex: str | None,
    start: str | None,
    end: str | None,
    run_ids: tuple[str, ...],
    only_failed: bool,
    downstream: bool,
    upstream: bool,
    use_latest_version: bool,
    yes: bool,
) -> None:
    """Reset task instances so the scheduler runs them again, from their run's own DAG
    version (or, with --use-latest-version, from the DAG's latest one)."""
    import re

    from slipstream.cli.dag_lookup import parse_date
    from slipstream.cli.store_access import cli_store
    from slipstream.scheduler.clearing import clear_task_instances

    if task_regex:
        try:
            re.compile(task_regex)
        except re.error as exc:
            raise click.BadParameter(str(exc), param_hint="--task-regex") from None
    kwargs: dict[str, Any] = {
        "run_ids": run_ids,
        "start": parse_date(start, "--start-date"),
        "end": parse_date(end, "--end-date"),
        "task_regex": task_regex,
        "include_downstream": downstream,
        "include_upstream": upstream,
        "only_failed": only_failed,
        "use_latest_version": use_latest_version,
    }
    from slipstream.cli.store_access import is_remote

    if is_remote():
        _clear_remotely(dag_id, yes=yes, **kwargs)
        return
    with cli_store() as store:
        preview = clear_task_instances(store, dag_id, dry_run=True, **kwargs)
        if not preview.runs:
            click.echo("No task instances to clear.")
            return
        for ti in preview.cleared:
            index = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
            click.echo(f"  {ti.run_id}  {ti.task_id}{index}  {ti.state.value}")
        for run_id, task_id in preview.added:
            click.echo(f"  {run_id}  {task_id}  (new in the latest version: added)")
        for ti in preview.removed:
            index = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
            click.echo(
                f"  {ti.run_id}  {ti.task_id}{index}  {ti.state.value} "
                "(not in the latest version: removed)"
            )
        question = f"Clear these {len(preview.cleared)} task instance(s)"
        if use_latest_version:
            question += ", their runs moving to the DAG's latest version"
        if not yes and not click.confirm(f"{question}?", default=False):
            click.echo("Nothing cleared.")
            return
        result = clear_task_instances(store, dag_id, **kwargs)
        click.echo(f"Cleared {len(result.cleared)} task instance(s) in {len(result.runs)} run(s).")
        if result.added or result.removed:
            click.echo(
                f"Latest version: {len(result.added)} task instance(s) added, "
                f"{len(result.removed)} removed."
            )


def _clear_remotely(
    dag_id: str,
    *,
    yes: bool,
    run_ids: tuple[str, ...],
    start: datetime | None,
    end: datetime | None,
    task_regex: str | None,
    include_downstream: bool,
    include_upstream: bool,
    only_failed: bool,
    use_latest_version: bool,
) -> None:
    """``tasks clear`` through ``POST /api/v2/dags/{dag_id}/clearTaskInstances``: the
    same preview and question, then the same summary."""
    import re

    from slipstream.cli.api_store import ApiStore
    from slipstream.cli.dag_lookup import serialized_dag
    from slipstream.cli.remote import path
    from slipstream.cli.store_access import cli_store

    body: dict[str, Any] = {
        "only_failed": only_failed,
        "include_downstream": include_downstream,
        "include_upstream": include_upstream,
        "run_on_latest_version": use_latest_version,
    }
    if task_regex:
        pattern = re.compile(task_regex)
        body["task_ids"] = [t for t in serialized_dag(dag_id).tasks if pattern.search(t)]
        if not body["task_ids"]:
            click.echo("No task instances to clear.")
            return
    if start:
        body["start_date"] = start.isoformat()
    if end:
        body["end_date"] = end.isoformat()
    with cli_store() as store:
        assert isinstance(store, ApiStore)

        def clear(dry_run: bool) -> list[Any]:
            tis: list[Any] = []
            for run_id in run_ids or (None,):
                answer = store.client.request(
                    "POST",
                    path("dags", dag_id, "clearTaskInstances"),
                    json_body={**body, "dag_run_id": run_id, "dry_run": dry_run},
                    what=f"DAG {dag_id!r}" + (f" run {run_id!r}" if run_id else ""),
                )
                tis.extend(store.ti_from_json(item) for item in answer["task_instances"])
            return tis

        preview = clear(True)
        if not preview:
            click.echo("No task instances to clear.")
            return
        for ti in preview:
            index = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
            click.echo(f"  {ti.run_id}  {ti.task_id}{index}  {ti.state.value}")
        if not yes and not click.confirm(
            f"Clear these {len(preview)} task instance(s)?", default=False
        ):
            click.echo("Nothing cleared.")
            return
        cleared = clear(False)
    runs = {ti.run_id for ti in cleared}
    click.echo(f"Cleared {len(cleared)} task instance(s) in {len(runs)} run(s).")


@tasks.command("run")
@click.option("--workload", "workload_json", required=True, help="The workload record, as JSON.")
def run(workload_json: str) -> None:
    """Run one try described by a workload, here, and record it: the worker entry point
    of executors that start a process per try. A workload with a task token reports
    through the task-execution API when core.execution_api_url is set (no database
    needed); otherwise the try is recorded in the metadata store."""
    from slipstream.cli.state import get_state
    from slipstream.executors.base import Workload

    try:
        workload = Workload.from_json(workload_json)
    except (ValueError, TypeError, KeyError) as exc:
        raise click.BadParameter(f"not a workload record: {exc}", param_hint="--workload") from None
    config = get_state().config
    api_url = config["core.execution_api_url"]
    if workload.token and api_url and not workload.dag_callback:
        report = _run_via_api(config, workload, api_url)
    else:
        report = _run_on_store(workload)
    click.echo(json.dumps(report, default=str))
    if report.get("abandoned"):
        click.echo(f"Not run: {report['abandoned']}", err=True)
        sys.exit(2)
    if report.get("state") not in ("success", "skipped", "up_for_reschedule"):
        sys.exit(1)


def _run_on_store(workload: Any) -> dict[str, Any]:
    from slipstream.execution.worker import run_workload
    from slipstream.runtime import Slipstream

    with Slipstream(migrate=False) as app:
        return run_workload(
            app.store,
            app.loader,
            workload,
            log_folder=app.config["logging.base_log_folder"],
            plugins=app.plugins,
            heartbeat_interval=app.config["scheduler.task_heartbeat_interval"],
        )


def _run_via_api(config: Any, workload: Any, api_url: str) -> dict[str, Any]:
    """The remote worker's way: the metadata store is never opened."""
    from slipstream.execution.api_client import ApiTaskClient
    from slipstream.execution.remote_worker import run_workload_via_api
    from slipstream.execution.worker import DagLoader

    client = ApiTaskClient(api_url, workload.token)
    try:
        return run_workload_via_api(
            client,
            DagLoader(config["core.dags_folder"]),
            workload,
            heartbeat_interval=config["scheduler.task_heartbeat_interval"],
        )
    finally:
        client.close()
