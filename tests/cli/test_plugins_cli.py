"""``slipstream plugins list`` against the really installed plugin distributions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import CliRun

FAKE_SITE = Path(__file__).parent.parent / "plugins" / "data" / "site"


def _registered(plugins: list[dict[str, object]], family: str) -> dict[str, str]:
    """name -> distribution, for one family of registrations."""
    found: dict[str, str] = {}
    for plugin in plugins:
        provides = plugin["provides"]
        assert isinstance(provides, dict)
        for name in provides.get(family, []):
            found[name] = str(plugin["distribution"])
    return found


def test_installed_plugin_distributions_register_through_entry_points(slipstream: CliRun) -> None:
    result = slipstream("plugins", "list", "-o", "json")

    assert result.returncode == 0, result.stderr
    plugins = json.loads(result.stdout)
    assert _registered(plugins, "executors") == {
        "sequential": "slipstream",
        "local": "slipstream-local-executor",
        "celery": "slipstream-celery-executor",
        "kubernetes": "slipstream-k8s-executor",
    }
    assert _registered(plugins, "queue_backends") == {
        "memory": "slipstream",
        "redis": "slipstream-celery-executor",
        "amqp": "slipstream-celery-executor",
    }
    assert {"sqlite", "postgresql"} <= set(_registered(plugins, "metadata_backends"))
    assert all(p["status"] == "active" for p in plugins)
    by_name = {p["name"]: p for p in plugins}
    assert "not implemented yet" in by_name["celery_executor"]["unavailable"]["executors"]["celery"]
    assert by_name["local_executor"]["unavailable"] == {}


def test_a_plugin_that_raises_on_import_is_listed_as_broken_and_the_rest_work(
    slipstream: CliRun,
) -> None:
    result = slipstream("plugins", "list", "-o", "json", env={"PYTHONPATH": str(FAKE_SITE)})

    assert result.returncode == 0, result.stderr
    by_name = {p["name"]: p for p in json.loads(result.stdout)}
    assert by_name["fake_broken"]["status"] == "failed"
    assert by_name["fake_broken"]["distribution"] == "slipstream-fake"
    assert "ImportError: this plugin is broken on purpose" in by_name["fake_broken"]["error"]
    assert by_name["local_executor"]["status"] == "active"
    assert by_name["fake_ok"]["provides"]["executors"] == ["fake"]


def test_plugins_list_table_shows_status_and_registrations(slipstream: CliRun) -> None:
    result = slipstream("plugins", "list", env={"PYTHONPATH": str(FAKE_SITE)})

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "distribution", "version", "status", "provides"]
    celery = next(line for line in lines if line.startswith("celery_executor"))
    assert celery.split() == [
        "celery_executor",
        "slipstream-celery-executor",
        "0.1.0",
        "active",
        "executors:",
        "celery",
        "(unavailable)",
    ]
    assert any("queue_backends: redis (unavailable), amqp (unavailable)" in line for line in lines)
    broken = next(line for line in lines if line.startswith("fake_broken"))
    assert "failed: ImportError: this plugin is broken on purpose" in broken


def test_version(slipstream: CliRun) -> None:
    result = slipstream("--version")

    assert result.returncode == 0
    assert result.stdout.strip() == "slipstream 0.1.0"
