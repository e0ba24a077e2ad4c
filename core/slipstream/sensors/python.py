"""``PythonSensor``: wait until a Python callable returns something truthy."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from slipstream.exceptions import DagDefinitionError
from slipstream.operators.python import determine_kwargs
from slipstream.sensors.base import BaseSensorOperator, PokeReturnValue


class PythonSensor(BaseSensorOperator):
    """Pokes ``python_callable(*op_args, **op_kwargs)`` (context entries it names are
    passed too) until it returns a truthy value or a done ``PokeReturnValue``,
    whose ``xcom_value`` becomes the XCom."""

    template_fields: Sequence[str] = ("templates_dict", "op_args", "op_kwargs")
    template_fields_renderers = {"templates_dict": "json", "op_args": "py", "op_kwargs": "py"}

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Collection[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        templates_dict: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not callable(python_callable):
            raise DagDefinitionError(
                f"PythonSensor {kwargs.get('task_id')!r}: python_callable must be callable"
            )
        super().__init__(**kwargs)
        self.python_callable = python_callable
        self.op_args = list(op_args or [])
        self.op_kwargs = dict(op_kwargs or {})
        self.templates_dict = templates_dict

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        extra = dict(context)
        extra["templates_dict"] = self.templates_dict
        kwargs = determine_kwargs(self.python_callable, self.op_args, self.op_kwargs, extra)
        self.log.info("Poking callable: %s", getattr(self.python_callable, "__name__", "?"))
        result = self.python_callable(*self.op_args, **kwargs)
        if isinstance(result, PokeReturnValue):
            return result
        return PokeReturnValue(bool(result))
