"""Whether a task instance may run, given the states of its upstream task instances.

Pure functions of counts, with Airflow's semantics for every trigger rule, so
the decision is the same whichever scheduler, store or executor is in use.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from enum import StrEnum

import attrs

from slipstream.state import TaskInstanceState as TIS
from slipstream.trigger_rule import TriggerRule as TR


class Decision(StrEnum):
    RUN = "run"  # dependencies met: schedule it
    WAIT = "wait"  # not yet decidable
    SKIP = "skip"  # will never run: mark skipped
    UPSTREAM_FAILED = "upstream_failed"  # will never run because of failures


@attrs.frozen
class UpstreamSummary:
    """Counts of upstream task instances by final state (removed ones do not count)."""

    total: int
    success: int = 0
    skipped: int = 0
    failed: int = 0
    upstream_failed: int = 0

    @classmethod
    def of(cls, states: Iterable[TIS | str]) -> UpstreamSummary:
        counts = Counter(TIS(s) for s in states)
        total = sum(n for state, n in counts.items() if state != TIS.REMOVED)
        return cls(
            total=total,
            success=counts[TIS.SUCCESS],
            skipped=counts[TIS.SKIPPED],
            failed=counts[TIS.FAILED],
            upstream_failed=counts[TIS.UPSTREAM_FAILED],
        )

    @classmethod
    def from_counts(cls, counts: Mapping[TIS, int]) -> UpstreamSummary:
        total = sum(n for state, n in counts.items() if state != TIS.REMOVED)
        return cls(
            total=total,
            success=counts.get(TIS.SUCCESS, 0),
            skipped=counts.get(TIS.SKIPPED, 0),
            failed=counts.get(TIS.FAILED, 0),
            upstream_failed=counts.get(TIS.UPSTREAM_FAILED, 0),
        )

    @property
    def done(self) -> int:
        return self.success + self.skipped + self.failed + self.upstream_failed

    @property
    def failures(self) -> int:
        return self.failed + self.upstream_failed

    @property
    def all_done(self) -> bool:
        return self.done >= self.total


def evaluate(rule: TR, up: UpstreamSummary) -> Decision:
    """The decision for one task instance whose upstream tasks stand at ``up``."""
    if up.total == 0 or rule == TR.ALWAYS:
        return Decision.RUN
    if rule == TR.ALL_SUCCESS:
        if up.failures:
            return Decision.UPSTREAM_FAILED
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.success == up.total else Decision.WAIT
    if rule == TR.ALL_FAILED:
        if up.success or up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule == TR.ALL_DONE:
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule == TR.ALL_DONE_MIN_ONE_SUCCESS:
        if not up.all_done:
            return Decision.WAIT
        return Decision.RUN if up.success else Decision.SKIP
    if rule == TR.ALL_SKIPPED:
        if up.success or up.failures:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule == TR.ONE_SUCCESS:
        if up.success:
            return Decision.RUN
        if not up.all_done:
            return Decision.WAIT
        return Decision.SKIP if up.skipped == up.total else Decision.UPSTREAM_FAILED
    if rule == TR.ONE_FAILED:
        if up.failures:
            return Decision.RUN
        return Decision.SKIP if up.all_done else Decision.WAIT
    if rule == TR.ONE_DONE:
        if up.success or up.failed:
            return Decision.RUN
        if not up.all_done:
            return Decision.WAIT
        return Decision.SKIP if up.skipped == up.total else Decision.UPSTREAM_FAILED
    if rule == TR.NONE_FAILED:
        if up.failures:
            return Decision.UPSTREAM_FAILED
        return Decision.RUN if up.all_done else Decision.WAIT
    if rule == TR.NONE_FAILED_MIN_ONE_SUCCESS:
        if up.failures:
            return Decision.UPSTREAM_FAILED
        if not up.all_done:
            return Decision.WAIT
        return Decision.SKIP if up.skipped == up.total else Decision.RUN
    if rule == TR.NONE_SKIPPED:
        if up.skipped:
            return Decision.SKIP
        return Decision.RUN if up.all_done else Decision.WAIT
    raise AssertionError(f"unhandled trigger rule {rule}")  # pragma: no cover
