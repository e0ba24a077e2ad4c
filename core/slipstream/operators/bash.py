"""``BashOperator``: run a shell command; its last line of output is the XCom."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Container, Mapping, Sequence
from typing import Any

from slipstream.exceptions import SkipTask, SlipstreamException
from slipstream.models.baseoperator import BaseOperator


class BashOperator(BaseOperator):
    """Runs ``bash_command`` with ``bash -c``; a non-zero exit fails the task.

    Exit code 99 (``skip_on_exit_code``) skips it instead. A command ending in
    ``.sh`` or ``.bash`` is a template file next to the DAG file, rendered first.
    """

    template_fields: Sequence[str] = ("bash_command", "env", "cwd")
    template_fields_renderers = {"bash_command": "bash", "env": "json"}
    template_ext: Sequence[str] = (".sh", ".bash")
    ui_color = "#f0ede4"

    def __init__(
        self,
        *,
        bash_command: str,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        output_encoding: str = "utf-8",
        skip_on_exit_code: int | Container[int] | None = 99,
        cwd: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bash_command = bash_command
        self.env = dict(env) if env is not None else None
        self.append_env = append_env
        self.output_encoding = output_encoding
        self.skip_on_exit_code = (
            [skip_on_exit_code] if isinstance(skip_on_exit_code, int) else skip_on_exit_code or []
        )
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    def _environment(self, context: Mapping[str, Any]) -> dict[str, str]:
        base = dict(os.environ) if self.env is None or self.append_env else {}
        base.update(self.env or {})
        ti = context.get("ti")
        base.update(
            {
                "SLIPSTREAM_CTX_DAG_ID": getattr(context.get("dag"), "dag_id", ""),
                "SLIPSTREAM_CTX_TASK_ID": getattr(context.get("task"), "task_id", ""),
                "SLIPSTREAM_CTX_RUN_ID": str(context.get("run_id", "")),
                "SLIPSTREAM_CTX_TRY_NUMBER": str(getattr(ti, "try_number", 1)),
            }
        )
        return base

    def execute(self, context: Mapping[str, Any]) -> str | None:
        bash = shutil.which("bash")
        if bash is None:
            raise SlipstreamException("bash is not installed on this worker")
        if self.cwd is not None and not os.path.isdir(self.cwd):
            raise SlipstreamException(f"cwd {self.cwd!r} does not exist or is not a folder")
        last_line: str | None = None
        with tempfile.TemporaryDirectory(prefix="slipstreamtmp") as tmp:
            self._process = subprocess.Popen(
                [bash, "-c", self.bash_command],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=self.cwd or tmp,
                env=self._environment(context),
                start_new_session=True,
            )
            assert self._process.stdout is not None
            for raw in self._process.stdout:
                line = raw.decode(self.output_encoding, errors="backslashreplace").rstrip("\n")
                last_line = line
                self.log.info("%s", line)
            code = self._process.wait()
        self._process = None
        if code in self.skip_on_exit_code:
            raise SkipTask(f"bash command exited with code {code}: skipping")
        if code != 0:
            raise SlipstreamException(f"bash command failed: exit code {code}")
        return last_line

    def on_kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
