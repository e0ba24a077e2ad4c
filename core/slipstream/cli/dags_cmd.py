"""``slipstream dags``: list, show and check the DAGs of the DAGs folder."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from slipstream.cli.output import emit, output_option

if TYPE_CHECKING:
    from slipstream.serialized_dag import SerializedDag


@click.group("dags")
def dags() -> None:
    """DAGs: list, show, check, trigger, test."""


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
    from slipstream.cli.dag_lookup import load_bag

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

    bag = load_bag()
    rows = [
        {"filepath": path, "error": message.split("\n\n", 1)[0], "stack_trace": message}
        for path, message in sorted(bag.import_errors.items())
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
