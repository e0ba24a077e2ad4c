"""Exceptions a DAG file or a task may raise, and the errors slipstream reports about DAGs.

Tasks raise :class:`SkipTask` to skip themselves and :class:`FailTask` to fail
without using their retries. Airflow's names are kept as aliases so that ported
code only changes its import line.
"""

from __future__ import annotations

from datetime import datetime


class SlipstreamException(Exception):
    """Base of exceptions raised by or about user code."""


class SkipTask(SlipstreamException):
    """Raised by a task to end in state ``skipped``."""


class FailTask(SlipstreamException):
    """Raised by a task to end in state ``failed`` with no retry."""


class TaskTimeout(SlipstreamException):
    """A task ran longer than its ``execution_timeout``."""


class SensorTimeout(FailTask):
    """A sensor's condition did not hold within its ``timeout``; it fails without retry."""


class RescheduleTask(SlipstreamException):
    """A sensor in reschedule mode gives its slot back until ``reschedule_date``."""

    def __init__(self, reschedule_date: datetime) -> None:
        super().__init__(f"reschedule at {reschedule_date.isoformat()}")
        self.reschedule_date = reschedule_date


class DagDefinitionError(SlipstreamException):
    """A DAG or task was defined with an invalid argument."""


class DuplicateTaskIdError(DagDefinitionError):
    """Two tasks in one DAG share a task id."""


class DagCycleError(DagDefinitionError):
    """The task dependencies form a cycle."""


class ParamValidationError(SlipstreamException):
    """A DAG run's conf does not satisfy the DAG's params."""


class DagNotFound(SlipstreamException):
    """A DAG asked for by id (to trigger it, say) does not exist."""


class DagRunAlreadyExists(SlipstreamException):
    """A run with this run id (or logical date) already exists for the DAG."""


# Airflow's names, so that a ported DAG changes only its imports.
AirflowException = SlipstreamException
AirflowSkipException = SkipTask
AirflowFailException = FailTask
AirflowTaskTimeout = TaskTimeout
AirflowSensorTimeout = SensorTimeout
AirflowRescheduleException = RescheduleTask
DuplicateTaskIdFound = DuplicateTaskIdError
AirflowDagCycleException = DagCycleError
