"""What ``slipstream standalone`` becomes once its services run: a process that waits
for them, stops them all on Ctrl-C or when one of them ends, and says which ended.

``standalone`` replaces itself with this file (``os.execv``), run on its own: it imports
nothing but the standard library, so waiting costs a few MB instead of a whole CLI's
memory. Arguments: ``NAME=PID`` for each service, its child. SIGINT and SIGTERM arrive
blocked (``standalone`` blocks them before the exec) and are taken here once the
handlers are in place, so none is lost in between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

STOP_SECONDS = 15.0


def _clean(status: int) -> bool:
    """Exited 0, or ended by the SIGTERM we sent."""
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status) == 0
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def _reap(children: dict[int, str], ended: dict[int, int]) -> None:
    """Collect every child that has exited, without waiting."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid in children:
            ended[pid] = status


def main(argv: list[str]) -> int:
    children = {int(pid): name for name, pid in (arg.split("=", 1) for arg in argv)}
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    ended: dict[int, int] = {}
    while not stopping and not ended:
        _reap(children, ended)
        if not ended:
            time.sleep(0.2)
    unexpected = [children[pid] for pid, status in ended.items() if not _clean(status)]
    for pid in children:
        if pid not in ended:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while len(ended) < len(children) and time.monotonic() < deadline:
        _reap(children, ended)
        time.sleep(0.05)
    for pid in children:
        if pid not in ended:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
    if unexpected and not stopping:
        print(f"Error: {', '.join(sorted(unexpected))} stopped unexpectedly", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
