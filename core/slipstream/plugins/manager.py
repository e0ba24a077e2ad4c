"""Finds plugins, collects what they register, and answers "which one is X?".

Load order: hook specs, then the core's built-ins (registered exactly like
external plugins), then the entry-point group ``slipstream``, then any plugin
objects passed in by an embedding application. A plugin that fails to import
or whose hook raises is recorded as failed with its error; the others go on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any, TypeVar

import attrs
import importlib_metadata
import pluggy

from slipstream.errors import PluginConflictError, PluginError, UnknownPluginError
from slipstream.plugins.hookspecs import PROJECT, ListenerSpecs, SlipstreamSpecs
from slipstream.plugins.records import (
    CliCommandSpec,
    ExecutorSpec,
    MetadataBackendSpec,
    OperatorSpec,
    PluginInfo,
    QueueBackendSpec,
    Registered,
    SettingSpec,
)
from slipstream.version import __version__

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "slipstream"

BUILTIN_MODULES = (
    "settings",
    "sequential",
    "memory_queue",
    "sqlalchemy_store",
    "operators",
    "cli",
)
BUILTIN_PREFIX = "slipstream."

# Hint-only: which first-party distribution provides a name, for the error message
# when it is missing. Never used to import anything.
KNOWN_PROVIDERS: Mapping[str, Mapping[str, str]] = {
    "executor": {
        "local": "slipstream-local-executor",
        "celery": "slipstream-celery-executor",
        "kubernetes": "slipstream-k8s-executor",
    },
    "queue backend": {
        "redis": "slipstream-celery-executor",
        "rediss": "slipstream-celery-executor",
        "amqp": "slipstream-celery-executor",
        "amqps": "slipstream-celery-executor",
    },
    "metadata backend": {"mysql": "slipstream[mysql]"},
}

R = TypeVar("R")


@attrs.frozen
class _Family:
    """One registry hook: what it is called, what it yields, and how records are keyed."""

    kind: str
    hook: str
    record_type: type[Any]
    keys: Callable[[Any], Iterable[str]]


FAMILIES: Mapping[str, _Family] = {
    "executors": _Family("executor", "slipstream_executors", ExecutorSpec, lambda r: [r.name]),
    "queue_backends": _Family(
        "queue backend", "slipstream_queue_backends", QueueBackendSpec, lambda r: r.schemes
    ),
    "metadata_backends": _Family(
        "metadata backend", "slipstream_metadata_backends", MetadataBackendSpec, lambda r: r.schemes
    ),
    "operators": _Family("operator", "slipstream_operators", OperatorSpec, lambda r: [r.name]),
    "cli_commands": _Family(
        "CLI command", "slipstream_cli_commands", CliCommandSpec, lambda r: [r.name]
    ),
    "settings": _Family("setting", "slipstream_settings", SettingSpec, lambda r: [r.dotted]),
}


@attrs.define
class _Source:
    """Where a registered plugin came from and how it is doing."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    status: str = "active"
    error: str | None = None


def url_scheme(url: str) -> str:
    """``postgresql+psycopg://host/db`` -> ``postgresql``; ``memory://`` -> ``memory``."""
    match = re.match(r"^([A-Za-z][A-Za-z0-9.\-]*)(\+[A-Za-z0-9_\-]+)?://", url)
    if not match:
        raise ValueError(f"{url!r} is not a URL of the form scheme://...")
    return match.group(1).lower()


def _describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class PluginManager:
    """Slipstream's plugin registry: one per application, nothing global.

    ``load_entrypoints=False`` gives only the built-ins plus ``plugins``, which
    is what tests and embedding applications usually want.
    """

    def __init__(
        self,
        *,
        load_entrypoints: bool = True,
        plugins: Iterable[object] = (),
        blocked: Iterable[str] = (),
        entry_point_group: str = ENTRY_POINT_GROUP,
    ) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(SlipstreamSpecs)
        self._pm.add_hookspecs(ListenerSpecs)
        self._sources: dict[str, _Source] = {}
        self._cache: dict[str, list[Registered[Any]]] = {}
        self._blocked = set(blocked)

        for module_name in BUILTIN_MODULES:
            module = import_module(f"slipstream.plugins.builtins.{module_name}")
            self._register(
                module,
                _Source(BUILTIN_PREFIX + module_name, "slipstream", __version__, builtin=True),
            )
        if load_entrypoints:
            self._load_entrypoints(entry_point_group)
        for plugin in plugins:
            self.register(plugin)

    # -- registration -------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register a plugin object or module from code (embedding, tests)."""
        plugin_name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        self._register(plugin, _Source(plugin_name, None, None, builtin=False))
        return plugin_name

    def _register(self, plugin: object, source: _Source) -> None:
        if source.name in self._sources:
            raise PluginError(f"a plugin named {source.name!r} is already registered")
        self._sources[source.name] = source
        self._cache.clear()
        try:
            self._pm.register(plugin, name=source.name)
            self._pm.check_pending()
        except Exception as exc:
            if self._pm.is_registered(plugin):
                self._pm.unregister(plugin)
            if source.builtin:
                raise
            source.status, source.error = "failed", _describe_error(exc)
            log.warning("plugin %s could not be registered: %s", source.name, source.error)

    def _load_entrypoints(self, group: str) -> None:
        for ep in importlib_metadata.entry_points(group=group):
            dist = ep.dist
            source = _Source(
                ep.name,
                dist.name if dist else None,
                dist.version if dist else None,
                builtin=False,
            )
            if ep.name in self._sources:
                # Two installed distributions both use this entry-point name.
                other = self._sources[ep.name]
                source.name = f"{ep.name} ({source.distribution})"
                source.status = "failed"
                source.error = (
                    f"entry point name {ep.name!r} is already used by {other.distribution}"
                )
                self._sources[source.name] = source
                continue
            if ep.name in self._blocked or (dist and dist.name in self._blocked):
                source.status = "disabled"
                self._sources[ep.name] = source
                continue
            try:
                module = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                source.status, source.error = "failed", _describe_error(exc)
                self._sources[ep.name] = source
                log.warning(
                    "plugin %s (%s) failed to load: %s", ep.name, source.distribution, source.error
                )
                continue
            self._register(module, source)

    # -- collection -----------------------------------------------------------------

    def _collect(self, hook_name: str, record_type: type[R]) -> list[Registered[R]]:
        if hook_name in self._cache:
            return self._cache[hook_name]
        hook = getattr(self._pm.hook, hook_name)
        collected: list[Registered[Any]] = []
        # pluggy calls the last registered first; walk in registration order instead.
        for impl in hook.get_hookimpls():
            source = self._sources[impl.plugin_name]
            try:
                results = list(impl.function() or ())
                for result in results:
                    if not isinstance(result, record_type):
                        raise PluginError(
                            f"{hook_name} yielded {type(result).__name__}, "
                            f"expected {record_type.__name__}"
                        )
            except Exception as exc:
                source.status = "failed"
                source.error = f"{hook_name}: {_describe_error(exc)}"
                log.warning("plugin %s failed in %s: %s", source.name, hook_name, source.error)
                continue
            collected.extend(
                Registered(
                    record=result,
                    plugin=source.name,
                    distribution=source.distribution,
                    version=source.version,
                )
                for result in results
            )
        self._cache[hook_name] = collected
        return collected

    def _index(self, family: str) -> dict[str, Registered[Any]]:
        spec = FAMILIES[family]
        index: dict[str, Registered[Any]] = {}
        for registered in self._collect(spec.hook, spec.record_type):
            for key in spec.keys(registered.record):
                if key in index:
                    first = index[key]
                    raise PluginConflictError(
                        f"{spec.kind} {key!r} is registered twice: by {first.provider} "
                        f"(plugin {first.plugin!r}) and by {registered.provider} "
                        f"(plugin {registered.plugin!r}). Uninstall one of them, or disable one "
                        f'with [plugins] disabled = ["<plugin>"].'
                    )
                index[key] = registered
        return index

    def executors(self) -> dict[str, Registered[ExecutorSpec]]:
        return self._index("executors")

    def queue_backends(self) -> dict[str, Registered[QueueBackendSpec]]:
        return self._index("queue_backends")

    def metadata_backends(self) -> dict[str, Registered[MetadataBackendSpec]]:
        return self._index("metadata_backends")

    def operators(self) -> dict[str, Registered[OperatorSpec]]:
        return self._index("operators")

    def cli_commands(self) -> dict[str, Registered[CliCommandSpec]]:
        return self._index("cli_commands")

    def settings(self) -> dict[str, Registered[SettingSpec]]:
        """Every configuration key, by ``section.key``."""
        return self._index("settings")

    # -- selection --------------------------------------------------------------------

    def executor(self, name: str) -> Registered[ExecutorSpec]:
        found = self.executors().get(name)
        if found is None:
            raise UnknownPluginError(self._missing_message("executor", name, self.executors()))
        return found

    def queue_backend_for(self, url: str) -> Registered[QueueBackendSpec]:
        scheme = url_scheme(url)
        found = self.queue_backends().get(scheme)
        if found is None:
            raise UnknownPluginError(
                self._missing_message("queue backend", scheme, self.queue_backends())
            )
        return found

    def metadata_backend_for(self, url: str) -> Registered[MetadataBackendSpec]:
        scheme = url_scheme(url)
        found = self.metadata_backends().get(scheme)
        if found is None:
            raise UnknownPluginError(
                self._missing_message("metadata backend", scheme, self.metadata_backends())
            )
        return found

    def _missing_message(
        self, kind: str, name: str, installed: Mapping[str, Registered[Any]]
    ) -> str:
        listed = ", ".join(f"{key} ({reg.provider})" for key, reg in sorted(installed.items()))
        lines = [f"no {kind} named {name!r} is installed. Installed: {listed or 'none'}."]
        provider = KNOWN_PROVIDERS.get(kind, {}).get(name)
        failed = [s for s in self._sources.values() if s.status == "failed"]
        disabled = [s for s in self._sources.values() if s.status == "disabled"]
        if provider:
            broken = [s for s in failed if s.distribution == provider]
            off = [s for s in disabled if s.distribution == provider]
            if broken:
                lines.append(f"{provider} is installed but failed to load: {broken[0].error}")
            elif off:
                lines.append(f"{provider} is installed but disabled in [plugins] disabled.")
            else:
                lines.append(f"{name!r} is provided by {provider}: pip install '{provider}'")
        elif failed:
            lines.append(
                "These plugins failed to load and may provide it: "
                + "; ".join(f"{s.name} ({s.distribution}): {s.error}" for s in failed)
            )
        return "\n".join(lines)

    # -- listeners ---------------------------------------------------------------------

    def has_listeners(self, event: str) -> bool:
        """Whether any plugin listens to ``event`` (so callers can skip building its arguments)."""
        return bool(getattr(self._pm.hook, event).get_hookimpls())

    def notify(self, event: str, **kwargs: Any) -> None:
        """Call every listener for ``event``; a listener that raises is logged, not raised."""
        hook = getattr(self._pm.hook, event)
        for impl in reversed(hook.get_hookimpls()):
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except Exception:
                log.exception("listener %s.%s raised; ignored", impl.plugin_name, event)

    # -- description --------------------------------------------------------------------

    def describe(self) -> list[PluginInfo]:
        """Every plugin, its status, and what it registered (for ``plugins list`` and the API)."""
        provides: dict[str, dict[str, list[str]]] = {name: {} for name in self._sources}
        unavailable: dict[str, dict[str, dict[str, str]]] = {name: {} for name in self._sources}
        for family, spec in FAMILIES.items():
            for registered in self._collect(spec.hook, spec.record_type):
                keys = list(spec.keys(registered.record))
                provides[registered.plugin].setdefault(family, []).extend(keys)
                reason = getattr(registered.record, "unavailable", None)
                if reason:
                    unavailable[registered.plugin].setdefault(family, {}).update(
                        dict.fromkeys(keys, reason)
                    )
        listeners = self._listener_names()
        for plugin_name, events in listeners.items():
            provides[plugin_name]["listeners"] = events
        return [
            PluginInfo(
                name=source.name,
                distribution=source.distribution,
                version=source.version,
                builtin=source.builtin,
                status=source.status,
                error=source.error,
                provides=provides.get(source.name, {}),
                unavailable=unavailable.get(source.name, {}),
            )
            for source in self._sources.values()
        ]

    def _listener_names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for event in vars(ListenerSpecs):
            hook = getattr(self._pm.hook, event, None)
            if hook is None or not event.startswith(("on_", "before_")):
                continue
            for impl in hook.get_hookimpls():
                out.setdefault(impl.plugin_name, []).append(event)
        return out

    def failed(self) -> list[PluginInfo]:
        return [info for info in self.describe() if info.status == "failed"]

    @property
    def hook(self) -> Any:
        return self._pm.hook

    def plugin_modules(self) -> dict[str, ModuleType | object]:
        return {name: plugin for name, plugin in self._pm.list_name_plugin() if plugin is not None}
