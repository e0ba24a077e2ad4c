"""``TimeDeltaSensor``: wait until some time after the end of the run's data interval."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.sensors.base import BaseSensorOperator
from slipstream.timetables import as_utc


class TimeDeltaSensor(BaseSensorOperator):
    """Done once ``delta`` has passed after the run's ``data_interval_end`` (its logical
    date when it has no data interval).

    It wakes exactly at that moment, in poke mode (one sleep) and in reschedule
    mode (one reschedule to the target time), never later than its timeout.
    """

    ui_color = "#dde4ed"

    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        if not isinstance(delta, timedelta):
            raise DagDefinitionError(
                f"TimeDeltaSensor {kwargs.get('task_id')!r}: delta must be a timedelta, "
                f"got {delta!r}"
            )
        super().__init__(**kwargs)
        self.delta = delta

    def target_time(self, context: Mapping[str, Any]) -> datetime:
        base = context.get("data_interval_end") or context.get("logical_date")
        if base is None:
            raise SlipstreamException(
                "TimeDeltaSensor needs a run with a data interval or a logical date"
            )
        return as_utc(base) + self.delta

    def poke(self, context: Mapping[str, Any]) -> bool:
        target = self.target_time(context)
        self.log.info("Checking if the time (%s) has come", target.isoformat())
        return datetime.now(UTC) >= target

    def next_poke_delay(self, context: Mapping[str, Any], poke_count: int, now: datetime) -> float:
        return max(0.0, (self.target_time(context) - now).total_seconds())
