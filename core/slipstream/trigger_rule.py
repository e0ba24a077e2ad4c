"""When a task may run, given its upstream tasks' states (Airflow's trigger rules)."""

from __future__ import annotations

from enum import StrEnum


class TriggerRule(StrEnum):
    ALL_SUCCESS = "all_success"
    ALL_FAILED = "all_failed"
    ALL_DONE = "all_done"
    ALL_DONE_MIN_ONE_SUCCESS = "all_done_min_one_success"
    ALL_SKIPPED = "all_skipped"
    ONE_SUCCESS = "one_success"
    ONE_FAILED = "one_failed"
    ONE_DONE = "one_done"
    NONE_FAILED = "none_failed"
    NONE_FAILED_MIN_ONE_SUCCESS = "none_failed_min_one_success"
    NONE_SKIPPED = "none_skipped"
    ALWAYS = "always"

    @classmethod
    def parse(cls, value: str | TriggerRule) -> TriggerRule:
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"trigger_rule {value!r} is not one of: {', '.join(r.value for r in cls)}"
            ) from None
