"""Configuration: defaults < ``slipstream.toml`` < ``SLIPSTREAM__SECTION__KEY`` < code.

The keys themselves are declared by plugins through ``slipstream_settings`` (the
core declares its own the same way), so this module knows how to read and
check values but not which keys exist.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.errors import ConfigError, UnknownPluginError

if TYPE_CHECKING:
    from slipstream.plugins.manager import PluginManager
    from slipstream.plugins.records import SettingSpec

CONFIG_FILE = "slipstream.toml"
ENV_PREFIX = "SLIPSTREAM__"
HOME_ENV = "SLIPSTREAM_HOME"
MASK = "********"


@attrs.frozen
class Value:
    """A setting's effective value and where it came from."""

    value: Any
    source: str  # "default", "file /path/slipstream.toml", "environment variable X", "code"


@attrs.frozen
class ConfigSources:
    """Where configuration comes from: found before any plugin is loaded."""

    home: Path
    file: Path | None
    file_values: Mapping[str, Mapping[str, Any]]
    environ: Mapping[str, str]
    overrides: Mapping[str, Any]

    def raw(self, section: str, key: str, default: Any = None) -> Any:
        """A value before validation, for what must be known to load plugins at all."""
        dotted = f"{section}.{key}"
        if dotted in self.overrides:
            return self.overrides[dotted]
        env_name = f"{ENV_PREFIX}{section.upper()}__{key.upper()}"
        if env_name in self.environ:
            return self.environ[env_name]
        return self.file_values.get(section, {}).get(key, default)


def find_sources(
    *,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
) -> ConfigSources:
    """Find ``slipstream.toml``: the working directory or its parents, then
    ``$SLIPSTREAM_HOME``, then ``~/slipstream``. The home is the folder it is in."""
    env = dict(os.environ if environ is None else environ)
    start = (cwd or Path.cwd()).resolve()
    found: Path | None = config_file
    if found is None:
        for folder in (start, *start.parents):
            if (folder / CONFIG_FILE).is_file():
                found = folder / CONFIG_FILE
                break
    if found is not None:
        home = found.parent
    else:
        home = Path(env[HOME_ENV]).expanduser() if env.get(HOME_ENV) else Path.home() / "slipstream"
        home = home.resolve()
        if (home / CONFIG_FILE).is_file():
            found = home / CONFIG_FILE
    file_values: dict[str, dict[str, Any]] = {}
    if found is not None:
        try:
            parsed = tomllib.loads(found.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {found}: {exc}") from exc
        for section, table in parsed.items():
            if not isinstance(table, dict):
                raise ConfigError(
                    f"{found}: top-level key {section!r} must be a [section] table, "
                    f"for example [core]"
                )
            file_values[section] = table
    return ConfigSources(
        home=home,
        file=found,
        file_values=file_values,
        environ=env,
        overrides=dict(overrides or {}),
    )


@attrs.frozen
class Config:
    """Validated, typed configuration. Read with ``config["core.executor"]``."""

    home: Path
    file: Path | None
    values: Mapping[str, Value]
    specs: Mapping[str, SettingSpec] = attrs.field(repr=False)

    def __getitem__(self, dotted: str) -> Any:
        try:
            return self.values[dotted].value
        except KeyError:
            raise ConfigError(self._unknown(dotted)) from None

    def get(self, dotted: str, default: Any = None) -> Any:
        found = self.values.get(dotted)
        return default if found is None else found.value

    def source(self, dotted: str) -> str:
        try:
            return self.values[dotted].source
        except KeyError:
            raise ConfigError(self._unknown(dotted)) from None

    def display(self, dotted: str) -> str:
        """The value as a person should see it: secrets masked, paths and lists plain."""
        value = self[dotted]
        if self.specs[dotted].secret and value:
            return MASK
        if isinstance(value, str):
            return mask_url_password(value)
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return "" if value is None else str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.values))

    def _unknown(self, dotted: str) -> str:
        close = difflib.get_close_matches(dotted, list(self.values), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        return f"unknown setting {dotted!r}.{hint}"


def mask_url_password(text: str) -> str:
    """``postgresql://slip:s3cret@db/x`` -> ``postgresql://slip:********@db/x``."""
    return re.sub(r"^([A-Za-z][\w.+\-]*://[^:/@]*):[^@/]*@", rf"\1:{MASK}@", text)


def build_config(sources: ConfigSources, manager: PluginManager) -> Config:
    """Check every value against the keys installed plugins declare, then the
    names that select plugins (executor, queue, metadata)."""
    specs = {dotted: reg.record for dotted, reg in manager.settings().items()}
    sections = {spec.section for spec in specs.values()}
    file_label = f"file {sources.file}"

    for section, table in sources.file_values.items():
        if section not in sections:
            raise ConfigError(
                f"unknown section [{section}] in {sources.file}. "
                f"{_suggest(section, sections, 'Known sections')}"
            )
        for key in table:
            if f"{section}.{key}" not in specs:
                known = sorted(s.key for s in specs.values() if s.section == section)
                raise ConfigError(
                    f"unknown key {key!r} in [{section}] of {sources.file}. "
                    f"{_suggest(key, known, f'Known keys in [{section}]')}"
                )
    for name in sources.environ:
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or f"{parts[0]}.{parts[1]}" not in specs:
            dotted = ".".join(parts)
            known = sorted(f"{ENV_PREFIX}{d.replace('.', '__').upper()}" for d in specs)
            raise ConfigError(
                f"environment variable {name} names no known setting ({dotted!r}). "
                f"{_suggest(name, known, 'Known variables include')}"
            )
    for dotted in sources.overrides:
        if dotted not in specs:
            raise ConfigError(
                f"unknown setting {dotted!r} passed in code. {_suggest(dotted, specs, 'Known')}"
            )

    values: dict[str, Value] = {}
    for dotted, spec in specs.items():
        env_name = f"{ENV_PREFIX}{spec.section.upper()}__{spec.key.upper()}"
        if dotted in sources.overrides:
            raw, source, from_text = sources.overrides[dotted], "code", False
        elif env_name in sources.environ:
            raw, source, from_text = (
                sources.environ[env_name],
                f"environment variable {env_name}",
                True,
            )
        elif spec.key in sources.file_values.get(spec.section, {}):
            raw, source, from_text = sources.file_values[spec.section][spec.key], file_label, False
        else:
            default = spec.default_factory(sources.home) if spec.default_factory else spec.default
            values[dotted] = Value(default, "default")
            continue
        base = sources.file.parent if source == file_label and sources.file else Path.cwd()
        values[dotted] = Value(_convert(spec, raw, source, from_text, base), source)

    config = Config(home=sources.home, file=sources.file, values=values, specs=specs)
    _check_selections(config, manager)
    return config


def _suggest(name: str, known: Any, label: str) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    did_you_mean = f"Did you mean {close[0]!r}? " if close else ""
    return f"{did_you_mean}{label}: {', '.join(known)}."


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(spec: SettingSpec, raw: Any, source: str, from_text: bool, base: Path) -> Any:
    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{spec.dotted}: expected {expected}, got {raw!r} (from {source})")

    value: Any
    if spec.type == "str":
        if not isinstance(raw, str):
            raise wrong("a string")
        value = raw
    elif spec.type == "int":
        if from_text:
            try:
                value = int(raw.strip())
            except ValueError:
                raise wrong("an integer") from None
        elif isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            raise wrong("an integer")
    elif spec.type == "float":
        if from_text:
            try:
                value = float(raw.strip())
            except ValueError:
                raise wrong("a number") from None
        elif isinstance(raw, int | float) and not isinstance(raw, bool):
            value = float(raw)
        else:
            raise wrong("a number")
    elif spec.type == "bool":
        if from_text:
            lowered = raw.strip().lower()
            if lowered not in _TRUE | _FALSE:
                raise wrong("true or false")
            value = lowered in _TRUE
        elif isinstance(raw, bool):
            value = raw
        else:
            raise wrong("true or false")
    elif spec.type == "path":
        if not isinstance(raw, str) or not raw:
            raise wrong("a path")
        path = Path(raw).expanduser()
        value = path if path.is_absolute() else (base / path).resolve()
    elif spec.type == "list":
        if from_text:
            text = raw.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise wrong("a JSON list or comma-separated names") from None
            else:
                value = [part.strip() for part in text.split(",") if part.strip()]
        else:
            value = raw
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise wrong("a list of strings")
    else:  # pragma: no cover - SettingSpec validates its type
        raise AssertionError(spec.type)
    if spec.minimum is not None and isinstance(value, int | float) and value < spec.minimum:
        raise ConfigError(
            f"{spec.dotted}: must be at least {spec.minimum}, got {value} (from {source})"
        )
    return value


def _check_selections(config: Config, manager: PluginManager) -> None:
    checks = (
        ("core.executor", lambda v: manager.executor(v)),
        ("core.queue", lambda v: manager.queue_backend_for(v)),
        ("core.metadata", lambda v: manager.metadata_backend_for(v)),
    )
    for dotted, check in checks:
        if dotted not in config.values:
            continue
        try:
            check(config[dotted])
        except (UnknownPluginError, ValueError) as exc:
            raise ConfigError(
                f"{dotted} = {config.display(dotted)!r} (from {config.source(dotted)}): {exc}"
            ) from None
