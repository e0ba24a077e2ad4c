"""Rate limit for failed logins: a sliding minute per (user name, client address).

Kept in the API server's memory: several API servers each allow the limit, which
still bounds guessing to a handful of tries per minute per server.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0


class LoginLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = per_minute
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures = self._failures[key]
        horizon = self._clock() - WINDOW_SECONDS
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures

    def retry_after(self, username: str, client: str) -> int:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        with self._lock:
            failures = self._recent((username, client))
            if len(failures) < self._limit:
                return 0
            return max(1, int(failures[0] + WINDOW_SECONDS - self._clock()) + 1)

    def failed(self, username: str, client: str) -> None:
        with self._lock:
            self._recent((username, client)).append(self._clock())

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._failures.pop((username, client), None)
