"""``/api/v2/monitor/health`` reports the database and the heartbeats of the
scheduler and the dag processor, as Airflow's does."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.api.conftest import Api
from tests.cli.crud_support import home_store
from tests.conftest import CliRun


def test_nothing_running_yet(api: Api) -> None:
    body = api.client.get("/api/v2/monitor/health").json()
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"] == {"status": None, "latest_scheduler_heartbeat": None}
    assert body["dag_processor"]["status"] is None


def test_live_and_dead_components(api: Api) -> None:
    store = api.runtime.store
    scheduler = store.start_job("scheduler", "host-a", 1)
    processor = store.start_job("dag_processor", "host-a", 2)
    body = api.client.get("/api/v2/monitor/health").json()
    assert body["scheduler"]["status"] == "healthy"
    assert body["scheduler"]["latest_scheduler_heartbeat"].startswith(
        scheduler.last_heartbeat_at.isoformat()[:19]
    )
    assert body["dag_processor"]["status"] == "healthy"

    store.mark_dead_jobs(kind="dag_processor", older_than=timedelta(seconds=-1))
    store.end_job(processor.id)
    body = api.client.get("/api/v2/monitor/health").json()
    assert body["dag_processor"]["status"] == "unhealthy"
    assert body["dag_processor"]["latest_dag_processor_heartbeat"] is not None


def test_dag_processor_command_records_its_heartbeat(slipstream: CliRun, home: Path) -> None:
    assert slipstream("db", "migrate").returncode == 0
    done = slipstream("dag-processor", "--num-runs", "1")
    assert done.returncode == 0, done.stderr
    with home_store(home) as store:
        jobs = store.list_jobs(kind="dag_processor")
    assert len(jobs) == 1
    assert jobs[0].state == "success"  # ended cleanly
