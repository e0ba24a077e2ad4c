"""DAG params: typed, validated inputs of a run, with defaults (JSON Schema)."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import jsonschema

from slipstream.exceptions import ParamValidationError

_NOTSET: Any = object()
# Keys that are about presentation, not validation.
_UI_KEYS = ("title", "description", "description_md", "values_display", "section")


class Param:
    """One param: a default value and a JSON Schema it must satisfy.

    ``Param(5, type="integer", minimum=1)``; with no schema any JSON value goes.
    """

    def __init__(self, default: Any = _NOTSET, description: str | None = None, **schema: Any):
        self.value = default
        self.description = description
        self.schema = dict(schema)
        if description is not None:
            self.schema.setdefault("description", description)
        if default is not _NOTSET:
            self._check(default, "default")

    @property
    def has_value(self) -> bool:
        return self.value is not _NOTSET

    def _check(self, value: Any, what: str, name: str = "") -> None:
        try:
            jsonschema.validate(value, self.schema, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as exc:
            label = f"param {name!r}" if name else "param"
            raise ParamValidationError(
                f"{label}: {what} {value!r} is invalid: {exc.message}"
            ) from None
        except jsonschema.SchemaError as exc:
            raise ParamValidationError(
                f"param {name!r} has an invalid schema: {exc.message}"
            ) from None

    def resolve(self, value: Any = _NOTSET, name: str = "") -> Any:
        """The value a run sees: ``value`` if given, else the default; validated."""
        final = self.value if value is _NOTSET else value
        if final is _NOTSET:
            if self.schema.get("type") == "null" or "null" in (self.schema.get("type") or []):
                return None
            raise ParamValidationError(f"param {name!r} has no default and no value was given")
        self._check(final, "value", name)
        return copy.deepcopy(final)

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": self.value if self.has_value else None,
            "has_default": self.has_value,
            "description": self.description,
            "schema": self.schema,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Param:
        schema = dict(data.get("schema") or {})
        schema.pop("description", None)
        default = data.get("default") if data.get("has_default", True) else _NOTSET
        return cls(default, description=data.get("description"), **schema)

    def __repr__(self) -> str:
        return f"Param({self.value!r}, {self.schema!r})"


class ParamsDict(MutableMapping[str, Any]):
    """``dag.params``: names to :class:`Param`; reading an item gives its value."""

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self._params: dict[str, Param] = {}
        for key, value in (params or {}).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        self._params[key] = value if isinstance(value, Param) else Param(value)

    def __getitem__(self, key: str) -> Any:
        param = self._params[key]
        return param.value if param.has_value else None

    def __delitem__(self, key: str) -> None:
        del self._params[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def get_param(self, key: str) -> Param:
        return self._params[key]

    def merged(self, other: ParamsDict | Mapping[str, Any] | None) -> ParamsDict:
        """A copy with ``other``'s params added over these."""
        result = ParamsDict()
        result._params = dict(self._params)
        if isinstance(other, ParamsDict):
            result._params.update(other._params)
        else:
            for key, value in (other or {}).items():
                result[key] = value
        return result

    def resolve(self, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The params a run sees: conf overrides defaults; every value validated."""
        conf = conf or {}
        resolved = {
            name: param.resolve(conf.get(name, _NOTSET), name)
            for name, param in self._params.items()
        }
        for key, value in conf.items():
            if key not in resolved:
                resolved[key] = value
        return resolved

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: param.to_dict() for name, param in self._params.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, Any]]) -> ParamsDict:
        result = cls()
        result._params = {name: Param.from_dict(item) for name, item in data.items()}
        return result
