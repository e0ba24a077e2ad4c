"""The records that registry hooks yield.

Each record says *what* a plugin provides; the manager keeps *who* provided it
(:class:`Registered`) beside it, so records stay small, frozen and comparable.
Factories import their heavy dependencies when called, never at registration.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

if TYPE_CHECKING:
    import click

    from slipstream.executors.base import Executor, ExecutorContext
    from slipstream.metadata.base import MetadataStore, StoreContext
    from slipstream.queues.base import QueueBackend

_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


def _valid_name(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not _NAME.match(value):
        raise ValueError(
            f"{type(instance).__name__}.{attribute.name} must be lower-case letters, digits, "
            f"'_' or '-', starting with a letter; got {value!r}"
        )


def _valid_schemes(
    instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    if not value:
        raise ValueError(f"{type(instance).__name__}.schemes must name at least one URL scheme")
    for scheme in value:
        if not _NAME.match(scheme):
            raise ValueError(
                f"{type(instance).__name__}.schemes must be lower-case URL schemes; got {scheme!r}"
            )


def _as_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class ExecutorSpec:
    """An executor selected by ``[core] executor = "<name>"``.

    ``unavailable`` is set when the registration is real but cannot be used in
    this installation (an unfinished executor, a missing optional dependency);
    choosing it is then an error carrying that text.
    """

    name: str = attrs.field(validator=_valid_name)
    factory: Callable[[ExecutorContext], Executor]
    description: str = ""
    unavailable: str | None = None


@attrs.frozen(kw_only=True)
class QueueBackendSpec:
    """A queue backend selected by the scheme of ``[core] queue`` (``redis://...``)."""

    schemes: tuple[str, ...] = attrs.field(converter=_as_tuple, validator=_valid_schemes)
    factory: Callable[[str], QueueBackend]
    description: str = ""
    unavailable: str | None = None


@attrs.frozen(kw_only=True)
class MetadataBackendSpec:
    """A metadata store selected by the scheme of ``[core] metadata``.

    The scheme is the part before ``+`` and ``://``: ``postgresql+psycopg://`` is
    ``postgresql``.
    """

    schemes: tuple[str, ...] = attrs.field(converter=_as_tuple, validator=_valid_schemes)
    factory: Callable[[StoreContext], MetadataStore]
    description: str = ""
    unavailable: str | None = None


@attrs.frozen(kw_only=True)
class OperatorSpec:
    """An operator class offered by name, for catalogues and declarative use.

    ``import_path`` is ``"package.module:ClassName"`` so that listing operators
    imports nothing.
    """

    name: str = attrs.field(validator=_valid_name)
    import_path: str = attrs.field()
    description: str = ""

    @import_path.validator
    def _check_path(self, attribute: attrs.Attribute[str], value: str) -> None:
        module, _, attr = value.partition(":")
        if not module or not attr:
            raise ValueError(f"OperatorSpec.import_path must be 'module:Class', got {value!r}")

    def load(self) -> type[Any]:
        module, _, attr = self.import_path.partition(":")
        obj: type[Any] = getattr(importlib.import_module(module), attr)
        return obj


@attrs.frozen(kw_only=True)
class CliCommandSpec:
    """A click command (or group) added under ``slipstream``."""

    command: click.Command

    @property
    def name(self) -> str:
        return self.command.name or ""


SETTING_TYPES = ("str", "int", "float", "bool", "path", "list")


@attrs.frozen(kw_only=True)
class SettingSpec:
    """A configuration key a plugin owns: ``[section] key``, also ``SLIPSTREAM__SECTION__KEY``.

    ``default_factory`` receives the slipstream home directory, for defaults that
    live under it (the SQLite file, the DAGs folder). ``secret`` values are
    masked wherever configuration is shown.
    """

    section: str = attrs.field(validator=_valid_name)
    key: str = attrs.field(validator=_valid_name)
    type: str = attrs.field(default="str", validator=attrs.validators.in_(SETTING_TYPES))
    default: Any = None
    default_factory: Callable[[Any], Any] | None = None
    description: str = ""
    secret: bool = False
    minimum: int | float | None = None

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"


R = TypeVar("R")


@attrs.frozen(kw_only=True)
class Registered(Generic[R]):
    """A record together with the plugin and distribution it came from."""

    record: R
    plugin: str
    distribution: str | None
    version: str | None

    @property
    def provider(self) -> str:
        """How to name the provider in a message: ``slipstream-celery-executor 0.1.0``."""
        if self.distribution is None:
            return f"plugin {self.plugin!r}"
        return f"{self.distribution} {self.version}"


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin as ``slipstream plugins list`` shows it."""

    name: str
    distribution: str | None
    version: str | None
    builtin: bool
    status: str  # "active" | "disabled" | "failed"
    error: str | None = None
    provides: dict[str, list[str]] = attrs.field(factory=dict)
    #: family -> name -> why a registration cannot be used here (``unavailable``)
    unavailable: dict[str, dict[str, str]] = attrs.field(factory=dict)
