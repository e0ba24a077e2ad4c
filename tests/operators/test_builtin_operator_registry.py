"""The built-in operators and sensors are offered through the operators hook."""

from __future__ import annotations

import subprocess
import sys

import pytest

from slipstream.models.baseoperator import BaseOperator
from slipstream.plugins import OperatorSpec
from slipstream.plugins.builtins.operators import BUILTIN_OPERATORS
from slipstream.plugins.manager import PluginManager
from slipstream.sensors.base import BaseSensorOperator

EXPECTED = {
    "empty": "slipstream.operators.empty:EmptyOperator",
    "python": "slipstream.operators.python:PythonOperator",
    "branch_python": "slipstream.operators.python:BranchPythonOperator",
    "short_circuit": "slipstream.operators.python:ShortCircuitOperator",
    "bash": "slipstream.operators.bash:BashOperator",
    "http": "slipstream.operators.http:HttpOperator",
    "sql": "slipstream.operators.sql:SQLExecuteQueryOperator",
    "generic_transfer": "slipstream.operators.transfer:GenericTransfer",
    "sql_to_file": "slipstream.operators.transfer:SqlToFileOperator",
    "file_to_sql": "slipstream.operators.transfer:FileToSqlOperator",
    "trigger_dagrun": "slipstream.operators.trigger_dagrun:TriggerDagRunOperator",
    "python_sensor": "slipstream.sensors.python:PythonSensor",
    "file_sensor": "slipstream.sensors.filesystem:FileSensor",
    "time_delta_sensor": "slipstream.sensors.time_delta:TimeDeltaSensor",
    "external_task_sensor": "slipstream.sensors.external_task:ExternalTaskSensor",
}


def test_every_builtin_is_registered_under_its_name() -> None:
    assert {name: path for name, path, _ in BUILTIN_OPERATORS} == EXPECTED
    assert all(description.strip() for _, _, description in BUILTIN_OPERATORS)


@pytest.mark.parametrize(("name", "import_path", "description"), BUILTIN_OPERATORS)
def test_every_import_path_loads_a_base_operator_subclass(
    name: str, import_path: str, description: str
) -> None:
    loaded = OperatorSpec(name=name, import_path=import_path, description=description).load()

    assert isinstance(loaded, type)
    assert issubclass(loaded, BaseOperator)
    assert issubclass(loaded, BaseSensorOperator) == name.endswith("_sensor")


def test_the_plugin_manager_offers_them_from_the_core_distribution() -> None:
    operators = PluginManager(load_entrypoints=False).operators()

    for name in EXPECTED:
        assert operators[name].distribution == "slipstream"
        assert operators[name].record.import_path == EXPECTED[name]


def python(code: str) -> str:
    """What ``code`` prints in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_listing_operators_imports_none_of_them() -> None:
    code = (
        "import sys\n"
        "from slipstream.plugins.manager import PluginManager\n"
        "PluginManager(load_entrypoints=False).operators()\n"
        "heavy = [m for m in ('httpx', 'sqlalchemy', 'slipstream.operators.http',"
        " 'slipstream.operators.sql', 'slipstream.operators.transfer') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_importing_the_http_operator_does_not_import_httpx() -> None:
    """DAG files import operators while parsing; the HTTP client loads only to run."""
    code = "import sys, slipstream.operators.http; print('httpx' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_importing_the_transfer_operators_does_not_import_sqlalchemy_or_pyarrow() -> None:
    """DAG files import operators while parsing; database and file libraries load to run."""
    code = (
        "import sys, slipstream.operators.transfer\n"
        "print([m for m in ('sqlalchemy', 'pyarrow', 'fsspec') if m in sys.modules])"
    )
    assert python(code) == "[]"
