"""The same commands print the same things locally and through a live API server,
for the commands that read DAGs (which locally come from the DAG files)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from crud_support import home_store
from tests.cli.conftest import ADMIN_PASSWORD, ApiServer

if TYPE_CHECKING:
    from conftest import CliRun

DAG_FILE = textwrap.dedent(
    """
    from datetime import datetime
    from slipstream import DAG, Param, task
    from slipstream.operators.bash import BashOperator

    with DAG(
        "parity",
        start_date=datetime(2025, 1, 1),
        schedule="@daily",
        tags=["demo"],
        params={"n": Param(2, type="integer")},
    ):
        @task
        def double(params=None):
            return params["n"] * 2

        double() >> BashOperator(task_id="show", bash_command="echo hi")
    """
)


@pytest.fixture
def parsed(slipstream: CliRun, home: Path) -> CliRun:
    (home / "dags").mkdir()
    (home / "dags" / "parity.py").write_text(DAG_FILE)
    (home / "dags" / "broken.py").write_text("import nope_not_a_module\n")
    base_env = {"SLIPSTREAM__CORE__LOAD_EXAMPLES": "false"}

    def run(*args: str, env: dict[str, str] | None = None, **kwargs: Any) -> Any:
        return slipstream(*args, env={**base_env, **(env or {})}, **kwargs)

    assert slipstream("db", "migrate", env=base_env).returncode == 0
    done = slipstream("dag-processor", "--num-runs", "1", env=base_env)
    assert done.returncode == 0, done.stderr
    return run


@pytest.mark.parametrize(
    "command",
    [
        ("dags", "list"),
        ("dags", "list", "-o", "json"),
        ("dags", "show", "parity"),
        ("dags", "show", "parity", "--dot"),
        ("tasks", "list", "parity", "-o", "json"),
        ("dags", "versions", "parity", "-o", "json"),
        ("dags", "import-errors", "-o", "json"),
        ("dags", "pause", "parity"),
        ("dags", "show", "nope"),
    ],
)
def test_same_output_both_ways(
    parsed: CliRun, api_server: ApiServer, command: tuple[str, ...]
) -> None:
    remote_env = {
        "SLIPSTREAM__CLI__API_URL": api_server.url,
        "SLIPSTREAM__CLI__API_TOKEN": api_server.token("admin", ADMIN_PASSWORD),
    }
    local = parsed(*command)
    remote = parsed(*command, env=remote_env)
    assert remote.returncode == local.returncode
    if local.returncode == 0:
        assert remote.stdout == local.stdout
    else:
        assert "'nope'" in remote.stderr and "'nope'" in local.stderr


def test_trigger_and_clear_through_the_api(
    parsed: CliRun, api_server: ApiServer, home: Path
) -> None:
    remote_env = {
        "SLIPSTREAM__CLI__API_URL": api_server.url,
        "SLIPSTREAM__CLI__API_TOKEN": api_server.token("admin", ADMIN_PASSWORD),
    }
    triggered = parsed(
        "dags",
        "trigger",
        "parity",
        "--run-id",
        "r1",
        "--conf",
        '{"n": 5}',
        "-o",
        "json",
        env=remote_env,
    )
    assert triggered.returncode == 0, triggered.stderr
    row = json.loads(triggered.stdout)
    assert (row["run_id"], row["conf"], row["state"]) == ("r1", {"n": 5}, "queued")
    assert "paused" in triggered.stderr  # new DAGs start paused, as locally
    bad = parsed("dags", "trigger", "parity", "--conf", '{"n": "x"}', env=remote_env)
    assert bad.returncode == 1
    assert "n" in bad.stderr
    with home_store(home) as store:
        assert [r.run_id for r in store.list_dag_runs(dag_ids=["parity"]).items] == ["r1"]

    states = parsed("tasks", "states-for-dag-run", "parity", "r1", "-o", "json", env=remote_env)
    local_states = parsed("tasks", "states-for-dag-run", "parity", "r1", "-o", "json")
    assert states.stdout == local_states.stdout
    cleared = parsed("tasks", "clear", "parity", "--run-id", "r1", "--yes", env=remote_env)
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == "No task instances to clear."


def test_users_through_the_api(slipstream: CliRun, api_server: ApiServer, home: Path) -> None:
    remote_env = {
        "SLIPSTREAM__CLI__API_URL": api_server.url,
        "SLIPSTREAM__CLI__API_TOKEN": api_server.token("admin", ADMIN_PASSWORD),
    }
    created = slipstream(
        "users",
        "create",
        "-u",
        "ada",
        "-r",
        "op",
        "--password-stdin",
        input="analytical-engine\n",
        env=remote_env,
    )
    assert created.returncode == 0, created.stderr
    assert api_server.token("ada", "analytical-engine")  # the server hashed it; it works
    assert (
        slipstream("users", "list", "-o", "json", env=remote_env).stdout
        == slipstream("users", "list", "-o", "json").stdout
    )
    reset = slipstream(
        "users",
        "reset-password",
        "ada",
        "--password-stdin",
        input="difference-engine\n",
        env=remote_env,
    )
    assert reset.returncode == 0, reset.stderr
    assert api_server.token("ada", "difference-engine")
    short = slipstream(
        "users",
        "create",
        "-u",
        "bob",
        "-r",
        "viewer",
        "--password-stdin",
        input="short\n",
        env=remote_env,
    )
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert slipstream("users", "delete", "ada", env=remote_env).returncode == 0
    with home_store(home) as store:
        assert store.get_user("ada") is None and store.get_user("bob") is None
