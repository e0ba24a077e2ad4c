"""``slipstream info``: versions, configuration summary and plugins, for bug reports."""

from __future__ import annotations

import platform
import sys
from typing import Any

import click

from slipstream.cli.output import emit_one, output_option
from slipstream.cli.state import get_state
from slipstream.errors import SlipstreamError
from slipstream.version import __version__


@click.command("info")
@output_option
def info(output: str) -> None:
    """Versions, where configuration comes from, and what is installed."""
    state = get_state()
    cfg = state.config
    manager = state.manager
    described = manager.describe()

    def selected(kind: str, registered: Any) -> str:
        record = registered.record
        note = f" — unavailable: {record.unavailable}" if record.unavailable else ""
        return f"{registered.provider}{note}"

    try:
        executor = selected("executor", manager.executor(cfg["core.executor"]))
        queue = selected("queue", manager.queue_backend_for(cfg["core.queue"]))
        metadata = selected("metadata", manager.metadata_backend_for(cfg["core.metadata"]))
    except SlipstreamError as exc:  # pragma: no cover - build_config already checked these
        raise click.ClickException(str(exc)) from exc
    record: dict[str, Any] = {
        "slipstream": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "home": str(cfg.home),
        "config_file": str(cfg.file) if cfg.file else "(none: defaults and environment)",
        "executor": f"{cfg['core.executor']} — {executor}",
        "queue": f"{cfg.display('core.queue')} — {queue}",
        "metadata": f"{cfg.display('core.metadata')} — {metadata}",
        "dags_folder": str(cfg["core.dags_folder"]),
        "parallelism": cfg["core.parallelism"],
        "api": f"http://{cfg['api.host']}:{cfg['api.port']}",
        "plugins": ", ".join(f"{p.name} ({p.status})" for p in described if not p.builtin)
        or "(none)",
        "failed_plugins": [f"{p.name}: {p.error}" for p in described if p.status == "failed"],
    }
    emit_one(record, output)
