"""When a failed try runs again: ``retry_delay``, doubled per try with exponential backoff."""

from __future__ import annotations

import hashlib
from datetime import timedelta

MAX_RETRY_DELAY = timedelta(days=1)


def retry_delay(
    *,
    base: timedelta,
    try_number: int,
    exponential_backoff: bool,
    max_delay: timedelta | None,
    jitter_key: str = "",
) -> timedelta:
    """The wait before try ``try_number + 1``, after try ``try_number`` failed.

    With backoff the delay is ``base * 2 ** (try_number - 1)`` minus up to a
    fixed, key-derived fraction (so retries of many tasks do not all land at
    once, yet each task's delay is reproducible), capped by ``max_delay``.
    """
    cap = max_delay or MAX_RETRY_DELAY
    if not exponential_backoff:
        return min(base, cap)
    exponent = max(try_number - 1, 0)
    seconds = base.total_seconds() * (2**exponent)
    if jitter_key and seconds > 1:
        fraction = int(hashlib.sha1(f"{jitter_key}#{try_number}".encode()).hexdigest()[:8], 16)
        seconds -= (fraction / 0xFFFFFFFF) * (seconds / 4)
    return min(timedelta(seconds=max(seconds, base.total_seconds())), cap)
