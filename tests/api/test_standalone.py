"""``slipstream standalone``: one command starts everything, with a private admin
password, and Ctrl-C stops everything."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.services import free_ports


def _start(home: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "slipstream", "standalone"],
        env={**env, "SLIPSTREAM__API__PORT": str(port), "SLIPSTREAM__CORE__LOAD_EXAMPLES": "false"},
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            body: dict[str, object] = httpx.get(f"{url}/api/v2/monitor/health", timeout=1).json()
            scheduler = body["scheduler"]
            if isinstance(scheduler, dict) and scheduler["status"] == "healthy":
                return body
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("standalone did not become healthy")


def _stop(proc: subprocess.Popen[str]) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, _ = proc.communicate(timeout=30)
    return out


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def test_standalone_runs_everything_with_a_private_admin(
    home: Path, clean_environ: dict[str, str]
) -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    proc = _start(home, clean_environ, port)
    try:
        health = _wait_healthy(url, proc)
        assert health["metadatabase"] == {"status": "healthy"}
        children = _children_of(proc.pid)
        assert len(children) >= 3  # api-server, dag-processor, scheduler
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)

    password_file = home / "standalone_admin_password.txt"
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    printed = re.search(r"Log in as admin with password (\S+) ", out)
    assert printed is not None and printed.group(1) == password
    assert len(password) >= 16

    # A second start keeps the admin and its password, and does not print it again.
    proc = _start(home, clean_environ, port)
    try:
        _wait_healthy(url, proc)
        token = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": password})
        assert token.status_code == 201
    finally:
        out = _stop(proc)
    assert password not in out
    assert f"Log in as admin with the password in {password_file}" in out


def test_a_service_that_dies_stops_the_others_and_is_named(
    home: Path, clean_environ: dict[str, str]
) -> None:
    (port,) = free_ports(1)
    proc = _start(home, clean_environ, port)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", proc)
        children = _children_of(proc.pid)
        scheduler = [
            pid
            for pid in children
            if b"scheduler" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        ]
        assert len(scheduler) == 1
        os.kill(scheduler[0], signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            _stop(proc)
    assert proc.returncode == 1, out
    assert "Error: scheduler stopped unexpectedly" in out
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)
