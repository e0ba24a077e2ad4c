"""``EmptyOperator``: does nothing; a join or fork point in a DAG."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slipstream.models.baseoperator import BaseOperator


class EmptyOperator(BaseOperator):
    ui_color = "#e8f7e4"

    def execute(self, context: Mapping[str, Any]) -> None:
        return None
