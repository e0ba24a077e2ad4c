"""Finding DAG files and parsing each one in its own forked process, with a timeout.

A file that raises, hangs, defines a cycle or repeats a task id becomes an
import error carrying the file, line and message; the other files still load.
Forking from this (warm) process makes a parse cost milliseconds, not the
hundreds a fresh interpreter would.
"""

from __future__ import annotations

import fnmatch
import json
import multiprocessing
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, cast

import attrs

from slipstream.serialized_dag import SerializedDag, content_hash, deserialize_dag

IGNORE_FILE = ".slipstreamignore"
EXAMPLES_FOLDER = Path(__file__).resolve().parent.parent / "example_dags"


@attrs.frozen
class FileParse:
    """What parsing one file gave: serialized DAG documents and import errors."""

    path: str
    documents: list[dict[str, Any]]
    errors: dict[str, str]
    duration: float


def _ignore_patterns(folder: Path) -> list[str]:
    file = folder / IGNORE_FILE
    if not file.is_file():
        return []
    lines = (line.strip() for line in file.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _ignored(relative: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, f"{pattern}/*"):
            return True
        if "/" not in pattern and any(fnmatch.fnmatch(p, pattern) for p in relative.split("/")):
            return True
    return False


def might_contain_dag(path: str | Path) -> bool:
    """Airflow's safe-mode heuristic: only files mentioning both "dag" and "slipstream"."""
    try:
        with open(path, "rb") as file:
            content = file.read().lower()
    except OSError:
        return False
    return b"dag" in content and b"slipstream" in content


def walk_py_files(folder: Path) -> Iterator[str]:
    """Every ``.py`` file under ``folder`` (as a path string: the dag processor walks
    the folder every scan interval, and Path objects cost more than the walk), minus
    what ``.slipstreamignore`` files exclude.

    An ignore file applies to its folder and everything below it; patterns are
    globs relative to that folder (``tmp/``, ``*_test.py``, ``legacy/*.py``).
    """
    if not folder.is_dir():
        return
    scopes: list[tuple[str, list[str]]] = []
    for root, dirs, files in os.walk(str(folder), followlinks=True):
        patterns = _ignore_patterns(Path(root))
        if patterns:
            scopes.append((root + os.sep, patterns))

        def skip(path: str) -> bool:
            for base, pats in scopes:
                if path.startswith(base):
                    relative = path[len(base) :].replace(os.sep, "/")
                    if _ignored(relative, pats):
                        return True
            return False

        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith((".", "__pycache__")) and not skip(os.path.join(root, d))
        )
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                if not skip(path):
                    yield path


def list_dag_files(folder: Path, *, safe_mode: bool = True) -> list[Path]:
    """Every ``.py`` file under ``folder`` that may define DAGs (see :func:`walk_py_files`;
    with ``safe_mode``, only those :func:`might_contain_dag` accepts)."""
    return [
        Path(path) for path in walk_py_files(folder) if not safe_mode or might_contain_dag(path)
    ]


def _parse_in_child(path: str, conn: Connection) -> None:
    from slipstream.dag_processing.importer import dag_location, import_dag_file
    from slipstream.serialization import serialize_dag

    result = import_dag_file(Path(path))
    documents: list[dict[str, Any]] = []
    errors = dict(result.errors)
    for dag in result.dags.values():
        try:
            documents.append(serialize_dag(dag))
        except Exception as exc:
            errors[path] = f"{dag_location(dag)}: {type(exc).__name__}: {exc}"
    try:
        conn.send_bytes(json.dumps({"documents": documents, "errors": errors}).encode())
    except (TypeError, ValueError) as exc:
        conn.send_bytes(json.dumps({"documents": [], "errors": {path: f"{path}: {exc}"}}).encode())
    conn.close()


def parse_files(
    paths: Iterable[Path], *, timeout: float, parallelism: int | None = None
) -> Iterator[FileParse]:
    """Parse each file in a forked child, ``parallelism`` at once; yield results as they end."""
    # Imported here, once, so that every child starts with them (not in each child).
    import slipstream.dag_processing.importer
    import slipstream.serialization  # noqa: F401

    context = multiprocessing.get_context("fork")
    pending = list(paths)
    limit = max(1, parallelism or os.cpu_count() or 1)
    running: dict[Connection, tuple[Path, Any, float]] = {}
    while pending or running:
        while pending and len(running) < limit:
            path = pending.pop(0)
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(target=_parse_in_child, args=(str(path), sender), daemon=True)
            process.start()
            sender.close()
            running[receiver] = (path, process, time.monotonic())
        now = time.monotonic()
        soonest = min(started + timeout for _, _, started in running.values())
        ready = wait(list(running), timeout=max(0.0, soonest - now))
        for ready_item in ready:
            receiver = cast(Connection, ready_item)
            path, process, started = running.pop(receiver)
            try:
                payload = json.loads(receiver.recv_bytes())
            except (EOFError, OSError):
                process.join(1)
                payload = {
                    "documents": [],
                    "errors": {
                        str(path): f"{path}: the parsing process died "
                        f"(exit code {process.exitcode}) before reporting"
                    },
                }
            receiver.close()
            process.join(5)
            yield FileParse(
                str(path), payload["documents"], payload["errors"], time.monotonic() - started
            )
        now = time.monotonic()
        for receiver, (path, process, started) in list(running.items()):
            if now - started >= timeout:
                process.kill()
                process.join(5)
                receiver.close()
                del running[receiver]
                yield FileParse(
                    str(path),
                    [],
                    {
                        str(path): f"{path}: importing took longer than {timeout:g}s "
                        f"(core.dagbag_import_timeout); the import was stopped"
                    },
                    now - started,
                )


def finish_document(document: dict[str, Any], root: Path) -> dict[str, Any]:
    """Add where the DAG lives relative to its folder, and the content hash."""
    document["relative_fileloc"] = Path(document["fileloc"]).relative_to(root).as_posix()
    document["is_example"] = root == EXAMPLES_FOLDER
    document["content_hash"] = content_hash(document)
    return document


class DagBag:
    """Every DAG of a folder, parsed safely: ``dags`` (serialized) and ``import_errors``.

    In a project's own tests: ``assert DagBag().import_errors == {}``.
    """

    def __init__(
        self,
        dag_folder: str | Path | None = None,
        *,
        include_examples: bool | None = None,
        timeout: float | None = None,
        safe_mode: bool = True,
    ) -> None:
        if dag_folder is None or include_examples is None or timeout is None:
            from slipstream.config import load

            config, _ = load()
            dag_folder = dag_folder if dag_folder is not None else config["core.dags_folder"]
            include_examples = (
                config["core.load_examples"] if include_examples is None else include_examples
            )
            timeout = config["core.dagbag_import_timeout"] if timeout is None else timeout
        self.dag_folder = Path(dag_folder).resolve()
        self.dags: dict[str, SerializedDag] = {}
        self.import_errors: dict[str, str] = {}
        self.file_stats: dict[str, float] = {}
        roots = [(self.dag_folder, list_dag_files(self.dag_folder, safe_mode=safe_mode))]
        if include_examples:
            roots.append((EXAMPLES_FOLDER, list_dag_files(EXAMPLES_FOLDER, safe_mode=False)))
        for root, files in roots:
            results = sorted(parse_files(files, timeout=float(timeout)), key=lambda r: r.path)
            for parsed in results:
                self._add(root, parsed)

    def _add(self, root: Path, parsed: FileParse) -> None:
        self.file_stats[parsed.path] = parsed.duration
        self.import_errors.update(parsed.errors)
        for document in parsed.documents:
            dag_id = document["dag_id"]
            if dag_id in self.dags:
                other = self.dags[dag_id].fileloc
                self.import_errors[parsed.path] = (
                    f"{parsed.path}: DAG id {dag_id!r} is already defined in {other}"
                )
                continue
            self.dags[dag_id] = deserialize_dag(finish_document(document, root))

    @property
    def dag_ids(self) -> list[str]:
        return sorted(self.dags)

    def get_dag(self, dag_id: str) -> SerializedDag | None:
        return self.dags.get(dag_id)

    def size(self) -> int:
        return len(self.dags)
