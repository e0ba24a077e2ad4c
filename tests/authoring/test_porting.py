"""Porting from Airflow: Airflow-style DAG files run after only their import lines change.

The DAG files in ``data/airflow_dags`` are written with real Airflow 2 and Airflow 3
import lines. Each test rewrites only those lines with :data:`AIRFLOW_IMPORTS` (the
one mapping table, which ``docs/porting-from-airflow.md`` must agree with), loads the
result through the DAG bag, and runs its tasks in dependency order.
"""

from __future__ import annotations

import ast
import importlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from authoring_runner import DagRunResult, run_dag

from slipstream.dag_processing.bag import DagBag
from slipstream.dag_processing.importer import import_dag_file
from slipstream.models.dag import DAG
from slipstream.testing import MemoryTaskClient

DATA = Path(__file__).parent / "data" / "airflow_dags"
DOC = Path(__file__).resolve().parents[2] / "docs" / "porting-from-airflow.md"

_EXCEPTIONS = [
    "AirflowException",
    "AirflowSkipException",
    "AirflowFailException",
    "AirflowTaskTimeout",
    "AirflowSensorTimeout",
    "AirflowRescheduleException",
    "DuplicateTaskIdFound",
    "AirflowDagCycleException",
]
_PYTHON_OPERATORS = ["PythonOperator", "BranchPythonOperator", "ShortCircuitOperator"]

#: Airflow module -> {imported name: slipstream module that has the same name}.
AIRFLOW_IMPORTS: dict[str, dict[str, str]] = {
    # Airflow 2
    "airflow": {"DAG": "slipstream"},
    "airflow.models": {
        "DAG": "slipstream",
        "BaseOperator": "slipstream.models",
        "Param": "slipstream",
        "Variable": "slipstream",
        "Connection": "slipstream",
        "XComArg": "slipstream.models",
    },
    "airflow.models.dag": {"DAG": "slipstream", "dag": "slipstream"},
    "airflow.models.baseoperator": {
        "BaseOperator": "slipstream.models",
        "chain": "slipstream",
        "cross_downstream": "slipstream",
    },
    "airflow.models.param": {"Param": "slipstream"},
    "airflow.models.variable": {"Variable": "slipstream"},
    "airflow.models.connection": {"Connection": "slipstream"},
    "airflow.models.xcom_arg": {"XComArg": "slipstream.models"},
    "airflow.decorators": {"dag": "slipstream", "task": "slipstream"},
    "airflow.operators.bash": {"BashOperator": "slipstream.operators.bash"},
    "airflow.operators.empty": {"EmptyOperator": "slipstream.operators.empty"},
    "airflow.operators.python": {
        **{name: "slipstream.operators.python" for name in _PYTHON_OPERATORS},
        "get_current_context": "slipstream",
    },
    "airflow.sensors.base": {
        "BaseSensorOperator": "slipstream.sensors.base",
        "PokeReturnValue": "slipstream.sensors.base",
    },
    "airflow.utils.task_group": {"TaskGroup": "slipstream"},
    "airflow.utils.trigger_rule": {"TriggerRule": "slipstream"},
    "airflow.exceptions": {name: "slipstream.exceptions" for name in _EXCEPTIONS},
    "airflow.macros": {"ds_add": "slipstream.macros", "ds_format": "slipstream.macros"},
    # Airflow 3
    "airflow.sdk": {
        **{
            name: "slipstream"
            for name in (
                "DAG",
                "dag",
                "task",
                "TaskGroup",
                "Param",
                "Variable",
                "Connection",
                "chain",
                "cross_downstream",
                "get_current_context",
            )
        },
        "BaseOperator": "slipstream.models",
        "XComArg": "slipstream.models",
        "BaseSensorOperator": "slipstream.sensors.base",
        "PokeReturnValue": "slipstream.sensors.base",
    },
    "airflow.providers.standard.operators.bash": {"BashOperator": "slipstream.operators.bash"},
    "airflow.providers.standard.operators.empty": {"EmptyOperator": "slipstream.operators.empty"},
    "airflow.providers.standard.operators.python": {
        **{name: "slipstream.operators.python" for name in _PYTHON_OPERATORS},
        "get_current_context": "slipstream",
    },
    # Operators and sensors of the standard, http and common.sql providers
    "airflow.providers.http.operators.http": {"HttpOperator": "slipstream.operators.http"},
    "airflow.providers.common.sql.operators.sql": {
        "SQLExecuteQueryOperator": "slipstream.operators.sql"
    },
    "airflow.operators.generic_transfer": {"GenericTransfer": "slipstream.operators.transfer"},
    "airflow.providers.common.sql.operators.generic_transfer": {
        "GenericTransfer": "slipstream.operators.transfer"
    },
    **{
        f"{prefix}.{module}": {name: f"slipstream.{module}"}
        for prefix in ("airflow", "airflow.providers.standard")
        for module, name in (
            ("operators.trigger_dagrun", "TriggerDagRunOperator"),
            ("sensors.python", "PythonSensor"),
            ("sensors.filesystem", "FileSensor"),
            ("sensors.time_delta", "TimeDeltaSensor"),
            ("sensors.external_task", "ExternalTaskSensor"),
        )
    },
}


class UnsupportedImport(Exception):
    """An Airflow import with no slipstream counterpart."""


def _airflow_imports(tree: ast.Module) -> Iterator[ast.ImportFrom | ast.Import]:
    """The module-level statements that import from Airflow."""
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        if any(module.split(".")[0] == "airflow" for module in modules):
            yield node


def port(source: str) -> str:
    """``source`` with every Airflow import line replaced by its slipstream import."""
    lines = source.splitlines(keepends=True)
    for node in sorted(_airflow_imports(ast.parse(source)), key=lambda n: -n.lineno):
        if isinstance(node, ast.Import) or node.module not in AIRFLOW_IMPORTS:
            raise UnsupportedImport(ast.get_source_segment(source, node))
        table = AIRFLOW_IMPORTS[node.module]
        by_target: dict[str, list[str]] = {}
        for alias in node.names:
            if alias.name not in table:
                raise UnsupportedImport(f"from {node.module} import {alias.name}")
            spelled = alias.name + (f" as {alias.asname}" if alias.asname else "")
            by_target.setdefault(table[alias.name], []).append(spelled)
        new = [f"from {target} import {', '.join(names)}\n" for target, names in by_target.items()]
        assert node.end_lineno is not None
        lines[node.lineno - 1 : node.end_lineno] = new
    return "".join(lines)


def without_imports(source: str) -> list[str]:
    """The lines of ``source`` that are not Airflow or slipstream import statements."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in (
            "airflow",
            "slipstream",
        ):
            assert node.end_lineno is not None
            skip.update(range(node.lineno, node.end_lineno + 1))
    return [line for n, line in enumerate(source.splitlines(), 1) if n not in skip]


@pytest.fixture
def ported(tmp_path: Path) -> Path:
    """The Airflow DAG folder with import lines rewritten (other files copied unchanged)."""
    folder = tmp_path / "dags"
    folder.mkdir()
    for path in sorted(DATA.iterdir()):
        if path.suffix == ".py":
            original = path.read_text(encoding="utf-8")
            rewritten = port(original)
            assert "airflow." not in "".join(
                line for line in rewritten.splitlines() if line.startswith(("from ", "import "))
            )
            assert without_imports(rewritten) == without_imports(original), path.name
            (folder / path.name).write_text(rewritten, encoding="utf-8")
        else:
            shutil.copy(path, folder / path.name)
    return folder


def load(folder: Path, dag_id: str) -> DAG:
    """The DAG as a worker gets it: parsed cleanly by the bag, then imported."""
    bag = DagBag(folder, include_examples=False, timeout=60)
    assert bag.import_errors == {}
    serialized = bag.dags[dag_id]
    imported = import_dag_file(Path(serialized.fileloc))
    assert imported.errors == {}
    return imported.dags[dag_id]


def all_succeeded(result: DagRunResult) -> None:
    failed = {k: v for k, v in result.states.items() if v != "success"}
    assert failed == {}, {k: result.errors(k) for k in failed}


# -- the mapping table ----------------------------------------------------------------------


def test_every_mapped_import_exists_in_slipstream() -> None:
    for airflow_module, names in AIRFLOW_IMPORTS.items():
        for name, target in names.items():
            module = importlib.import_module(target)
            assert hasattr(module, name), f"{airflow_module}.{name} -> {target}.{name}"


def test_airflow_exception_names_are_slipstreams_own_exceptions() -> None:
    from slipstream import exceptions

    assert exceptions.AirflowSkipException is exceptions.SkipTask
    assert exceptions.AirflowFailException is exceptions.FailTask
    assert exceptions.AirflowTaskTimeout is exceptions.TaskTimeout
    assert exceptions.AirflowSensorTimeout is exceptions.SensorTimeout
    assert issubclass(exceptions.AirflowSensorTimeout, exceptions.AirflowFailException)
    assert exceptions.AirflowException is exceptions.SlipstreamException


def test_the_porting_guide_lists_every_mapped_import() -> None:
    doc = DOC.read_text(encoding="utf-8")
    missing = [
        f"{module}.{name} -> {target}.{name}"
        for module, names in AIRFLOW_IMPORTS.items()
        for name, target in names.items()
        if f"`{module}.{name}`" not in doc or f"`{target}.{name}`" not in doc
    ]
    assert missing == []


def test_the_rewriter_changes_only_import_lines_and_refuses_unknown_imports() -> None:
    source = (
        "from airflow import DAG\n"
        "from airflow.operators.python import (\n"
        "    PythonOperator,\n"
        "    get_current_context as ctx,\n"
        ")\n"
        "x = 'from airflow import DAG'\n"
    )
    assert port(source) == (
        "from slipstream import DAG\n"
        "from slipstream.operators.python import PythonOperator\n"
        "from slipstream import get_current_context as ctx\n"
        "x = 'from airflow import DAG'\n"
    )
    with pytest.raises(UnsupportedImport, match=r"from airflow\.datasets import Dataset"):
        port("from airflow.datasets import Dataset\n")
    with pytest.raises(UnsupportedImport, match=r"from airflow\.decorators import task_group"):
        port("from airflow.decorators import task, task_group\n")
    with pytest.raises(UnsupportedImport, match="import airflow"):
        port("import airflow\n")


# -- the ported DAGs ------------------------------------------------------------------------


def test_all_ported_dag_files_load_without_import_errors(ported: Path) -> None:
    bag = DagBag(ported, include_examples=False, timeout=60)

    assert bag.import_errors == {}
    assert bag.dag_ids == [
        "branching_rules",
        "mapped_tasks",
        "templated_bash",
        "tutorial_etl",
        "tutorial_taskflow_api",
    ]
    for dag_id, serialized in bag.dags.items():
        assert serialized.doc_md, dag_id
        assert serialized.tags == ["example"], dag_id


def test_tutorial_etl(ported: Path) -> None:
    d = load(ported, "tutorial_etl")

    assert d.catchup is False
    assert d.doc_md is not None and d.doc_md.startswith("\n### Tutorial ETL")
    assert (
        d.get_task("print_date").doc_md == "#### Task documentation\nPrints the day of the week.\n"
    )
    for task_id in ("print_date", "extract", "load"):
        t = d.get_task(task_id)
        assert (t.owner, t.retries) == ("data-eng", 1)  # type: ignore[attr-defined]
    assert d.get_task("sleep").retries == 3  # type: ignore[attr-defined]

    result = run_dag(d)

    all_succeeded(result)
    assert result.xcom("print_date") == "Tuesday"
    templated = result.outcomes[("templated", -1)][0].rendered_fields["bash_command"]
    assert 'echo "2024-01-02 + 2 week(s) = 2024-01-16"' in templated
    assert result.xcom("templated") == "Parameter I passed in"
    assert result.xcom("extract", "orders")[0] == {"id": 1, "amount": 12.5}
    assert result.xcom("transform") == {"day": "2024-01-02", "total": 50.0, "count": 3}
    assert result.xcom("load") == "2024-01-02: 3 orders, 50.00"


def test_taskflow_with_xcom(ported: Path) -> None:
    d = load(ported, "tutorial_taskflow_api")

    assert d.doc_md is not None and d.doc_md.startswith("### TaskFlow API Tutorial Documentation")
    result = run_dag(d)

    all_succeeded(result)
    assert result.xcom("extract") == {"1001": 301.27, "1002": 433.21, "1003": 502.22}
    assert result.xcom("transform", "total_order_value") == 1236.7
    assert result.xcom("load") == "2024-01-02: 3 orders worth 1236.70"


def test_branching_with_trigger_rules(ported: Path) -> None:
    d = load(ported, "branching_rules")

    result = run_dag(d)  # 2024-01-02 is a Tuesday: the weekday path

    assert result.states == {
        "run_this_first": "success",
        "branching": "success",
        "weekday_path.start": "success",
        "weekday_path.work": "success",
        "weekend": "skipped",
        "follow_weekend": "skipped",
        "join": "success",
        "fetch_new_rows": "skipped",
        "cleanup": "success",
        "alert": "skipped",
        "pick_report": "success",
        "summary": "success",
        "full_report": "skipped",
    }
    assert result.xcom("branching") == "weekday_path.start"


def test_mapped_tasks(ported: Path) -> None:
    d = load(ported, "mapped_tasks")

    result = run_dag(d)

    all_succeeded(result)
    assert result.map_states["add"] == ["success"] * 3
    assert result.xcom("add") == [11, 12, 13]
    assert result.xcom("total") == 36
    assert result.xcom("echo") == ["item-a", "item-b"]
    assert result.xcom("multiply") == [2, 12]
    assert result.xcom("power") == [8, 9]


def test_templated_bash(ported: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPSTREAM_CONN_WAREHOUSE", "postgresql://etl@warehouse.example/dw")
    d = load(ported, "templated_bash")
    client = MemoryTaskClient(variables={"region": "eu-west-1"})

    result = run_dag(d, client=client, conf={"env": "prod"})

    all_succeeded(result)
    assert result.xcom("inline") == (
        "shop prod eu-west-1 warehouse.example 20240102 2024-01-01 "
        "scheduled__2024-01-02T00:00:00+00:00"
    )
    assert result.xcom("script") == "report for 2024-01-02 in prod"
    assert result.xcom("greet") == "Hello prod team"

    bad = run_dag(d, client=client, conf={"env": "staging"})
    assert bad.states["inline"] == "failed"
    assert bad.states["greet"] == "upstream_failed"
