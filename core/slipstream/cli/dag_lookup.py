"""Finding DAGs for CLI commands: parsed safely for listing, imported for running."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from slipstream.cli.state import get_state
from slipstream.dag_processing.bag import DagBag

if TYPE_CHECKING:
    from slipstream.models.dag import DAG
    from slipstream.serialized_dag import SerializedDag


def load_bag() -> DagBag:
    config = get_state().config
    return DagBag(
        config["core.dags_folder"],
        include_examples=config["core.load_examples"],
        timeout=config["core.dagbag_import_timeout"],
    )


def serialized_dag(dag_id: str, bag: DagBag | None = None) -> SerializedDag:
    from slipstream.cli.store_access import is_remote

    if bag is None and is_remote():
        return remote_serialized_dags([dag_id])[0]
    bag = bag or load_bag()
    found = bag.get_dag(dag_id)
    if found is None:
        hint = ""
        if bag.import_errors:
            hint = (
                f" ({len(bag.import_errors)} DAG file(s) failed to import: "
                f"see `slipstream dags import-errors`)"
            )
        raise click.ClickException(
            f"DAG {dag_id!r} not found in {bag.dag_folder}{hint}. "
            f"Known DAGs: {', '.join(bag.dag_ids) or 'none'}"
        )
    return found


def remote_serialized_dags(dag_ids: list[str] | None = None) -> list[SerializedDag]:
    """DAGs as the server's scheduler sees them (all active ones when ``dag_ids`` is None)."""
    from slipstream.cli.api_store import ApiStore
    from slipstream.cli.store_access import cli_store
    from slipstream.serialized_dag import SerializedDag

    with cli_store() as store:
        assert isinstance(store, ApiStore)
        if dag_ids is None:
            dag_ids = [dag.dag_id for dag in store.list_dags(limit=None).items]
        elif store.get_dag(dag_ids[0]) is None:
            raise click.ClickException(f"DAG {dag_ids[0]!r} not found on {store.client.api_url}")
        return [SerializedDag(store.serialized_dag(dag_id)) for dag_id in dag_ids]


def real_dag(dag_id: str) -> DAG:
    """Import the DAG's file in this process, for commands that run or render tasks."""
    from slipstream.dag_processing.importer import import_dag_file

    serialized = serialized_dag(dag_id)
    result = import_dag_file(Path(serialized.fileloc))
    if dag_id not in result.dags:
        errors = "\n".join(result.errors.values())
        raise click.ClickException(f"DAG {dag_id!r} could not be imported:\n{errors}")
    return result.dags[dag_id]


def parse_date(value: str | None, option: str) -> datetime | None:
    """An ISO date or date-time; naive values are UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time "
            f"(like 2024-01-31 or 2024-01-31T06:00:00+00:00)",
            param_hint=option,
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def render_states(app: Any, run: Any) -> str:
    """A run's task instances as a table: task, map index, state, try, duration."""
    from slipstream.cli.output import render_table

    tis = app.store.list_task_instances(
        dag_ids=[run.dag_id], run_ids=[run.run_id], limit=None
    ).items
    rows = [
        {
            "task_id": ti.task_id,
            "map_index": ti.map_index,
            "state": ti.state.value,
            "try_number": ti.try_number,
            "duration": f"{ti.duration:.3f}s" if ti.duration is not None else "",
        }
        for ti in tis
        if not (ti.state == "removed" and ti.map_index < 0)
    ]
    return render_table(rows, ["task_id", "map_index", "state", "try_number", "duration"])


def parse_conf(value: str | None) -> dict[str, Any]:
    """``--conf``: a JSON object, or nothing."""
    import json

    if not value:
        return {}
    try:
        conf = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--conf") from None
    if not isinstance(conf, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--conf")
    return conf
