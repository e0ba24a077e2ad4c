"""The DAG and task commands, run as a user runs them: the real ``slipstream`` in a
subprocess, with its own home and a DAGs folder of test DAG files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import CliRun

PIPELINE = """
    from datetime import datetime
    from slipstream import DAG, TaskGroup, task
    from slipstream.operators.bash import BashOperator
    from slipstream.operators.empty import EmptyOperator

    with DAG(
        "pipeline",
        schedule="@daily",
        start_date=datetime(2024, 1, 1),
        tags=["etl"],
        params={"table": "orders"},
        doc_md="A test pipeline.",
    ):
        start = EmptyOperator(task_id="start")
        with TaskGroup("load") as load:
            copy = BashOperator(
                task_id="copy",
                bash_command="echo copying {{ params.table }} for {{ ds }}",
                env={"DAY": "{{ ds_nodash }}"},
            )
        fail = BashOperator(task_id="fail", bash_command="echo bad; exit 4")

        @task
        def count(table: str) -> int:
            return len(table)

        start >> load >> count("{{ params.table }}")
        BashOperator.partial(task_id="each").expand(bash_command=["echo a"])
    """

SECOND = """
    from slipstream import DAG
    from slipstream.operators.empty import EmptyOperator

    with DAG("second", tags=["b"]):
        EmptyOperator(task_id="only")
    """

BROKEN = """
    from slipstream import DAG

    raise ValueError("this DAG file is broken")
    """


@pytest.fixture
def dags_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dags"
    folder.mkdir()
    for name, body in (("pipeline.py", PIPELINE), ("second.py", SECOND)):
        (folder / name).write_text(textwrap.dedent(body), encoding="utf-8")
    return folder


@pytest.fixture
def cli(slipstream: CliRun, dags_folder: Path) -> CliRun:
    """``slipstream`` with the test DAGs folder and no examples."""

    def run(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        env = {
            "SLIPSTREAM__CORE__DAGS_FOLDER": str(dags_folder),
            "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false",
        }
        return slipstream(*args, env=env, **kwargs)  # type: ignore[arg-type]

    return run


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


# -- dags -----------------------------------------------------------------------------------


def test_dags_list_as_a_table_and_as_json(cli: CliRun) -> None:
    table = cli("dags", "list")
    assert table.returncode == 0, table.stderr
    header, rule, *rows = lines(table.stdout)
    assert header.split() == ["dag_id", "relative_fileloc", "owners", "schedule", "tags", "tasks"]
    assert set(rule) <= {"-", " "}
    assert [row.split()[0] for row in rows] == ["pipeline", "second"]
    assert rows[0].split()[1:4] == ["pipeline.py", "slipstream", "@daily"]

    result = cli("dags", "list", "-o", "json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert [d["dag_id"] for d in listed] == ["pipeline", "second"]
    assert listed[0]["schedule"] == "@daily"
    assert listed[0]["tags"] == ["etl"]
    assert listed[0]["tasks"] == 5
    assert listed[1]["relative_fileloc"] == "second.py"


def test_dags_list_mentions_import_errors(cli: CliRun, dags_folder: Path) -> None:
    (dags_folder / "broken.py").write_text(textwrap.dedent(BROKEN))

    result = cli("dags", "list")

    assert result.returncode == 0
    assert "pipeline" in result.stdout
    assert "1 DAG file(s) failed to import: see `slipstream dags import-errors`" in result.stderr


def test_dags_import_errors_as_a_table_and_as_json(cli: CliRun, dags_folder: Path) -> None:
    broken = dags_folder / "broken.py"
    broken.write_text(textwrap.dedent(BROKEN))
    (dags_folder / "cycle.py").write_text(
        "from slipstream import DAG\nfrom slipstream.operators.empty import EmptyOperator\n"
        "with DAG('cyc'):\n    a = EmptyOperator(task_id='a')\n    a >> EmptyOperator("
        "task_id='b') >> a\n"
    )

    table = cli("dags", "import-errors")
    assert table.returncode == 0, table.stderr
    assert f"{broken.resolve()}:4: ValueError: this DAG file is broken" in table.stdout
    assert "DagCycleError: DAG 'cyc' has a cycle: " in table.stdout

    result = cli("dags", "import-errors", "-o", "json")
    errors = {Path(e["filepath"]).name: e for e in json.loads(result.stdout)}
    assert set(errors) == {"broken.py", "cycle.py"}
    assert errors["broken.py"]["error"] == (
        f"{broken.resolve()}:4: ValueError: this DAG file is broken"
    )
    assert "Traceback (most recent call last)" in errors["broken.py"]["stack_trace"]


def test_dags_import_errors_when_there_are_none(cli: CliRun) -> None:
    assert cli("dags", "import-errors").stdout.strip() == "(none)"
    assert json.loads(cli("dags", "import-errors", "-o", "json").stdout) == []


def test_dags_show_as_text_and_as_dot(cli: CliRun) -> None:
    text = cli("dags", "show", "pipeline")
    assert text.returncode == 0, text.stderr
    header, *body = lines(text.stdout)
    assert header == "DAG pipeline  schedule=@daily  tasks=5"
    # Each task, with its downstream tasks on the lines right after it; upstream first.
    blocks = "\n".join(body).replace("\n      >> ", " >> ").splitlines()
    assert sorted(blocks) == sorted(
        [
            "  each (BashOperator) [mapped]",
            "  fail (BashOperator)",
            "  start (EmptyOperator) >> load.copy",
            "  load.copy (BashOperator) >> count",
            "  count (@task)",
        ]
    )
    order = [block.split()[0] for block in blocks]
    assert order.index("start") < order.index("load.copy") < order.index("count")

    dot = cli("dags", "show", "pipeline", "--dot")
    assert dot.returncode == 0, dot.stderr
    assert dot.stdout.startswith('digraph "pipeline" {')
    assert 'subgraph "cluster_load" { label="load";' in dot.stdout
    assert '"load.copy" [label="copy"];' in dot.stdout
    assert '"start" -> "load.copy";' in dot.stdout
    assert '"load.copy" -> "count";' in dot.stdout
    assert dot.stdout.rstrip().endswith("}")


def test_an_unknown_dag_id_lists_the_known_ones(cli: CliRun) -> None:
    for command in (["dags", "show", "nope"], ["tasks", "list", "nope"]):
        result = cli(*command)
        assert result.returncode == 1
        assert "Error: DAG 'nope' not found in " in result.stderr
        assert "Known DAGs: pipeline, second" in result.stderr


# -- tasks ----------------------------------------------------------------------------------


def test_tasks_list(cli: CliRun) -> None:
    table = cli("tasks", "list", "pipeline")
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line.split() for line in lines(table.stdout)[2:]}
    assert set(rows) == {"each", "fail", "start", "load.copy", "count"}
    assert rows["count"][1:3] == ["@task", "load.copy"]

    listed = json.loads(cli("tasks", "list", "pipeline", "-o", "json").stdout)
    by_id = {t["task_id"]: t for t in listed}
    assert by_id["load.copy"]["upstream"] == ["start"]
    assert by_id["each"]["mapped"] is True
    assert by_id["start"]["trigger_rule"] == "all_success"
    order = [t["task_id"] for t in listed]
    assert order.index("start") < order.index("load.copy") < order.index("count")


def test_tasks_render_prints_each_rendered_template_field(cli: CliRun) -> None:
    result = cli("tasks", "render", "pipeline", "load.copy", "--logical-date", "2024-02-03")

    assert result.returncode == 0, result.stderr
    assert "# property: bash_command" in result.stdout
    assert "echo copying orders for 2024-02-03" in result.stdout
    assert "# property: env" in result.stdout
    assert "{'DAY': '20240203'}" in result.stdout

    with_conf = cli(
        "tasks",
        "render",
        "pipeline",
        "load.copy",
        "--logical-date",
        "2024-02-03T10:00:00",
        "--conf",
        '{"table": "users"}',
    )
    assert "echo copying users for 2024-02-03" in with_conf.stdout


def test_tasks_render_of_a_mapped_task_explains_why_not(cli: CliRun) -> None:
    result = cli("tasks", "render", "pipeline", "each")

    assert result.returncode == 1
    assert "task 'each' is mapped: its arguments are known only during a run" in result.stderr


def test_tasks_test_runs_one_task_and_reports_its_state(cli: CliRun) -> None:
    ok = cli("tasks", "test", "pipeline", "load.copy", "--logical-date", "2024-02-03")
    assert ok.returncode == 0, ok.stderr
    assert "copying orders for 2024-02-03" in ok.stdout
    assert ok.stdout.rstrip().endswith("Task load.copy ended in state success")

    taskflow = cli("tasks", "test", "pipeline", "count", "--conf", '{"table": "abc"}')
    assert taskflow.returncode == 0, taskflow.stderr
    assert "Returned value was: 3" in taskflow.stdout

    failed = cli("tasks", "test", "pipeline", "fail")
    assert failed.returncode == 1
    assert "Task fail ended in state failed" in failed.stdout
    assert "Error: SlipstreamException: bash command failed: exit code 4" in failed.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["tasks", "render", "pipeline", "start", "--logical-date", "yesterday"],
            "Invalid value for --logical-date: 'yesterday' is not an ISO date or date-time",
        ),
        (
            ["tasks", "test", "pipeline", "start", "--logical-date", "2024-13-01"],
            "Invalid value for --logical-date: '2024-13-01' is not an ISO date",
        ),
        (
            ["tasks", "test", "pipeline", "start", "--conf", "{table: 1}"],
            "Invalid value for --conf: not valid JSON: Expecting property name",
        ),
        (
            ["tasks", "render", "pipeline", "start", "--conf", "[1, 2]"],
            "Invalid value for --conf: must be a JSON object",
        ),
    ],
)
def test_bad_options_are_usage_errors(cli: CliRun, args: list[str], message: str) -> None:
    result = cli(*args)

    assert result.returncode == 2
    assert message in result.stderr


def test_an_unknown_task_id(cli: CliRun) -> None:
    result = cli("tasks", "test", "pipeline", "nope")

    assert result.returncode == 1
    assert "Error: task 'nope' is not in DAG 'pipeline'" in result.stderr


# -- init -----------------------------------------------------------------------------------


def test_init_creates_a_project_whose_own_test_passes(slipstream: CliRun, tmp_path: Path) -> None:
    project = tmp_path / "my_project"

    created = slipstream("init", str(project))

    assert created.returncode == 0, created.stderr
    assert f"Created a slipstream project in {project.resolve()}" in created.stdout
    for name in ("slipstream.toml", "dags/example_etl.py", "tests/test_dags.py", ".gitignore"):
        assert (project / name).is_file(), name

    # The project's own test passes, run the way its README says.
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "2 passed" in tested.stdout

    # Inside the project, its slipstream.toml points the commands at its dags/.
    listed = slipstream("dags", "list", "-o", "json", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert [d["dag_id"] for d in json.loads(listed.stdout)] == ["example_etl"]
    run = slipstream("tasks", "test", "example_etl", "extract", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr


def test_init_refuses_to_overwrite_a_project_and_changes_nothing(
    slipstream: CliRun, tmp_path: Path
) -> None:
    project = tmp_path / "existing"
    (project / "dags").mkdir(parents=True)
    (project / "slipstream.toml").write_text("# mine\n")
    (project / "dags" / "example_etl.py").write_text("# my own DAG\n")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}

    result = slipstream("init", str(project))

    assert result.returncode == 1
    assert (
        f"Error: {project} already has slipstream.toml, dags/example_etl.py; nothing was changed."
        in result.stderr
    )
    after = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}
    assert after == before
