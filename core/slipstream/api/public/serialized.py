"""Airflow's API shapes for values the serialized DAG holds: params, durations."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

PARAM_CLASS = "slipstream.models.param.Param"


def params_response(params: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """Serialized params as Airflow's ``Param.dump()`` gives them (what its trigger
    form reads): ``value`` (the default, or None), ``description``, ``schema``."""
    if params is None:
        return None
    return {
        name: {
            "__class": PARAM_CLASS,
            "value": param.get("default") if param.get("has_default", True) else None,
            "description": param.get("description"),
            "schema": dict(param.get("schema") or {}),
            "source": None,
        }
        for name, param in params.items()
    }


def seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None else None


def iso_duration(value: timedelta | None) -> str | None:
    """``timedelta(days=1, hours=2)`` -> ``"P1DT2H"``: what pydantic (Airflow) writes
    for a ``format: duration`` field."""
    if value is None:
        return None
    sign = "-" if value < timedelta(0) else ""
    value = abs(value)
    days = value.days
    rest = value - timedelta(days=days)
    hours, remainder = divmod(int(rest.total_seconds()), 3600)
    minutes, secs = divmod(remainder, 60)
    fraction = rest.microseconds
    text = f"{sign}P"
    if days:
        text += f"{days}D"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if secs or fraction:
        time += f"{secs}.{fraction:06d}".rstrip("0").rstrip(".") + "S"
    if time:
        text += "T" + time
    return text if text != f"{sign}P" else "PT0S"


def time_delta(value: float | None) -> dict[str, Any] | None:
    """Seconds as Airflow's ``TimeDelta`` object (``__type``, days, seconds, microseconds)."""
    delta = seconds(value)
    if delta is None:
        return None
    return {
        "__type": "TimeDelta",
        "days": delta.days,
        "seconds": delta.seconds,
        "microseconds": delta.microseconds,
    }
