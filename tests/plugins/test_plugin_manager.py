"""The plugin manager: built-ins, registration records, conflicts and broken plugins."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from slipstream.errors import PluginConflictError, UnknownPluginError
from slipstream.plugins import ExecutorSpec, OperatorSpec, QueueBackendSpec, hookimpl
from slipstream.plugins.manager import PluginManager, url_scheme

FAKE_SITE = Path(__file__).parent / "data" / "site"


def _never(context: Any) -> Any:
    raise AssertionError("not built in this test")


class LocalExecutorTwin:
    """A plugin claiming a name another plugin already has."""

    @hookimpl
    def slipstream_executors(self) -> Iterator[ExecutorSpec]:
        yield ExecutorSpec(name="sequential", factory=_never)


class ExplodingListener:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self.calls.append(msg)
        raise RuntimeError("listener bug")


class RecordingListener:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, str]] = []

    @hookimpl
    def on_dag_run_failed(self, dag_run: Any, msg: str) -> None:
        self.calls.append((dag_run, msg))


def test_builtins_are_registered_through_the_hooks() -> None:
    pm = PluginManager(load_entrypoints=False)

    assert pm.executors()["sequential"].distribution == "slipstream"
    assert pm.queue_backends()["memory"].plugin == "slipstream.memory_queue"
    assert set(pm.metadata_backends()) >= {"sqlite", "postgresql"}
    assert {"plugins", "config", "info"} <= set(pm.cli_commands())
    assert "core.executor" in pm.settings()
    described = {info.name: info for info in pm.describe()}
    assert described["slipstream.sequential"].builtin
    assert described["slipstream.sequential"].provides == {"executors": ["sequential"]}


def test_two_plugins_claiming_one_name_is_an_error_naming_both() -> None:
    pm = PluginManager(load_entrypoints=False, plugins=[LocalExecutorTwin()])

    with pytest.raises(PluginConflictError) as err:
        pm.executors()

    message = str(err.value)
    assert "executor 'sequential' is registered twice" in message
    assert "slipstream 0.1.0 (plugin 'slipstream.sequential')" in message
    assert "plugin 'LocalExecutorTwin'" in message


def test_unknown_executor_lists_what_is_installed_and_what_to_install() -> None:
    pm = PluginManager(load_entrypoints=False)

    with pytest.raises(UnknownPluginError) as err:
        pm.executor("celery")

    message = str(err.value)
    assert "no executor named 'celery' is installed" in message
    assert "sequential (slipstream 0.1.0)" in message
    assert "pip install 'slipstream-celery-executor'" in message


def test_queue_and_metadata_backends_are_chosen_by_url_scheme() -> None:
    pm = PluginManager(load_entrypoints=False)

    assert pm.queue_backend_for("memory://").record.schemes == ("memory",)
    assert pm.metadata_backend_for("postgresql+psycopg://u@h/db").plugin == (
        "slipstream.sqlalchemy_store"
    )
    with pytest.raises(UnknownPluginError, match="no queue backend named 'kafka'"):
        pm.queue_backend_for("kafka://broker:9092")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("postgresql+psycopg://slip@db/slipstream", "postgresql"),
        ("sqlite:////tmp/x.db", "sqlite"),
        ("memory://", "memory"),
        ("REDIS://cache:6379/0", "redis"),
    ],
)
def test_url_scheme(url: str, scheme: str) -> None:
    assert url_scheme(url) == scheme


def test_url_without_scheme_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="not a URL of the form scheme://"):
        url_scheme("/var/lib/slipstream.db")


def test_records_validate_their_names() -> None:
    with pytest.raises(ValueError, match="lower-case"):
        ExecutorSpec(name="My Executor", factory=_never)
    with pytest.raises(ValueError, match="at least one URL scheme"):
        QueueBackendSpec(schemes=(), factory=_never)
    with pytest.raises(ValueError, match="'module:Class'"):
        OperatorSpec(name="x", import_path="no_colon_here")


def test_a_listener_that_raises_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exploding, recording = ExplodingListener(), RecordingListener()
    pm = PluginManager(load_entrypoints=False, plugins=[exploding, recording])

    with caplog.at_level(logging.ERROR):
        pm.notify("on_dag_run_failed", dag_run="run-1", msg="task failed")

    assert exploding.calls == ["task failed"]
    assert recording.calls == [("run-1", "task failed")]
    assert "listener ExplodingListener.on_dag_run_failed raised" in caplog.text


def test_entry_point_plugins_load_and_broken_ones_are_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(FAKE_SITE))

    pm = PluginManager(load_entrypoints=True)

    by_name = {info.name: info for info in pm.describe()}
    assert by_name["fake_ok"].status == "active"
    assert by_name["fake_ok"].distribution == "slipstream-fake"
    assert by_name["fake_ok"].provides == {
        "executors": ["fake"],
        "operators": ["fake_op"],
        "listeners": ["on_dag_run_success"],
    }
    assert by_name["fake_broken"].status == "failed"
    assert by_name["fake_broken"].error == (
        "ImportError: this plugin is broken on purpose (slipstream's loader tests)"
    )
    assert by_name["fake_bad_hook"].status == "failed"
    assert "RuntimeError: hook exploded" in (by_name["fake_bad_hook"].error or "")
    # The rest still work.
    assert pm.executor("fake").distribution == "slipstream-fake"
    assert pm.executor("sequential").distribution == "slipstream"


def test_blocked_plugins_are_not_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(FAKE_SITE))

    pm = PluginManager(load_entrypoints=True, blocked=["fake_broken", "fake_ok"])

    by_name = {info.name: info for info in pm.describe()}
    assert by_name["fake_broken"].status == "disabled"
    assert by_name["fake_ok"].status == "disabled"
    assert "fake" not in pm.executors()


def test_missing_name_from_a_disabled_provider_says_it_is_disabled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pm = PluginManager(load_entrypoints=True, blocked=["local_executor"])

    with pytest.raises(UnknownPluginError) as err:
        pm.executor("local")

    assert "slipstream-local-executor is installed but disabled" in str(err.value)
