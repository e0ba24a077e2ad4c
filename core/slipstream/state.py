"""States of task instances and dag runs, and the one table of legal transitions.

The names and meanings are Airflow's, so UIs, API clients and habits carry over.
Every state change in slipstream goes through :func:`check_transition`.
"""

from __future__ import annotations

from enum import StrEnum


class TaskInstanceState(StrEnum):
    """Where one task instance (one task in one dag run, one map index) stands."""

    NONE = "none"  # created, dependencies not yet met (Airflow stores NULL)
    SCHEDULED = "scheduled"  # dependencies met; waiting for a pool slot / executor
    QUEUED = "queued"  # handed to the executor
    RUNNING = "running"  # a worker runs it
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"  # failed, will run again after retry_delay
    UP_FOR_RESCHEDULE = "up_for_reschedule"  # a sensor in reschedule mode, waiting to poke
    SKIPPED = "skipped"
    UPSTREAM_FAILED = "upstream_failed"  # an upstream failure makes its trigger rule unmeetable
    REMOVED = "removed"  # the task no longer exists in the run's DAG (or a map index shrank)
    RESTARTING = "restarting"  # cleared while running: will be re-queued once the try ends

    @property
    def finished(self) -> bool:
        return self in FINISHED_TI_STATES

    @property
    def unfinished(self) -> bool:
        return self not in FINISHED_TI_STATES


FINISHED_TI_STATES = frozenset(
    {
        TaskInstanceState.SUCCESS,
        TaskInstanceState.FAILED,
        TaskInstanceState.SKIPPED,
        TaskInstanceState.UPSTREAM_FAILED,
        TaskInstanceState.REMOVED,
    }
)

# Tries that hold an executor slot / a pool slot.
ACTIVE_TI_STATES = frozenset({TaskInstanceState.QUEUED, TaskInstanceState.RUNNING})


class DagRunState(StrEnum):
    QUEUED = "queued"  # created, waiting for max_active_runs
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (DagRunState.SUCCESS, DagRunState.FAILED)


class DagRunType(StrEnum):
    SCHEDULED = "scheduled"
    MANUAL = "manual"
    BACKFILL = "backfill"
    ASSET_TRIGGERED = "asset_triggered"


_TI = TaskInstanceState
# Clearing (by a user, or a retry of a whole run) may move any finished state back to
# NONE; marking success/failed by a user may move any state to those; clearing a run
# onto a DAG version without a task marks that task's instance REMOVED. Those
# actions are "user" transitions and are allowed from everywhere.
_TI_TRANSITIONS: dict[TaskInstanceState, frozenset[TaskInstanceState]] = {
    _TI.NONE: frozenset({_TI.SCHEDULED, _TI.SKIPPED, _TI.UPSTREAM_FAILED, _TI.REMOVED, _TI.QUEUED}),
    _TI.SCHEDULED: frozenset({_TI.QUEUED, _TI.NONE, _TI.SKIPPED, _TI.REMOVED, _TI.UPSTREAM_FAILED}),
    _TI.QUEUED: frozenset(
        {
            _TI.RUNNING,
            _TI.SCHEDULED,
            _TI.FAILED,
            _TI.UP_FOR_RETRY,
            _TI.SUCCESS,
            _TI.SKIPPED,
            _TI.UP_FOR_RESCHEDULE,
            _TI.REMOVED,
            _TI.RESTARTING,
        }
    ),
    _TI.RUNNING: frozenset(
        {
            _TI.SUCCESS,
            _TI.FAILED,
            _TI.UP_FOR_RETRY,
            _TI.UP_FOR_RESCHEDULE,
            _TI.SKIPPED,
            _TI.RESTARTING,
        }
    ),
    _TI.UP_FOR_RETRY: frozenset({_TI.SCHEDULED, _TI.QUEUED, _TI.REMOVED}),
    _TI.UP_FOR_RESCHEDULE: frozenset({_TI.SCHEDULED, _TI.QUEUED, _TI.REMOVED, _TI.FAILED}),
    _TI.RESTARTING: frozenset({_TI.NONE, _TI.SCHEDULED}),
    _TI.SUCCESS: frozenset(),
    _TI.FAILED: frozenset(),
    _TI.SKIPPED: frozenset(),
    _TI.UPSTREAM_FAILED: frozenset(),
    _TI.REMOVED: frozenset({_TI.NONE}),  # the task came back in the run's DAG
}
_USER_TARGETS = frozenset({_TI.NONE, _TI.SUCCESS, _TI.FAILED, _TI.SKIPPED, _TI.REMOVED})


class IllegalTransition(ValueError):
    """A state change that the state machine does not allow."""


def can_transition(
    old: TaskInstanceState, new: TaskInstanceState, *, by_user: bool = False
) -> bool:
    if old == new:
        return True
    if by_user and new in _USER_TARGETS:
        return True
    return new in _TI_TRANSITIONS[old]


def check_transition(
    old: TaskInstanceState, new: TaskInstanceState, *, by_user: bool = False
) -> None:
    """Raise :class:`IllegalTransition` unless ``old -> new`` is legal."""
    if not can_transition(old, new, by_user=by_user):
        raise IllegalTransition(f"a task instance cannot go from {old} to {new}")


_DR = DagRunState
_DAG_RUN_TRANSITIONS: dict[DagRunState, frozenset[DagRunState]] = {
    _DR.QUEUED: frozenset({_DR.RUNNING, _DR.FAILED, _DR.SUCCESS}),
    _DR.RUNNING: frozenset({_DR.SUCCESS, _DR.FAILED, _DR.QUEUED}),
    # A cleared run goes back to queued; users may also mark a finished run.
    _DR.SUCCESS: frozenset({_DR.QUEUED, _DR.FAILED}),
    _DR.FAILED: frozenset({_DR.QUEUED, _DR.SUCCESS}),
}


def check_dag_run_transition(old: DagRunState, new: DagRunState) -> None:
    if old != new and new not in _DAG_RUN_TRANSITIONS[old]:
        raise IllegalTransition(f"a dag run cannot go from {old} to {new}")
