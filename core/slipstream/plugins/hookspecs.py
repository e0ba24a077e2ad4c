"""Every hook slipstream calls. Plugin authors: this file is the reference.

Registry hooks (``slipstream_*``) take no arguments and yield records; every
plugin's results are collected, and two plugins claiming one name is an error
naming both. Listener hooks keep Apache Airflow's names and arguments, so an
Airflow listener ports by changing its imports; a listener that raises is
logged and never changes a task's state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pluggy

from slipstream.plugins.records import (
    CliCommandSpec,
    ExecutorSpec,
    MetadataBackendSpec,
    OperatorSpec,
    QueueBackendSpec,
    SettingSpec,
)

PROJECT = "slipstream"
_hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class SlipstreamSpecs:
    """Registry hooks: what a plugin adds to slipstream."""

    @_hookspec
    def slipstream_executors(self) -> Iterable[ExecutorSpec]:  # type: ignore[empty-body]
        """Executors, selected by ``[core] executor = "<name>"``.

        Example::

            @hookimpl
            def slipstream_executors():
                def make(context):
                    from my_executor.executor import MyExecutor  # heavy import here
                    return MyExecutor(context)
                yield ExecutorSpec(name="mine", factory=make, description="...")
        """

    @_hookspec
    def slipstream_queue_backends(self) -> Iterable[QueueBackendSpec]:  # type: ignore[empty-body]
        """Queue backends for URL schemes, selected by ``[core] queue = "<scheme>://..."``.

        Example::

            @hookimpl
            def slipstream_queue_backends():
                yield QueueBackendSpec(schemes=("redis", "rediss"), factory=make_redis_queue)
        """

    @_hookspec
    def slipstream_metadata_backends(self) -> Iterable[MetadataBackendSpec]:  # type: ignore[empty-body]
        """Metadata stores for URL schemes, selected by ``[core] metadata``."""

    @_hookspec
    def slipstream_operators(self) -> Iterable[OperatorSpec]:  # type: ignore[empty-body]
        """Operator classes by name, as ``"module:Class"`` so that listing imports nothing.

        Example::

            @hookimpl
            def slipstream_operators():
                yield OperatorSpec(name="s3_copy", import_path="my_ops.s3:S3CopyOperator")
        """

    @_hookspec
    def slipstream_cli_commands(self) -> Iterable[CliCommandSpec]:  # type: ignore[empty-body]
        """Click commands or groups added under ``slipstream`` (``slipstream celery worker``).

        Keep imports inside the command's callback so ``slipstream --help`` stays fast.
        """

    @_hookspec
    def slipstream_settings(self) -> Iterable[SettingSpec]:  # type: ignore[empty-body]
        """Configuration keys this plugin owns, with their types and defaults.

        Example::

            @hookimpl
            def slipstream_settings():
                yield SettingSpec(section="celery", key="concurrency", type="int", default=4)
        """


class ListenerSpecs:
    """Lifecycle events, with Airflow's listener names and arguments.

    ``task_instance`` and ``dag_run`` are slipstream's records of the same names;
    ``previous_state`` may be ``None``.
    """

    @_hookspec
    def on_starting(self, component: Any) -> None:
        """A slipstream component (the scheduler, the dag processor) starts."""

    @_hookspec
    def before_stopping(self, component: Any) -> None:
        """A slipstream component is about to stop."""

    @_hookspec
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        """A task instance starts running on a worker."""

    @_hookspec
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """A task instance succeeded."""

    @_hookspec
    def on_task_instance_failed(
        self, previous_state: Any, task_instance: Any, error: BaseException | str | None
    ) -> None:
        """A task instance failed (also when it will be retried)."""

    @_hookspec
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        """A task instance skipped itself (it raised ``SkipTask``).

        Task instances skipped by a branch, a short-circuit or their trigger rule
        never ran, and are not reported here (as in Airflow)."""

    @_hookspec
    def on_dag_run_running(self, dag_run: Any, msg: str) -> None:
        """A dag run started running."""

    @_hookspec
    def on_dag_run_success(self, dag_run: Any, msg: str) -> None:
        """A dag run succeeded."""

    @_hookspec
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        """A dag run failed."""

    @_hookspec
    def on_new_dag_import_error(self, filename: str, stacktrace: str) -> None:
        """A DAG file that imported before (or never was seen) failed to import."""

    @_hookspec
    def on_existing_dag_import_error(self, filename: str, stacktrace: str) -> None:
        """A DAG file that already had an import error still fails."""


LISTENER_HOOKS = tuple(name for name in vars(ListenerSpecs) if name.startswith(("on_", "before_")))
