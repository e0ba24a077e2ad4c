"""The code in the docs runs (so the docs cannot rot).

A fenced block right after ``<!-- doc-file: PATH -->`` is a file of an example. For each
page below, its files are written to a temporary project, and a check script — kept here,
not in the page — runs in a fresh interpreter with the project's ``src`` on the path,
against an in-memory or temporary SQLite store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(
    r"<!-- doc-file: (?P<path>[\w./\-]+) -->\n```[a-z]*\n(?P<body>.*?)\n```", re.DOTALL
)

# What each page's example must do, run with the example's files importable.
CHECKS: dict[str, str] = {
    "embedding.md": "",  # the page's own block asserts what it prints
    "moving-data.md": """
        import os, runpy, sqlite3
        from datetime import datetime, timezone
        from decimal import Decimal
        from slipstream.runtime import Slipstream

        shop, warehouse = HOME / "shop.db", HOME / "warehouse.db"
        with sqlite3.connect(shop) as db:
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, day TEXT, customer TEXT, "
                       "amount TEXT, placed_at TEXT)")
            db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?, ?)", [
                (i, "2024-01-02", f"c{i}", f"{i}.50", f"2024-01-02 10:00:0{i}+00:00")
                for i in range(1, 6)])
        with sqlite3.connect(warehouse) as db:
            db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, "
                       "amount TEXT, placed_at TIMESTAMPTZ)")
            db.execute("INSERT INTO orders VALUES (1, 'old', '0', NULL)")
        os.environ["SLIPSTREAM_CONN_SHOP"] = f"sqlite:///{shop}"
        os.environ["SLIPSTREAM_CONN_WAREHOUSE"] = f"sqlite:///{warehouse}"
        os.environ["SLIPSTREAM_VAR_EXPORT_DIR"] = str(HOME / "exports")
        dag = runpy.run_path(str(PROJECT / "dags" / "nightly_copy.py"))["dag"]

        with Slipstream(SETTINGS, dags=[dag], **ISOLATED) as app:
            day = datetime(2024, 1, 2, tzinfo=timezone.utc)
            run = app.wait(app.trigger("nightly_copy", logical_date=day), timeout=60)
            assert run.state == "success", app.task_states(run)
            assert app.xcom(run, "copy_orders")["rows"] == 5
            assert app.xcom(run, "load_staging")["rows"] == 5
        with sqlite3.connect(warehouse) as db:
            assert db.execute("SELECT id, customer, amount FROM orders ORDER BY id").fetchall(
                )[:2] == [(1, "c1", "1.50"), (2, "c2", "2.50")]  # row 1 updated, not doubled
            assert db.execute("SELECT COUNT(*) FROM staging_orders").fetchone() == (5,)
        assert len((HOME / "exports" / "orders_2024-01-02.jsonl").read_text().splitlines()) == 5
    """,
    "plugins/executor.md": """
        from datetime import datetime
        from slipstream import DAG, task
        from slipstream.runtime import Slipstream
        import slipstream_background.plugin as plugin

        with DAG("check_executor", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            @task
            def one() -> int:
                return 1

            @task(retries=1, retry_delay=0)
            def two(x: int, ti=None) -> int:
                if ti.try_number == 1:
                    raise RuntimeError("the first try fails")
                return x + 1

            two(one())

        with Slipstream({**SETTINGS, "core.executor": "background"}, dags=[dag],
                        plugins=[plugin], **ISOLATED) as app:
            run = app.wait(app.trigger("check_executor"), timeout=30)
            assert run.state == "success", app.task_states(run)
            assert app.xcom(run, "two") == 2
            tries = app.store.list_task_instance_tries(
                app.store.list_task_instances(task_ids=["two"]).items[0].ref)
            assert [t.state for t in tries] == ["up_for_retry", "success"], tries
    """,
    "plugins/queue.md": """
        from slipstream.config import load
        import slipstream_sqlite_queue.plugin as plugin
        import slipstream_sqlite_queue.queue as module

        url = f"sqlite-queue://{HOME}/queue.db"
        config, manager = load(overrides={**SETTINGS, "core.queue": url}, plugins=[plugin],
                               load_entrypoints=False, cwd=HOME, environ=ISOLATED["environ"])
        q = manager.queue_backend_for(config["core.queue"]).record.factory(url)
        q.put("default", "a"); q.put("default", "b", priority=5); q.put("default", "c")
        assert q.size("default") == 3
        first, second = q.get("default"), q.get("default")
        assert (first.body, second.body) == ("b", "a")
        assert q.size("default") == 1
        q.nack(second)
        again = q.get("default")
        assert again.body == "a" and again.delivery_count == 2, again
        q.ack(first); q.ack(again)
        assert q.get("other", timeout=0.1) is None
        module.LEASE_SECONDS = 0.0
        assert q.get("default").body == "c"
        assert q.get("default").delivery_count == 2  # the lease expired: delivered again
        other = module.SqliteQueue(url)  # another connection sees the same messages
        other.put("default", "d")
        assert q.purge("default") == 2
        assert q.health().healthy
        q.close(); other.close()
    """,
    "plugins/metadata-backend.md": """
        import logging
        from datetime import datetime
        from slipstream import DAG, task
        from slipstream.runtime import Slipstream
        import slipstream_audited_store.plugin as plugin

        lines = []
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(record.getMessage())
        logging.getLogger("slipstream.audit").addHandler(handler)
        logging.getLogger("slipstream.audit").setLevel(logging.INFO)

        with DAG("check_store", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            @task
            def hello() -> str:
                return "hi"

            hello()

        settings = {**SETTINGS, "core.metadata": f"audited-sqlite:///{HOME}/audited.db"}
        with Slipstream(settings, dags=[dag], plugins=[plugin], **ISOLATED) as app:
            assert type(app.store).__name__ == "AuditedStore"
            run = app.wait(app.trigger("check_store"), timeout=30)
            assert run.state == "success"
        assert (HOME / "audited.db").exists()
        assert any(line.endswith("-> success") for line in lines), lines
    """,
    "plugins/operator.md": """
        import runpy
        from datetime import UTC, datetime
        from slipstream.plugins.manager import PluginManager
        from slipstream.runtime import Slipstream
        import slipstream_greetings.plugin as plugin
        from slipstream_greetings.operators import GreetOperator

        manager = PluginManager(load_entrypoints=False, plugins=[plugin])
        assert manager.operators()["greet"].record.load() is GreetOperator

        out = HOME / "greetings.txt"
        dag_file = PROJECT / "dags" / "greetings.py"
        dag_file.write_text(dag_file.read_text().replace("/tmp/greetings.txt", str(out)))
        dag = runpy.run_path(str(dag_file))["hello"].dag
        with Slipstream(SETTINGS, dags=[dag], plugins=[plugin], **ISOLATED) as app:
            run = app.trigger("greetings", conf={"who": "slipstream"},
                              logical_date=datetime(2024, 5, 1, tzinfo=UTC))
            run = app.wait(run, timeout=30)
            assert app.task_states(run) == {"hello": "success", "nobody": "skipped"}
            assert app.xcom(run, "hello") == "Hello, slipstream! (2024-05-01)"
        assert out.read_text() == "Hello, slipstream! (2024-05-01)\\n"
    """,
    "plugins/cli-and-settings.md": """
        from click.testing import CliRunner
        from slipstream.cli.main import cli
        from slipstream.cli.state import CliState
        from slipstream.config import find_sources
        from slipstream.plugins.manager import PluginManager
        import slipstream_hello.plugin as plugin

        (HOME / "slipstream.toml").write_text(
            '[core]\\nexecutor = "sequential"\\n\\n[hello]\\ngreeting = "Hi"\\n')

        def invoke(*args, env=None):
            state = CliState()
            state.__dict__["sources"] = find_sources(
                cwd=HOME, environ={**ISOLATED["environ"], **(env or {})})
            state.__dict__["manager"] = PluginManager(load_entrypoints=False, plugins=[plugin])
            return CliRunner().invoke(cli, list(args), obj=state)

        result = invoke("hello", "say", "slipstream")
        assert (result.exit_code, result.output) == (0, "Hi, slipstream!\\n"), result.output
        result = invoke("hello", "say", env={"SLIPSTREAM__HELLO__TIMES": "2"})
        assert result.output == "Hi, world!\\nHi, world!\\n", result.output
        result = invoke("hello", "say", env={"SLIPSTREAM__HELLO__TIMES": "0"})
        assert result.exit_code == 1
        assert ("Error: hello.times: must be at least 1, got 0 "
                "(from environment variable SLIPSTREAM__HELLO__TIMES)") in result.output
        assert "hello" in invoke("--help").output
        assert "Hi" in invoke("config", "get", "hello.greeting").output
    """,
    "plugins/listeners.md": """
        import logging
        from datetime import datetime
        from slipstream import DAG, task
        from slipstream.runtime import Slipstream
        import slipstream_alerts.plugin as plugin

        lines = []
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(record.getMessage())
        logging.getLogger("slipstream.alerts").addHandler(handler)
        logging.getLogger("slipstream.alerts").setLevel(logging.INFO)

        with DAG("alerting", schedule=None, start_date=datetime(2024, 1, 1)) as dag:
            @task(retries=1, retry_delay=0)
            def flaky(ti=None):
                if ti.try_number == 1:
                    raise RuntimeError("disk full")

            @task
            def broken():
                raise ValueError("bad input")

            flaky() >> broken()

        (HOME / "dags").mkdir()
        (HOME / "dags" / "bad.py").write_text("# a slipstream dag\\nimport no_such_module\\n")
        with Slipstream(SETTINGS, dags=[dag], plugins=[plugin], **ISOLATED) as app:
            app.wait(app.trigger("alerting"), timeout=30)
            app.parse()
        text = "\\n".join(lines)
        assert "task alerting.flaky failed on try 1 (will retry): RuntimeError: disk full" in text
        assert "task alerting.broken failed on try 1: ValueError: bad input" in text
        assert "of alerting failed: task failed: broken" in text
        assert "bad.py does not import:" in text and "no_such_module" in text
    """,
}

PRELUDE = """
import sys
from pathlib import Path

PROJECT = Path(sys.argv[1])
HOME = Path(sys.argv[2])
SETTINGS = {
    "core.metadata": f"sqlite:///{HOME}/slipstream.db",
    "core.executor": "sequential",
    "core.load_examples": False,
}
ISOLATED = {"cwd": HOME, "environ": {"SLIPSTREAM_HOME": str(HOME)}, "load_entrypoints": False}
"""


def doc_files(page: str) -> dict[str, str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return {m["path"]: m["body"] + "\n" for m in BLOCK.finditer(text)}


def test_every_page_with_examples_is_checked() -> None:
    pages = {
        str(path.relative_to(DOCS))
        for path in DOCS.rglob("*.md")
        if "<!-- doc-file:" in path.read_text(encoding="utf-8")
    }
    assert pages == set(CHECKS)


@pytest.mark.parametrize("page", sorted(CHECKS))
def test_page_example_runs(page: str, tmp_path: Path) -> None:
    files = doc_files(page)
    assert files, f"{page} has no <!-- doc-file: ... --> blocks"
    project, home = tmp_path / "project", tmp_path / "home"
    home.mkdir()
    for name, body in files.items():
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")

    if "pyproject.toml" in files:  # the entry point names a module the page shows
        pyproject = tomllib.loads(files["pyproject.toml"])
        (module,) = pyproject["project"]["entry-points"]["slipstream"].values()
        assert f"src/{module.replace('.', '/')}.py" in files, module

    if page == "embedding.md":
        script = project / "embedding_example.py"
    else:
        script = tmp_path / "check.py"
        script.write_text(PRELUDE + textwrap.dedent(CHECKS[page]), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env["SLIPSTREAM_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(project / "src"), *filter(None, [env.get("PYTHONPATH")])]
    )
    result = subprocess.run(
        [sys.executable, str(script), str(project), str(home)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{page}:\n{result.stdout}\n{result.stderr}"
