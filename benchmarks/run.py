"""slipstream's speed, measured: ``make bench`` (or ``python benchmarks/run.py [NAMES]``).

Each workload prints one line of JSON. Runs embed slipstream (store, scheduler,
executor in this process, workers forked by the local executor), so the
figures are the scheduler's and the workers' own, without a server in between.

    fanout_1000   1 -> 1000 no-op Python tasks -> 1
    chain_100     100 no-op tasks in a line (hop latency)
    dags_100x10   100 DAGs of 10 tasks, triggered together
    backfill_365  a 3-task daily DAG over a year
    idle_scheduler  CPU and memory of a scheduler with nothing to do
    dag_processor_1000  a dag processor's first parse of 1,000 DAG files of 10
                  tasks, then its CPU while nothing changes
    transfer_100k, transfer_1m  GenericTransfer of 100,000 / 1,000,000 rows of five
                  columns from SQLite into PostgreSQL, in a worker process:
                  rows per second and the worker's peak RSS (not among the defaults)

``--store postgresql`` runs them on a PostgreSQL started from the system's
binaries (or ``SLIPSTREAM_TEST_POSTGRES_URL``); the transfer workloads always
write into such a PostgreSQL.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slipstream import DAG, task
from slipstream.operators.empty import EmptyOperator
from slipstream.runtime import Slipstream

START = datetime(2024, 1, 1, tzinfo=UTC)


def noop() -> None:
    return None


def fanout(n: int) -> DAG:
    with DAG("fanout", start_date=START) as dag:
        first, last = EmptyOperator(task_id="start"), EmptyOperator(task_id="end")
        for i in range(n):
            first >> task(noop, task_id=f"t{i}")().operator >> last
    return dag


def chain(n: int) -> DAG:
    with DAG("chain", start_date=START) as dag:
        previous = None
        for i in range(n):
            current = task(noop, task_id=f"t{i}")().operator
            if previous is not None:
                previous >> current
            previous = current
    return dag


def small(dag_id: str) -> DAG:
    with DAG(dag_id, start_date=START) as dag:
        tasks = [task(noop, task_id=f"t{i}")().operator for i in range(10)]
        for up, down in itertools.pairwise(tasks):
            up >> down
    return dag


def daily() -> DAG:
    with DAG("daily", start_date=START, schedule="@daily", max_active_runs=16) as dag:
        a, b, c = (task(noop, task_id=name)().operator for name in ("a", "b", "c"))
        a >> b >> c
    return dag


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def app_for(store_url: str, *dags: DAG, executor: str) -> Iterator[Slipstream]:
    with tempfile.TemporaryDirectory() as home:
        settings: dict[str, Any] = {
            "core.metadata": store_url.replace("{home}", home),
            "core.executor": executor,
            "core.parallelism": 32,
            "core.load_examples": False,
            "core.dags_folder": f"{home}/dags",
            "logging.base_log_folder": f"{home}/logs",
            "scheduler.poll_interval": 0.2,
        }
        app = Slipstream(settings, dags=dags, environ={"SLIPSTREAM_HOME": home})
        try:
            yield app
        finally:
            app.close()


def hops(app: Slipstream, runs: list[Any]) -> list[float]:
    """Finish of each upstream to start of its downstream, in milliseconds."""
    out: list[float] = []
    for run in runs:
        tis = app.store.list_task_instances(
            dag_ids=[run.dag_id], run_ids=[run.run_id], limit=None
        ).items
        by_id = {ti.task_id: ti for ti in tis}
        version = app.store.get_dag_version_by_id(run.dag_version_id)
        assert version is not None
        for t in version.serialized["tasks"]:
            down = by_id[t["task_id"]]
            ups = [by_id[u] for u in t["upstream"]]
            if not ups or down.start_date is None:
                continue
            last_end = max(u.end_date for u in ups if u.end_date is not None)
            out.append((down.start_date - last_end).total_seconds() * 1000)
    return out


def measure(
    name: str,
    store_url: str,
    dags: list[DAG],
    executor: str,
    trigger: Callable[[Slipstream], list[Any]],
) -> dict[str, Any]:
    with app_for(store_url, *dags, executor=executor) as app:
        app.start()
        began = time.perf_counter()
        runs = trigger(app)
        final = [app.wait(run, timeout=600) for run in runs]
        wall = time.perf_counter() - began
        tries = sum(
            app.store.list_task_instances(
                dag_ids=[r.dag_id], run_ids=[r.run_id], states=["success"], limit=0
            ).total
            for r in final
        )
        latencies = sorted(hops(app, final))
    return {
        "workload": name,
        "executor": executor,
        "store": store_url.split(":", 1)[0],
        "runs_ok": sum(r.state == "success" for r in final),
        "runs": len(final),
        "tries": tries,
        "wall_s": round(wall, 3),
        "tries_per_s": round(tries / wall, 1),
        "hop_median_ms": round(statistics.median(latencies), 2) if latencies else None,
        "hop_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2) if latencies else None,
        "scheduler_peak_rss_mb": round(rss_mb(resource.RUSAGE_SELF), 1),
        "worker_peak_rss_mb": round(rss_mb(resource.RUSAGE_CHILDREN), 1),
        "scheduler_cpu_s": round(cpu_s(resource.RUSAGE_SELF), 2),
        "workers_cpu_s": round(cpu_s(resource.RUSAGE_CHILDREN), 2),
    }


def bench_backfill(store_url: str, executor: str) -> dict[str, Any]:
    from slipstream.scheduler.backfill import Backfill

    with app_for(store_url, daily(), executor=executor) as app:
        began = time.perf_counter()
        job = Backfill(app, "daily", START, START + timedelta(days=364))
        job.run(timeout=1800)
        wall = time.perf_counter() - began
        counts = job.summary()
        latencies = sorted(hops(app, list(job.runs.values())))
    return {
        "workload": "backfill_365",
        "executor": executor,
        "store": store_url.split(":", 1)[0],
        "runs_ok": counts.get("success", 0),
        "runs": sum(counts.values()),
        "tries": 3 * counts.get("success", 0),
        "wall_s": round(wall, 3),
        "tries_per_s": round(3 * counts.get("success", 0) / wall, 1),
        "hop_median_ms": round(statistics.median(latencies), 2) if latencies else None,
        "hop_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2) if latencies else None,
        "scheduler_peak_rss_mb": round(rss_mb(resource.RUSAGE_SELF), 1),
        "worker_peak_rss_mb": round(rss_mb(resource.RUSAGE_CHILDREN), 1),
        "scheduler_cpu_s": round(cpu_s(resource.RUSAGE_SELF), 2),
        "workers_cpu_s": round(cpu_s(resource.RUSAGE_CHILDREN), 2),
    }


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def bench_idle(store_url: str, executor: str, seconds: float = 10.0) -> dict[str, Any]:
    """A ``slipstream scheduler`` process with the example DAGs parsed and nothing to do."""
    with tempfile.TemporaryDirectory() as home:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
        env.update(
            {
                "SLIPSTREAM_HOME": home,
                "SLIPSTREAM__CORE__METADATA": store_url.replace("{home}", home),
                "SLIPSTREAM__CORE__EXECUTOR": executor,
            }
        )
        with Slipstream(environ=env) as app:
            app.parse()
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "slipstream", "scheduler"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # started, first passes done
            startup = time.perf_counter() - began
            cpu_before = _cpu_seconds(proc.pid)
            time.sleep(seconds)
            cpu = _cpu_seconds(proc.pid) - cpu_before
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
    return {
        "workload": "idle_scheduler",
        "executor": executor,
        "store": store_url.split(":", 1)[0],
        "window_s": seconds,
        "cpu_percent": round(100 * cpu / seconds, 2),
        "scheduler_rss_mb": round(rss, 1),
        "measured_after_s": round(startup, 1),
    }


TRANSFER_ROWS = {"transfer_100k": 100_000, "transfer_1m": 1_000_000}
TRANSFER_PAGE_SIZE = 10_000


def _source_rows(count: int) -> Iterator[tuple[Any, ...]]:
    """Five columns as SQLite holds them: an id, text, a decimal and a timestamp as text,
    and a boolean as 0/1 (so every page is converted on its way into PostgreSQL)."""
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(1, count + 1):
        yield (
            i,
            f"customer {i % 9973} ünïcode",
            f"{i % 100000}.{i % 100:02d}",
            (base + timedelta(seconds=i)).isoformat(sep=" "),
            i % 2,
        )


def _vm_hwm_mb(pid: int) -> float | None:
    """The peak RSS of a live process, from the kernel."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def bench_transfer(name: str, store_url: str, executor: str) -> dict[str, Any]:
    """SQLite -> PostgreSQL through GenericTransfer, run as a task in a worker process."""
    import sqlite3

    from sqlalchemy import create_engine, make_url
    from sqlalchemy.pool import NullPool

    from slipstream.metadata.records import TaskInstanceRef
    from slipstream.operators.transfer import GenericTransfer

    count = TRANSFER_ROWS[name]
    target = make_url(os.environ["SLIPSTREAM_TEST_POSTGRES_URL"])
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source.db"
        with sqlite3.connect(source) as conn:
            conn.execute(
                "CREATE TABLE rows (id INTEGER PRIMARY KEY, label TEXT, amount TEXT, "
                "created_at TIMESTAMPTZ, flag BOOLEAN)"
            )
            conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?)", _source_rows(count))
        engine = create_engine(target, poolclass=NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_rows")
            conn.exec_driver_sql(
                "CREATE TABLE bench_rows (id BIGINT PRIMARY KEY, label TEXT, "
                "amount NUMERIC(12, 2), created_at TIMESTAMPTZ, flag BOOLEAN)"
            )
        # The worker finds the connections in its environment, inherited from this process.
        os.environ["SLIPSTREAM_CONN_BENCH_SOURCE"] = json.dumps(
            {"conn_type": "sqlite", "host": str(source)}
        )
        os.environ["SLIPSTREAM_CONN_BENCH_TARGET"] = json.dumps(
            {
                "conn_type": "postgres",
                "host": target.host,
                "port": target.port,
                "login": target.username,
                "password": target.password,
                "schema": target.database,
            }
        )
        with DAG("transfer", start_date=START) as dag:
            GenericTransfer(
                task_id="copy",
                source_conn_id="bench_source",
                destination_conn_id="bench_target",
                sql="SELECT * FROM rows",
                destination_table="bench_rows",
                page_size=TRANSFER_PAGE_SIZE,
            )
        with app_for(store_url, dag, executor=executor) as app:
            app.start()
            run = app.trigger("transfer")
            app.scheduler.start_run(run)
            ref = TaskInstanceRef(dag_id="transfer", run_id=run.run_id, task_id="copy")
            peak, began = 0.0, time.perf_counter()
            while True:
                current = app.store.get_dag_run(run.dag_id, run.run_id)
                if current is not None and current.state.finished:
                    break
                if not app.scheduler.tick():
                    app.executor.wait_for_events(0.05)
                ti = app.store.get_task_instance(ref)
                if ti is not None and ti.pid is not None:
                    peak = max(peak, _vm_hwm_mb(ti.pid) or 0.0)
            wall = time.perf_counter() - began
            totals = app.xcom(current, "copy")
            assert current.state == "success", app.task_states(current)
        with engine.connect() as conn:
            written = conn.exec_driver_sql("SELECT COUNT(*) FROM bench_rows").scalar_one()
            conn.exec_driver_sql("DROP TABLE bench_rows")
            conn.commit()
        engine.dispose()
    assert written == count, (written, count)
    return {
        "workload": name,
        "source": "sqlite",
        "destination": "postgresql",
        "rows": totals["rows"],
        "columns": 5,
        "page_size": TRANSFER_PAGE_SIZE,
        "pages": totals["pages"],
        "mib": round(totals["bytes"] / 2**20, 1),
        "transfer_s": totals["seconds"],
        "rows_per_s": round(totals["rows_per_second"]),
        "wall_s": round(wall, 2),
        "worker_peak_rss_mb": round(peak, 1),
    }


DAG_FILE = """
from datetime import datetime
from slipstream import DAG, task

with DAG("bench_{index:04}", start_date=datetime(2024, 1, 1), schedule=None, tags=["bench"]):
    previous = None
    for n in range(10):

        @task(task_id=f"t{{n}}")
        def step(n=n):
            return n

        current = step().operator
        if previous is not None:
            previous >> current
        previous = current
"""


def _cpu_with_children(pid: int) -> float:
    """utime + stime of the process and of its children it has waited for."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


DEFAULT_REFRESH_INTERVAL = 300.0  # dag_processor.refresh_interval's default


def bench_dag_processor(store_url: str, files: int = 1000, seconds: float = 15.0) -> dict[str, Any]:
    """A ``slipstream dag-processor`` process over a folder of ``files`` DAG files: how
    long its first parse takes, then its CPU over ``seconds`` while no file changes.

    The steady window measures passes that find nothing to do: the refresh interval is
    set out of its reach. Refreshes (each file once per ``dag_processor.refresh_interval``,
    spread over it) cost what a first parse does once per interval: reported as the
    average CPU they take at the default interval."""
    from slipstream.metadata import open_store

    with tempfile.TemporaryDirectory() as home:
        folder = Path(home) / "dags"
        folder.mkdir()
        for index in range(files):
            (folder / f"bench_{index:04}.py").write_text(DAG_FILE.format(index=index))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
        env.update(
            {
                "SLIPSTREAM_HOME": home,
                "SLIPSTREAM__CORE__METADATA": store_url.replace("{home}", home),
                "SLIPSTREAM__CORE__DAGS_FOLDER": str(folder),
                "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false",
                "SLIPSTREAM__DAG_PROCESSOR__REFRESH_INTERVAL": "86400",
            }
        )
        with Slipstream(environ=env) as app:  # migrates the store
            store = open_store(app.config, app.plugins)
        began = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "slipstream", "dag-processor"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            # A file's parse record is written after its DAG: all there, first parse done.
            # (Only this folder's: a PostgreSQL database may hold other runs' records.)
            prefix = str(folder.resolve()) + os.sep

            def parse_records() -> list[Any]:
                return [p for p in store.list_file_parses() if p.path.startswith(prefix)]

            while len(parse_records()) < files:
                if proc.poll() is not None:
                    raise SystemExit(f"the dag processor exited with {proc.returncode}")
                if time.perf_counter() - began > 1800:
                    raise SystemExit("the first parse took more than 30 minutes")
                time.sleep(0.1)
            first = time.perf_counter() - began
            first_cpu = _cpu_with_children(proc.pid)
            dags = sum(d.dag_id.startswith("bench_") for d in store.list_dags(limit=None).items)
            time.sleep(2)  # let the pass that follows the first one end
            parsed_at = {p.path: p.last_parsed_at for p in parse_records()}
            cpu_before = _cpu_with_children(proc.pid)
            time.sleep(seconds)
            cpu = _cpu_with_children(proc.pid) - cpu_before
            reparsed = sum(parsed_at.get(p.path) != p.last_parsed_at for p in parse_records())
            peak = _peak_rss_mb(proc.pid)
            rss = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(15)
            store.close()
    return {
        "workload": f"dag_processor_{files}",
        "store": store_url.split(":", 1)[0],
        "files": files,
        "dags": dags,
        "first_parse_s": round(first, 2),
        "files_per_s": round(files / first, 1),
        "first_parse_cpu_s": round(first_cpu, 2),
        "peak_rss_mb": round(peak, 1),
        "steady_window_s": seconds,
        "steady_cpu_percent": round(100 * cpu / seconds, 2),
        "steady_rss_mb": round(rss, 1),
        "steady_reparsed_files": reparsed,
        "refresh_cpu_percent_at_300s": round(100 * first_cpu / DEFAULT_REFRESH_INTERVAL, 2),
    }


def workload(name: str, store_url: str, executor: str) -> dict[str, Any]:
    if name == "fanout_1000":
        return measure(name, store_url, [fanout(1000)], executor, lambda a: [a.trigger("fanout")])
    if name == "chain_100":
        return measure(name, store_url, [chain(100)], executor, lambda a: [a.trigger("chain")])
    if name == "dags_100x10":
        dags = [small(f"d{i:03}") for i in range(100)]
        return measure(
            name, store_url, dags, executor, lambda a: [a.trigger(d.dag_id) for d in dags]
        )
    if name == "backfill_365":
        return bench_backfill(store_url, executor)
    if name == "idle_scheduler":
        return bench_idle(store_url, executor)
    if name in TRANSFER_ROWS:
        return bench_transfer(name, store_url, executor)
    if name == "dag_processor_1000":
        return bench_dag_processor(store_url)
    raise SystemExit(f"unknown workload {name!r}")


NAMES = (
    "chain_100",
    "fanout_1000",
    "dags_100x10",
    "backfill_365",
    "idle_scheduler",
    "dag_processor_1000",
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("names", nargs="*", default=list(NAMES))
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--executor", default="local")
    args = parser.parse_args()
    needs_postgres = args.store == "postgresql" or any(n in TRANSFER_ROWS for n in args.names)
    if needs_postgres and not os.environ.get("SLIPSTREAM_TEST_POSTGRES_URL"):
        # A throwaway PostgreSQL from the system's binaries, the same one the tests use.
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.services import start_postgres

        with start_postgres() as server:
            os.environ["SLIPSTREAM_TEST_POSTGRES_URL"] = server.create_database()
            run_all(args)
        return
    run_all(args)


def run_all(args: argparse.Namespace) -> None:
    store_url = "sqlite:///{home}/bench.db"
    if args.store == "postgresql":
        store_url = os.environ["SLIPSTREAM_TEST_POSTGRES_URL"]
    for name in args.names:
        # One process per workload, so peak RSS figures belong to that workload alone.
        if len(args.names) > 1:
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    name,
                    "--store",
                    args.store,
                    "--executor",
                    args.executor,
                ],
                check=True,
            )
            continue
        print(json.dumps(workload(name, store_url, args.executor)), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
