"""``slipstream scheduler``, ``dag-processor`` and ``standalone``: the long-running parts."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from slipstream.cli.state import get_state

log = logging.getLogger("slipstream.cli")


def _configure_logging() -> None:
    level = get_state().config["logging.level"]
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="[%(asctime)s] %(levelname)s %(name)s - %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _runtime(*, migrate: bool, **overrides: Any) -> Any:
    from slipstream.runtime import Slipstream

    app = Slipstream(overrides, migrate=migrate)
    status = app.store.check()
    if not status.ok:
        app.store.close()
        raise click.ClickException(status.message)
    return app


def _stop_on_signals(stop: Any) -> None:
    def handler(signum: int, frame: Any) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@click.command("scheduler")
@click.option("--num-runs", type=int, default=None, help="Stop after this many loops (tests).")
def scheduler(num_runs: int | None) -> None:
    """Run the scheduler until stopped (Ctrl-C or SIGTERM)."""
    from slipstream.cli.store_access import require_local

    require_local("scheduler")
    _configure_logging()
    app = _runtime(migrate=False)
    _stop_on_signals(app.scheduler.request_stop)
    app.start()
    log.info("scheduler %s started (executor %s)", app.scheduler.id, app.config["core.executor"])
    try:
        if num_runs is None:
            app.scheduler.run()
        else:
            for _ in range(num_runs):
                if not app.scheduler.tick():
                    app.executor.wait_for_events(app.scheduler.poll_interval)
    finally:
        app.close()
    log.info("scheduler stopped")


DAG_PROCESSOR_HEARTBEAT_SECONDS = 5.0


@click.command("dag-processor")
@click.option("--num-runs", type=int, default=None, help="Stop after this many passes (tests).")
def dag_processor(num_runs: int | None) -> None:
    """Keep the store's DAGs in step with the DAG files until stopped."""
    from slipstream.cli.store_access import require_local

    require_local("dag-processor")
    _configure_logging()
    app = _runtime(migrate=False)
    stopping = False

    def stop() -> None:
        nonlocal stopping
        stopping = True

    _stop_on_signals(stop)
    interval = app.config["dag_processor.scan_interval"]
    log.info("dag processor watching %s", app.config["core.dags_folder"])
    app.plugins.notify("on_starting", component=app.processor)
    # A job row with a heartbeat, so that /api/v2/monitor/health can tell whether a
    # dag processor is alive.
    job = app.store.start_job("dag_processor", socket.gethostname(), os.getpid())
    last_beat = time.monotonic()
    passes = 0
    try:
        while not stopping and (num_runs is None or passes < num_runs):
            if time.monotonic() - last_beat >= DAG_PROCESSOR_HEARTBEAT_SECONDS:
                app.store.heartbeat_job(job.id)
                last_beat = time.monotonic()
            report = app.processor.sync()
            if report.parsed:
                log.info(
                    "parsed %d file(s): %d DAG(s), %d import error(s)",
                    len(report.parsed),
                    len(report.dag_ids),
                    len(report.errors),
                )
            passes += 1
            deadline = time.monotonic() + interval
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.1, interval))
    finally:
        app.plugins.notify("before_stopping", component=app.processor)
        app.store.end_job(job.id)
        app.close()


@click.command("api-server")
@click.option("--host", default=None, help="Address to listen on (default: api.host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: api.port).")
def api_server(host: str | None, port: int | None) -> None:
    """Serve the REST API and the web UI until stopped (Ctrl-C or SIGTERM)."""
    from slipstream.cli.store_access import require_local

    require_local("api-server")
    from slipstream.api.server import serve
    from slipstream.metadata import open_store

    _configure_logging()
    state = get_state()
    store = open_store(state.config, state.manager)
    try:
        status = store.check()
    finally:
        store.close()
    if not status.ok:
        raise click.ClickException(status.message)
    serve(
        state.config,
        state.manager,
        host=host or state.config["api.host"],
        port=port or state.config["api.port"],
    )


ADMIN_PASSWORD_FILE = "standalone_admin_password.txt"


def _ensure_admin(store: Any, home: Path) -> str:
    """Create the ``admin`` user on first start, with a random password kept in the
    home (mode 0600); what to tell the person at the terminal."""
    from slipstream.api.auth.passwords import generate_password, hash_password

    path = home / ADMIN_PASSWORD_FILE
    if store.get_user("admin") is not None:
        if path.exists():
            return f"Log in as admin with the password in {path}"
        return "Log in as admin (password unchanged; `slipstream users reset-password admin`)"
    password = generate_password()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    store.create_user("admin", role="admin", password_hash=hash_password(password))
    return f"Log in as admin with password {password} (also kept in {path})"


@click.command("standalone")
def standalone() -> None:
    """Everything for a laptop: migrate the store, create the admin user, then run the
    dag processor, the scheduler and the API server until Ctrl-C, which stops them all."""
    from slipstream.cli.store_access import require_local

    require_local("standalone")
    from slipstream.metadata import open_store

    _configure_logging()
    state = get_state()
    config = state.config
    store = open_store(config, state.manager)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    command = [sys.executable, "-m", "slipstream"]
    names = ["api-server", "dag-processor", "scheduler"]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    children = [subprocess.Popen([*command, name]) for name in names]
    try:
        # The services start while the admin's password is hashed (slow on purpose).
        try:
            login = _ensure_admin(store, config.home)
        finally:
            store.close()
        host, port = config["api.host"], config["api.port"]
        click.echo(
            f"slipstream {config['core.executor']} executor, "
            f"DAGs from {config['core.dags_folder']}"
            + (" and the examples" if config["core.load_examples"] else "")
            + f".\nUI and API on http://{host}:{port}/ . {login}.\nCtrl-C stops."
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # Waiting needs none of this process's memory: become a small supervisor that
        # imports only the standard library (the children stay ours). Signals are
        # blocked from here: one that comes stays pending across the exec, and the
        # supervisor acts on it once its handlers are in place. One that came already
        # is sent again, to be pending too.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        if stopping:
            os.kill(os.getpid(), signal.SIGTERM)
        supervisor = Path(__file__).with_name("_supervisor.py")
        pairs = [f"{name}={child.pid}" for name, child in zip(names, children, strict=True)]
        os.execv(sys.executable, [sys.executable, "-I", "-S", str(supervisor), *pairs])
    except BaseException:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        raise
