"""``BaseSensorOperator``: wait until ``poke`` says yes, or time out.

In ``poke`` mode the sensor holds its worker slot and sleeps between pokes; in
``reschedule`` mode it gives the slot back and the scheduler runs it again after
``poke_interval`` (its state meanwhile is ``up_for_reschedule``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from slipstream.exceptions import (
    DagDefinitionError,
    FailTask,
    RescheduleTask,
    SensorTimeout,
    SkipTask,
    TaskTimeout,
)
from slipstream.models.baseoperator import BaseOperator, as_timedelta

MODES = ("poke", "reschedule")


@attrs.frozen
class PokeReturnValue:
    """What ``poke`` may return to also push an XCom once the condition holds."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return self.is_done


class BaseSensorOperator(BaseOperator):
    ui_color = "#e6f1f2"

    def __init__(
        self,
        *,
        poke_interval: timedelta | float = 60,
        timeout: timedelta | float = timedelta(days=7),
        mode: str = "poke",
        soft_fail: bool = False,
        exponential_backoff: bool = False,
        max_wait: timedelta | float | None = None,
        silent_fail: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        interval = as_timedelta(poke_interval, "poke_interval")
        limit = as_timedelta(timeout, "timeout")
        assert interval is not None and limit is not None
        if interval.total_seconds() < 0 or limit.total_seconds() < 0:
            raise DagDefinitionError("poke_interval and timeout must not be negative")
        if mode not in MODES:
            raise DagDefinitionError(f"mode must be 'poke' or 'reschedule', got {mode!r}")
        self.poke_interval = interval
        self.timeout = limit
        self.mode = mode
        self.soft_fail = soft_fail
        self.exponential_backoff = exponential_backoff
        self.max_wait = as_timedelta(max_wait, "max_wait", allow_none=True)
        self.silent_fail = silent_fail

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Is the condition met? Called until it is, or until the timeout."""
        raise NotImplementedError(f"{type(self).__name__} must implement poke(context)")

    def next_poke_interval(self, poke_count: int) -> float:
        """Seconds until the next poke; doubles with jitter under ``exponential_backoff``."""
        base = self.poke_interval.total_seconds()
        if not self.exponential_backoff:
            return base
        delay = base * (2.0 ** max(poke_count - 1, 0)) * random.uniform(0.9, 1.1)
        if self.max_wait is not None:
            delay = min(delay, self.max_wait.total_seconds())
        return float(delay)

    def next_poke_delay(self, context: Mapping[str, Any], poke_count: int, now: datetime) -> float:
        """Seconds from ``now`` until the next poke. A sensor that knows when its condition
        will hold (a time) overrides this to wake exactly then; the timeout still caps it."""
        return self.next_poke_interval(poke_count)

    def _reschedule_poke_count(self, elapsed: float) -> int:
        """Which poke this is, in reschedule mode, where no count survives between tries.

        With doubling waits, poke ``k`` happens about ``base * (2**(k-1) - 1)`` seconds
        after the first one; invert that so that exponential backoff keeps growing.
        """
        base = self.poke_interval.total_seconds()
        if not self.exponential_backoff or base <= 0:
            return 1
        return round(math.log2(max(elapsed, 0.0) / base + 1)) + 1

    def execute(self, context: Mapping[str, Any]) -> Any:
        ti = context.get("ti")
        started = getattr(ti, "first_attempt_started_at", None) or datetime.now(UTC)
        poke_count = getattr(ti, "poke_count", 0)
        limit = self.timeout.total_seconds()
        while True:
            poke_count += 1
            try:
                result = self.poke(context)
            except (SkipTask, FailTask, RescheduleTask, TaskTimeout):
                raise  # a decision, not a flaky poke: silent_fail does not hide it
            except Exception:
                if self.silent_fail:
                    self.log.exception("poke raised; silent_fail is on, poking again")
                    result = False
                else:
                    raise
            if result:
                if isinstance(result, PokeReturnValue):
                    return result.xcom_value
                return None
            now = datetime.now(UTC)
            elapsed = (now - started).total_seconds()
            if elapsed >= limit:
                message = (
                    f"sensor timed out after {elapsed:.1f}s (timeout {self.timeout}); "
                    f"condition not met after {poke_count} poke(s)"
                )
                if self.soft_fail:
                    raise SkipTask(message)
                raise SensorTimeout(message)
            if self.mode == "reschedule":
                poke_count = self._reschedule_poke_count(elapsed)
            # Never sleep past the timeout: the last poke happens at the deadline.
            wait = max(0.0, min(self.next_poke_delay(context, poke_count, now), limit - elapsed))
            if self.mode == "reschedule":
                raise RescheduleTask(now + timedelta(seconds=wait))
            self.log.info("condition not met; poking again in %.1fs", wait)
            time.sleep(wait)
