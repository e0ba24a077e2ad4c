"""``{{ macros.* }}`` in templates: Airflow's date helpers and a few modules."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import date, datetime, timedelta

__all__ = ["date", "datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """``ds_add("2024-01-31", 1)`` -> ``"2024-02-01"``."""
    return (datetime.strptime(ds, "%Y-%m-%d") + timedelta(days=days)).strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds_format("2024-01-31", "%Y-%m-%d", "%d/%m/%Y")`` -> ``"31/01/2024"``."""
    return datetime.strptime(ds, input_format).strftime(output_format)
