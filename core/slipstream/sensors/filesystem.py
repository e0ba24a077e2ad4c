"""``FileSensor``: wait for a file (or a glob match, or a non-empty folder) to appear."""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from typing import Any

from slipstream.exceptions import DagDefinitionError, SlipstreamException
from slipstream.models.connection import Connection
from slipstream.operators._common import get_connection, is_templated_value
from slipstream.sensors.base import BaseSensorOperator

DEFAULT_FS_CONN_ID = "fs_default"


class FileSensor(BaseSensorOperator):
    """Done when ``filepath`` (templated; a glob pattern, with ``**`` under ``recursive``)
    matches a file, or a folder holding at least one file somewhere inside.

    A relative ``filepath`` is joined to the extra ``"path"`` of the connection
    ``fs_conn_id``, as Airflow's FSHook does. ``fs_default`` may be left undefined
    (no base path); a connection named explicitly must exist.
    """

    template_fields: Sequence[str] = ("filepath",)
    ui_color = "#91818a"

    def __init__(
        self,
        *,
        filepath: str | os.PathLike[str],
        fs_conn_id: str = DEFAULT_FS_CONN_ID,
        recursive: bool = False,
        **kwargs: Any,
    ) -> None:
        owner = f"FileSensor {kwargs.get('task_id')!r}"
        if isinstance(filepath, os.PathLike):
            filepath = os.fspath(filepath)
        if not is_templated_value(filepath) and (not isinstance(filepath, str) or not filepath):
            raise DagDefinitionError(f"{owner}: filepath must be a non-empty path string")
        if not isinstance(fs_conn_id, str):
            raise DagDefinitionError(f"{owner}: fs_conn_id must be a string")
        super().__init__(**kwargs)
        self.filepath = filepath
        self.fs_conn_id = fs_conn_id
        self.recursive = recursive

    def _base_path(self) -> str:
        if self.fs_conn_id == DEFAULT_FS_CONN_ID:
            try:
                conn = Connection.get(self.fs_conn_id)
            except KeyError:
                return ""
        else:
            conn = get_connection(self.fs_conn_id)
        path = conn.extra_dejson.get("path", "")
        if not isinstance(path, str):
            raise SlipstreamException(
                f"connection {self.fs_conn_id!r}: extra path must be a string"
            )
        return path

    def poke(self, context: Mapping[str, Any]) -> bool:
        full_path = os.path.join(self._base_path(), os.path.expanduser(str(self.filepath)))
        self.log.info("Poking for file %s", full_path)
        for path in glob.glob(full_path, recursive=self.recursive):
            if os.path.isfile(path):
                self.log.info("Found file %s", path)
                return True
            for _, _, files in os.walk(path):
                if files:
                    self.log.info("Found a file in folder %s", path)
                    return True
        return False
