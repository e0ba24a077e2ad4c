"""Schedules: when a DAG runs and which data interval each run covers.

A schedule is data (a cron expression and time zone, a fixed delta, once, or
none), so the scheduler can compute runs from a serialized DAG without
importing the DAG file. Semantics are Airflow's data-interval ones: a run for
the interval ``[start, end)`` is created once ``end`` has passed, and its
logical date is ``start``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
from croniter import croniter

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def as_utc(value: datetime, timezone: str = "UTC") -> datetime:
    """Aware UTC; a naive value is read in ``timezone``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=get_timezone(timezone))
    return value.astimezone(UTC)


def get_timezone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like 'Europe/Paris')"
        ) from None


@attrs.frozen
class DataInterval:
    start: datetime
    end: datetime


@attrs.frozen
class DagRunInfo:
    """The next run a schedule asks for."""

    logical_date: datetime
    data_interval: DataInterval
    run_after: datetime


class Timetable:
    """Base class; subclasses are frozen, serializable, and need no user code."""

    kind: ClassVar[str]
    periodic: ClassVar[bool] = True

    @property
    def summary(self) -> str:
        raise NotImplementedError

    def next_dagrun_info(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DagRunInfo | None:
        """The next scheduled run after ``last_interval`` (the latest scheduled one), or None."""
        raise NotImplementedError

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""
        return DataInterval(run_after, run_after)

    def data_interval_for(self, logical_date: datetime) -> DataInterval:
        """The interval a scheduled run with this logical date covers (backfills, tests)."""
        return DataInterval(logical_date, logical_date)

    def serialize(self) -> dict[str, Any]:
        raise NotImplementedError


@attrs.frozen
class NullTimetable(Timetable):
    """``schedule=None``: only manual and triggered runs."""

    kind: ClassVar[str] = "none"
    periodic: ClassVar[bool] = False

    @property
    def summary(self) -> str:
        return "None"

    def next_dagrun_info(self, **_: Any) -> DagRunInfo | None:
        return None

    def serialize(self) -> dict[str, Any]:
        return {"type": self.kind}


@attrs.frozen
class OnceTimetable(Timetable):
    """``@once``: one run at the start date."""

    kind: ClassVar[str] = "once"
    periodic: ClassVar[bool] = False

    @property
    def summary(self) -> str:
        return "@once"

    def next_dagrun_info(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DagRunInfo | None:
        if last_interval is not None or start_date is None:
            return None
        return DagRunInfo(start_date, DataInterval(start_date, start_date), start_date)

    def serialize(self) -> dict[str, Any]:
        return {"type": self.kind}


@attrs.frozen
class CronTimetable(Timetable):
    """A cron expression (or preset) evaluated in a time zone, DST included."""

    kind: ClassVar[str] = "cron"
    expression: str
    timezone: str = "UTC"
    preset: str | None = None

    def __attrs_post_init__(self) -> None:
        if not croniter.is_valid(self.expression):
            raise ValueError(f"invalid cron expression {self.expression!r}")
        get_timezone(self.timezone)

    @property
    def summary(self) -> str:
        return self.preset or self.expression

    def _tick(self, moment: datetime, *, forward: bool) -> datetime:
        local = moment.astimezone(get_timezone(self.timezone))
        it = croniter(self.expression, local)
        nxt: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
        return nxt.astimezone(UTC)

    def _align_up(self, moment: datetime) -> datetime:
        """``moment`` if it is a tick, else the next tick."""
        return self._tick(moment - timedelta(microseconds=1), forward=True)

    def _align_down(self, moment: datetime) -> datetime:
        """``moment`` if it is a tick, else the previous tick."""
        return self._tick(moment + timedelta(microseconds=1), forward=False)

    def next_dagrun_info(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DagRunInfo | None:
        if last_interval is not None:
            start = last_interval.end
        elif start_date is not None:
            start = self._align_up(start_date)
        else:
            return None
        if not catchup:
            # Only the latest complete interval: its end is the last tick before now.
            latest_end = self._align_down(now)
            latest_start = self._tick(latest_end, forward=False)
            start = max(start, latest_start)
        if end_date is not None and start > end_date:
            return None
        end = self._tick(start, forward=True)
        return DagRunInfo(start, DataInterval(start, end), end)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        end = self._align_down(run_after)
        return DataInterval(self._tick(end, forward=False), end)

    def data_interval_for(self, logical_date: datetime) -> DataInterval:
        return DataInterval(logical_date, self._tick(logical_date, forward=True))

    def serialize(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "expression": self.expression,
            "timezone": self.timezone,
            "preset": self.preset,
        }


@attrs.frozen
class DeltaTimetable(Timetable):
    """A fixed ``timedelta`` between runs, counted from the start date."""

    kind: ClassVar[str] = "delta"
    delta: timedelta

    def __attrs_post_init__(self) -> None:
        if self.delta <= timedelta(0):
            raise ValueError(f"schedule timedelta must be positive, got {self.delta}")

    @property
    def summary(self) -> str:
        return str(self.delta)

    def next_dagrun_info(
        self,
        *,
        last_interval: DataInterval | None,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> DagRunInfo | None:
        if last_interval is not None:
            start = last_interval.end
        elif start_date is not None:
            start = start_date
        else:
            return None
        if not catchup and start + self.delta <= now:
            complete = (now - start) // self.delta  # whole intervals that have ended
            start = start + (complete - 1) * self.delta
        if end_date is not None and start > end_date:
            return None
        end = start + self.delta
        return DagRunInfo(start, DataInterval(start, end), end)

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        return DataInterval(run_after - self.delta, run_after)

    def data_interval_for(self, logical_date: datetime) -> DataInterval:
        return DataInterval(logical_date, logical_date + self.delta)

    def serialize(self) -> dict[str, Any]:
        return {"type": self.kind, "seconds": self.delta.total_seconds()}


def parse_schedule(schedule: Any, timezone: str = "UTC") -> Timetable:
    """What a DAG's ``schedule=`` argument may be: None, a cron string, a preset,
    ``@once``, a ``timedelta``, or a :class:`Timetable`."""
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaTimetable(schedule)
    if isinstance(schedule, str):
        text = schedule.strip()
        if text == "@once":
            return OnceTimetable()
        if text in PRESETS:
            return CronTimetable(PRESETS[text], timezone, preset=text)
        if text.startswith("@"):
            raise ValueError(
                f"unknown schedule preset {text!r}; presets are @once, {', '.join(PRESETS)}"
            )
        return CronTimetable(text, timezone)
    raise ValueError(
        f"schedule must be None, a cron string, a preset, a timedelta or a Timetable; "
        f"got {type(schedule).__name__} {schedule!r}"
    )


def timetable_from_dict(data: dict[str, Any]) -> Timetable:
    kind = data["type"]
    if kind == "none":
        return NullTimetable()
    if kind == "once":
        return OnceTimetable()
    if kind == "cron":
        return CronTimetable(data["expression"], data["timezone"], preset=data.get("preset"))
    if kind == "delta":
        return DeltaTimetable(timedelta(seconds=data["seconds"]))
    raise ValueError(f"unknown serialized schedule type {kind!r}")
