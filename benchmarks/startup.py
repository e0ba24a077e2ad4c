"""How quickly ``slipstream standalone`` is up, and what it costs at rest.

    python benchmarks/startup.py [--idle-seconds 10]

Prints one line of JSON: seconds from the command's start to a healthy API
(``/api/v2/monitor/health`` answering 200 with a healthy metadatabase), to a
healthy scheduler too, the combined RSS, PSS (shared pages split between their
processes: the memory really taken) and CPU of every slipstream process while idle on
the example DAGs, and how long Ctrl-C takes to stop them all. Target
(issue 6): a healthy API in under 3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pss_mb(pid: int) -> float:
    """Proportional set size: shared pages split between the processes sharing them, so
    the sum over processes is the memory they really take (RSS counts shared pages in
    every process: the local executor's forks share most of theirs)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="slip-bench-standalone-"))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPSTREAM")}
    env.update(SLIPSTREAM_HOME=str(home), SLIPSTREAM__API__PORT=str(port))
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "slipstream", "standalone"],
        env=env,
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    api_ready = scheduler_ready = None
    try:
        while scheduler_ready is None and time.monotonic() - started < 60:
            try:
                body = httpx.get(url, timeout=1).json()
            except (httpx.TransportError, ValueError):
                body = None
            now = time.monotonic() - started
            if body and body["metadatabase"]["status"] == "healthy" and api_ready is None:
                api_ready = now
            if body and body["scheduler"]["status"] == "healthy":
                scheduler_ready = now
            time.sleep(0.02)
        time.sleep(2)  # let the first parse of the examples finish
        pids = [proc.pid, *_children(proc.pid)]
        cpu_before = sum(_cpu_seconds(pid) for pid in pids)
        time.sleep(args.idle_seconds)
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()]
        cpu = sum(_cpu_seconds(pid) for pid in pids) - cpu_before
        rss = sum(_rss_mb(pid) for pid in pids)
        pss = sum(_pss_mb(pid) for pid in pids)
    finally:
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        stopped = time.monotonic() - stop_started
    result: dict[str, Any] = {
        "workload": "standalone_startup",
        "api_healthy_s": round(api_ready, 2) if api_ready is not None else None,
        "scheduler_healthy_s": round(scheduler_ready, 2) if scheduler_ready is not None else None,
        "processes": len(pids),
        "idle_rss_mb": round(rss, 1),
        "idle_pss_mb": round(pss, 1),
        "idle_cpu_percent": round(100 * cpu / args.idle_seconds, 2),
        "stop_s": round(stopped, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
