"""When a DAG's runs happen: next-run computation for every schedule form, with and without
catchup, within start and end dates, across a DST change, and manual runs' intervals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from slipstream import DAG
from slipstream.serialization import serialize_dag
from slipstream.serialized_dag import deserialize_dag
from slipstream.timetables import DataInterval

START = datetime(2024, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(2030, 1, 1, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def runs(d: DAG, count: int, *, now: datetime = FAR_FUTURE) -> list[tuple[datetime, datetime]]:
    """The first ``count`` scheduled runs as (data_interval_start, data_interval_end), each
    asked for after the previous one, as the scheduler does; fewer if the schedule ends."""
    found: list[tuple[datetime, datetime]] = []
    last: DataInterval | None = None
    for _ in range(count):
        info = d.timetable.next_dagrun_info(
            last_interval=last,
            start_date=d.start_date,
            end_date=d.end_date,
            catchup=d.catchup,
            now=now,
        )
        if info is None:
            break
        assert info.logical_date == info.data_interval.start
        assert info.run_after == info.data_interval.end
        found.append((info.data_interval.start, info.data_interval.end))
        last = info.data_interval
    return found


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (
            "@hourly",
            [(utc(2024, 1, 1, 0), utc(2024, 1, 1, 1)), (utc(2024, 1, 1, 1), utc(2024, 1, 1, 2))],
        ),
        ("@daily", [(utc(2024, 1, 1), utc(2024, 1, 2)), (utc(2024, 1, 2), utc(2024, 1, 3))]),
        # 2024-01-01 is a Monday: the first whole week starts on Sunday the 7th.
        ("@weekly", [(utc(2024, 1, 7), utc(2024, 1, 14)), (utc(2024, 1, 14), utc(2024, 1, 21))]),
        ("@monthly", [(utc(2024, 1, 1), utc(2024, 2, 1)), (utc(2024, 2, 1), utc(2024, 3, 1))]),
        ("@yearly", [(utc(2024, 1, 1), utc(2025, 1, 1)), (utc(2025, 1, 1), utc(2026, 1, 1))]),
        (
            "30 6 * * 1-5",
            [
                (utc(2024, 1, 1, 6, 30), utc(2024, 1, 2, 6, 30)),
                (utc(2024, 1, 2, 6, 30), utc(2024, 1, 3, 6, 30)),
            ],
        ),
        (
            timedelta(hours=8),
            [(utc(2024, 1, 1, 0), utc(2024, 1, 1, 8)), (utc(2024, 1, 1, 8), utc(2024, 1, 1, 16))],
        ),
    ],
)
def test_catchup_runs_every_interval_from_the_start_date(
    schedule: object, expected: list[tuple[datetime, datetime]]
) -> None:
    d = DAG("catchup", schedule=schedule, start_date=START, catchup=True)

    assert runs(d, 2) == expected


def test_a_start_date_between_ticks_starts_at_the_next_tick() -> None:
    d = DAG("aligned", schedule="@daily", start_date=utc(2024, 1, 1, 15), catchup=True)

    assert runs(d, 1) == [(utc(2024, 1, 2), utc(2024, 1, 3))]


def test_weekdays_only_cron_skips_the_weekend() -> None:
    d = DAG("weekdays", schedule="0 9 * * 1-5", start_date=utc(2024, 1, 5), catchup=True)

    # Friday's interval runs until Monday 09:00.
    assert runs(d, 2) == [
        (utc(2024, 1, 5, 9), utc(2024, 1, 8, 9)),
        (utc(2024, 1, 8, 9), utc(2024, 1, 9, 9)),
    ]


def test_without_catchup_only_the_latest_complete_interval_runs() -> None:
    now = utc(2024, 6, 15, 12)
    daily = DAG("no_catchup", schedule="@daily", start_date=START)
    every_six_hours = DAG("delta_no_catchup", schedule=timedelta(hours=6), start_date=START)

    assert runs(daily, 2, now=now) == [
        (utc(2024, 6, 14), utc(2024, 6, 15)),
        (utc(2024, 6, 15), utc(2024, 6, 16)),
    ]
    assert runs(every_six_hours, 1, now=now) == [(utc(2024, 6, 15, 6), utc(2024, 6, 15, 12))]


def test_without_catchup_a_start_date_in_the_future_still_starts_there() -> None:
    d = DAG("future", schedule="@daily", start_date=utc(2024, 7, 1))

    assert runs(d, 1, now=utc(2024, 6, 15)) == [(utc(2024, 7, 1), utc(2024, 7, 2))]


def test_the_end_date_stops_the_schedule() -> None:
    d = DAG(
        "ending",
        schedule="@daily",
        start_date=START,
        end_date=utc(2024, 1, 3),
        catchup=True,
    )

    assert runs(d, 10) == [
        (utc(2024, 1, 1), utc(2024, 1, 2)),
        (utc(2024, 1, 2), utc(2024, 1, 3)),
        (utc(2024, 1, 3), utc(2024, 1, 4)),
    ]


def test_once_runs_once_at_the_start_date_and_none_never() -> None:
    once = DAG("once", schedule="@once", start_date=START)
    manual_only = DAG("manual_only", schedule=None, start_date=START)

    assert runs(once, 5) == [(START, START)]
    assert runs(manual_only, 5) == []
    assert runs(DAG("no_start", schedule=None), 5) == []


def test_a_cron_schedule_follows_local_time_across_the_spring_dst_change() -> None:
    # 01:00 in Paris: 00:00 UTC in winter (CET), 23:00 UTC the day before in summer (CEST).
    d = DAG(
        "paris",
        schedule="0 1 * * *",
        start_date=datetime(2024, 3, 29, 1, tzinfo=PARIS),
        catchup=True,
    )

    found = runs(d, 4)
    assert found == [
        (utc(2024, 3, 29, 0), utc(2024, 3, 30, 0)),
        (utc(2024, 3, 30, 0), utc(2024, 3, 31, 0)),
        (utc(2024, 3, 31, 0), utc(2024, 3, 31, 23)),  # the 23-hour day
        (utc(2024, 3, 31, 23), utc(2024, 4, 1, 23)),
    ]
    assert {start.astimezone(PARIS).hour for start, _ in found} == {1}


def test_a_cron_schedule_follows_local_time_across_the_autumn_dst_change() -> None:
    d = DAG(
        "new_york",
        schedule="0 0 * * *",
        start_date=datetime(2024, 11, 2, tzinfo=NEW_YORK),
        catchup=True,
    )

    found = runs(d, 3)
    assert found == [
        (utc(2024, 11, 2, 4), utc(2024, 11, 3, 4)),
        (utc(2024, 11, 3, 4), utc(2024, 11, 4, 5)),  # the 25-hour day
        (utc(2024, 11, 4, 5), utc(2024, 11, 5, 5)),
    ]
    assert {start.astimezone(NEW_YORK).hour for start, _ in found} == {0}


def test_a_cron_time_skipped_by_dst_still_runs_once_that_day() -> None:
    # 02:30 does not exist in Paris on 2024-03-31: that day still has exactly one run.
    d = DAG(
        "gap",
        schedule="30 2 * * *",
        start_date=datetime(2024, 3, 29, tzinfo=PARIS),
        catchup=True,
    )

    found = runs(d, 4)
    local_days = [start.astimezone(PARIS).date().isoformat() for start, _ in found]
    assert local_days == ["2024-03-29", "2024-03-30", "2024-03-31", "2024-04-01"]
    assert all(end == next_start for (_, end), (next_start, _) in itertools.pairwise(found))
    assert found[-1][0] == datetime(2024, 4, 1, 2, 30, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("schedule", "triggered_at", "expected"),
    [
        # A manual run covers the latest complete interval before it (Airflow 2's semantics).
        ("@daily", utc(2024, 5, 5, 13), (utc(2024, 5, 4), utc(2024, 5, 5))),
        ("@daily", utc(2024, 5, 5), (utc(2024, 5, 4), utc(2024, 5, 5))),
        ("@hourly", utc(2024, 5, 5, 13, 20), (utc(2024, 5, 5, 12), utc(2024, 5, 5, 13))),
        (timedelta(hours=2), utc(2024, 5, 5, 13), (utc(2024, 5, 5, 11), utc(2024, 5, 5, 13))),
        (None, utc(2024, 5, 5, 13), (utc(2024, 5, 5, 13), utc(2024, 5, 5, 13))),
        ("@once", utc(2024, 5, 5, 13), (utc(2024, 5, 5, 13), utc(2024, 5, 5, 13))),
    ],
)
def test_data_interval_of_a_manual_run(
    schedule: object, triggered_at: datetime, expected: tuple[datetime, datetime]
) -> None:
    d = DAG("manual", schedule=schedule, start_date=START)

    interval = d.timetable.infer_manual_data_interval(triggered_at)
    assert (interval.start, interval.end) == expected


def test_the_schedule_works_the_same_from_the_serialized_dag() -> None:
    d = DAG(
        "from_json",
        schedule="0 1 * * *",
        start_date=datetime(2024, 3, 29, 1, tzinfo=PARIS),
        catchup=True,
    )
    serialized = deserialize_dag(serialize_dag(d))
    assert serialized.timetable == d.timetable
    assert serialized.start_date_dt == d.start_date
    info = serialized.timetable.next_dagrun_info(
        last_interval=None,
        start_date=serialized.start_date_dt,
        end_date=None,
        catchup=serialized.catchup,
        now=FAR_FUTURE,
    )
    assert info is not None
    assert (info.data_interval.start, info.data_interval.end) == runs(d, 1)[0]
