"""Every trigger rule against the upstream outcomes that matter, with Airflow's answers."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slipstream.scheduler.retries import retry_delay
from slipstream.scheduler.trigger_rules import Decision, UpstreamSummary, evaluate
from slipstream.state import TaskInstanceState as TIS
from slipstream.trigger_rule import TriggerRule as TR

S, F, K, U, N, R = "success", "failed", "skipped", "upstream_failed", "running", "removed"
RUN, WAIT, SKIP, UPF = Decision.RUN, Decision.WAIT, Decision.SKIP, Decision.UPSTREAM_FAILED

CASES = [
    (TR.ALL_SUCCESS, [S, S], RUN),
    (TR.ALL_SUCCESS, [S, N], WAIT),
    (TR.ALL_SUCCESS, [S, F], UPF),
    (TR.ALL_SUCCESS, [S, U], UPF),
    (TR.ALL_SUCCESS, [S, K], SKIP),
    (TR.ALL_SUCCESS, [S, R], RUN),
    (TR.ALL_FAILED, [F, U], RUN),
    (TR.ALL_FAILED, [F, N], WAIT),
    (TR.ALL_FAILED, [F, S], SKIP),
    (TR.ALL_FAILED, [F, K], SKIP),
    (TR.ALL_DONE, [S, F, K, U], RUN),
    (TR.ALL_DONE, [S, N], WAIT),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, F], RUN),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [F, K], SKIP),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, N], WAIT),
    (TR.ALL_SKIPPED, [K, K], RUN),
    (TR.ALL_SKIPPED, [K, N], WAIT),
    (TR.ALL_SKIPPED, [K, S], SKIP),
    (TR.ALL_SKIPPED, [K, F], SKIP),
    (TR.ONE_SUCCESS, [S, N], RUN),
    (TR.ONE_SUCCESS, [F, N], WAIT),
    (TR.ONE_SUCCESS, [F, K], UPF),
    (TR.ONE_SUCCESS, [K, K], SKIP),
    (TR.ONE_FAILED, [F, N], RUN),
    (TR.ONE_FAILED, [U, N], RUN),
    (TR.ONE_FAILED, [S, N], WAIT),
    (TR.ONE_FAILED, [S, K], SKIP),
    (TR.ONE_DONE, [F, N], RUN),
    (TR.ONE_DONE, [S, N], RUN),
    (TR.ONE_DONE, [K, N], WAIT),
    (TR.ONE_DONE, [K, K], SKIP),
    (TR.NONE_FAILED, [S, K], RUN),
    (TR.NONE_FAILED, [S, N], WAIT),
    (TR.NONE_FAILED, [S, F], UPF),
    (TR.NONE_FAILED, [K, U], UPF),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [S, K], RUN),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [K, K], SKIP),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [K, F], UPF),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [K, N], WAIT),
    (TR.NONE_SKIPPED, [S, F], RUN),
    (TR.NONE_SKIPPED, [S, K], SKIP),
    (TR.NONE_SKIPPED, [S, N], WAIT),
    (TR.ALWAYS, [N, N], RUN),
    (TR.ALWAYS, [F, K], RUN),
]


@pytest.mark.parametrize(("rule", "upstream", "expected"), CASES)
def test_trigger_rule(rule: TR, upstream: list[str], expected: Decision) -> None:
    assert evaluate(rule, UpstreamSummary.of(upstream)) == expected


def test_every_rule_is_covered() -> None:
    assert {rule for rule, _, _ in CASES} == set(TR)


@pytest.mark.parametrize("rule", list(TR))
def test_a_task_without_upstream_runs(rule: TR) -> None:
    assert evaluate(rule, UpstreamSummary.of([])) == RUN


FINAL = [TIS.SUCCESS, TIS.FAILED, TIS.SKIPPED, TIS.UPSTREAM_FAILED]
UNFINISHED = [TIS.NONE, TIS.SCHEDULED, TIS.QUEUED, TIS.RUNNING, TIS.UP_FOR_RETRY]


@given(
    rule=st.sampled_from(list(TR)),
    states=st.lists(st.sampled_from(FINAL), min_size=1, max_size=8),
)
def test_once_every_upstream_is_done_the_decision_is_final(rule: TR, states: list[TIS]) -> None:
    assert evaluate(rule, UpstreamSummary.of(states)) != WAIT


@given(
    rule=st.sampled_from(list(TR)),
    done=st.lists(st.sampled_from(FINAL), max_size=6),
    pending=st.lists(st.sampled_from(UNFINISHED), min_size=1, max_size=3),
)
def test_whether_a_task_runs_never_changes_once_decided(
    rule: TR, done: list[TIS], pending: list[TIS]
) -> None:
    early = evaluate(rule, UpstreamSummary.of([*done, *pending]))
    if early == WAIT:
        return
    # Skipped and upstream_failed may trade places as the rest finish; run-or-not never does.
    for outcome in FINAL:
        final = evaluate(rule, UpstreamSummary.of([*done, *[outcome] * len(pending)]))
        assert (final == RUN) == (early == RUN)


def test_retry_delay_without_backoff_is_constant() -> None:
    base = timedelta(seconds=30)
    for try_number in (1, 2, 5):
        delay = retry_delay(
            base=base, try_number=try_number, exponential_backoff=False, max_delay=None
        )
        assert delay == base


def test_retry_delay_doubles_with_backoff_and_is_capped() -> None:
    delays = [
        retry_delay(
            base=timedelta(seconds=10),
            try_number=n,
            exponential_backoff=True,
            max_delay=timedelta(seconds=100),
            jitter_key="dag.task",
        )
        for n in range(1, 7)
    ]
    assert delays[0] == timedelta(seconds=10)
    for earlier, later in itertools.pairwise(delays):
        assert later >= earlier
    assert timedelta(seconds=15) <= delays[1] <= timedelta(seconds=20)
    assert timedelta(seconds=30) <= delays[2] <= timedelta(seconds=40)
    assert delays[-1] == timedelta(seconds=100)
    # Reproducible for the same task and try.
    assert delays[2] == retry_delay(
        base=timedelta(seconds=10),
        try_number=3,
        exponential_backoff=True,
        max_delay=timedelta(seconds=100),
        jitter_key="dag.task",
    )
