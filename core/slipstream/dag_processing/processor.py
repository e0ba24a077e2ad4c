"""The dag processor: keeps the store's serialized DAGs in step with the DAG files.

A pass stats every file and re-parses only new or changed ones (and, once every
``refresh_interval``, each of the rest — at a moment of its own, so that they do not
all come due together — for DAGs generated from outside data). Each
distinct serialized DAG becomes a numbered version; an unchanged one writes
nothing. Files that fail become import errors; DAGs whose file is gone become
inactive.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.dag_processing.bag import (
    EXAMPLES_FOLDER,
    FileParse,
    finish_document,
    might_contain_dag,
    parse_files,
    walk_py_files,
)
from slipstream.metadata.records import DagFileParse, DagMetadata

if TYPE_CHECKING:
    from slipstream.metadata.base import MetadataStore
    from slipstream.models.dag import DAG
    from slipstream.plugins.manager import PluginManager

log = logging.getLogger(__name__)


@attrs.frozen
class SyncReport:
    parsed: tuple[str, ...]
    dag_ids: tuple[str, ...]
    errors: tuple[str, ...]
    deactivated: tuple[str, ...]


@attrs.define
class _Progress:
    """What a pass has parsed so far (batches add to it)."""

    parsed: list[str] = attrs.field(factory=list)
    dag_ids: list[str] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)


#: Parsed files are written to the store in batches of this many, or of what this many
#: seconds gave: a few transactions per batch instead of per file.
_BATCH_FILES = 100
_BATCH_SECONDS = 2.0


@attrs.define
class _Seen:
    mtime: float
    size: int
    digest: str
    parsed_at: float


class DagProcessor:
    def __init__(
        self,
        store: MetadataStore,
        *,
        dags_folder: Path,
        include_examples: bool = False,
        timeout: float = 30.0,
        refresh_interval: float = 300.0,
        paused_on_creation: bool = True,
        plugins: PluginManager | None = None,
    ) -> None:
        self.store = store
        self.dags_folder = Path(dags_folder).resolve()
        self.include_examples = include_examples
        self.timeout = timeout
        self.refresh_interval = refresh_interval
        self.paused_on_creation = paused_on_creation
        self.plugins = plugins
        self._seen: dict[str, _Seen] = {}
        self._errored: set[str] = set()
        # Safe-mode verdicts by (mtime, size) of files not parsed (yet), and the files
        # the last pass found: deactivating DAGs is only needed when that set changes.
        self._verdicts: dict[str, tuple[tuple[float, int], bool]] = {}
        self._next_verdicts: dict[str, tuple[tuple[float, int], bool]] = {}
        self._present: set[str] | None = None

    def _roots(self) -> list[tuple[Path, bool]]:
        """The folders to watch, each with whether the safe-mode heuristic applies."""
        roots = [(self.dags_folder, True)]
        if self.include_examples:
            roots.append((EXAMPLES_FOLDER, False))
        return roots

    def _may_define_dags(self, path: str, stat: tuple[float, int]) -> bool:
        """The safe-mode heuristic for a new or changed file, remembered by (mtime, size)
        for files it turns down: an idle pass must not read every file of the folder."""
        verdict = self._verdicts.get(path)
        if verdict is None or verdict[0] != stat:
            verdict = (stat, might_contain_dag(path))
        self._next_verdicts[path] = verdict
        return verdict[1]

    def _refresh_due(self, path: str, parsed_at: float, now: float) -> bool:
        """Whether an unchanged file is due to be parsed again: once per
        ``refresh_interval``, at a moment of its own within the interval (a phase
        taken from its path). Files first parsed together are then not all parsed
        again together: 1,000 of them would keep a pass busy for many seconds, and a
        new file would wait for it."""
        interval = self.refresh_interval
        phase = zlib.crc32(path.encode()) / 2**32 * interval
        return (now + phase) // interval > (parsed_at + phase) // interval

    def sync(self, *, force: bool = False) -> SyncReport:
        """One pass over the folders; parses only what changed (everything with ``force``).

        A pass over unchanged files costs one stat per file: no reads, no imports and
        no store writes until a file changes or its ``refresh_interval`` is up.
        """
        now = time.time()
        due: list[tuple[Path, str]] = []
        present: set[str] = set()
        self._next_verdicts = {}
        for root, safe_mode in self._roots():
            for path in walk_py_files(root):
                try:
                    stat = os.stat(path)
                except OSError:
                    continue
                seen = self._seen.get(path)
                touched = seen is None or (seen.mtime, seen.size) != (stat.st_mtime, stat.st_size)
                if (
                    safe_mode
                    and touched
                    and not self._may_define_dags(path, (stat.st_mtime, stat.st_size))
                ):
                    continue
                present.add(path)
                stale = seen is not None and self._refresh_due(path, seen.parsed_at, now)
                if touched and seen is not None and not (force or stale):
                    # Saved again or touched, same bytes: note the new mtime, import nothing.
                    digest = _digest(path)
                    if digest == seen.digest:
                        seen.mtime, seen.size = stat.st_mtime, stat.st_size
                        continue
                if force or touched or stale:
                    due.append((root, path))
        self._verdicts = self._next_verdicts
        root_of = dict((path, root) for root, path in due)
        report = _Progress()
        pending: list[tuple[Path, FileParse]] = []
        flushed = time.monotonic()
        results = parse_files((Path(p) for _, p in due), timeout=self.timeout) if due else iter(())
        for result in results:
            pending.append((root_of[result.path], result))
            if len(pending) >= _BATCH_FILES or time.monotonic() - flushed >= _BATCH_SECONDS:
                self._store_results(pending, now, report)
                pending, flushed = [], time.monotonic()
        if pending:
            self._store_results(pending, now, report)
        gone = [p for p in self._seen if p not in present]
        for path in gone:
            del self._seen[path]
        if gone:
            self.store.delete_file_parses(gone)
            self.store.clear_import_errors(gone)
        deactivated: list[str] = []
        if present != self._present:  # DAGs of files gone (or no longer DAG files)
            deactivated = self.store.deactivate_missing_dags([*present, _MEMORY_FILE])
            self._present = present
        return SyncReport(
            tuple(report.parsed), tuple(report.dag_ids), tuple(report.errors), tuple(deactivated)
        )

    def _store_results(
        self, batch: list[tuple[Path, FileParse]], started: float, report: _Progress
    ) -> None:
        """Write what a batch of files gave in a few transactions, not a few per file:
        on SQLite each write transaction waits for the disk."""
        now = datetime.now(UTC)
        fine: list[str] = []
        written: list[tuple[dict[str, Any], str | None]] = []
        ids_of: dict[str, list[str]] = {}
        for root, result in batch:
            path = result.path
            for filename, message in result.errors.items():
                event = (
                    "on_existing_dag_import_error"
                    if filename in self._errored
                    else "on_new_dag_import_error"
                )
                self.store.replace_import_error(filename, message, now)
                self._errored.add(filename)
                if self.plugins is not None:
                    self.plugins.notify(event, filename=filename, stacktrace=message)
            if not result.errors:
                fine.append(path)
                self._errored.discard(path)
            documents = [finish_document(doc, root) for doc in result.documents]
            try:
                source: str | None = Path(path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                source = None
            written.extend((doc, source) for doc in documents)
            ids_of[path] = [doc["dag_id"] for doc in documents]
        if fine:
            self.store.clear_import_errors(fine)
        self.write_documents(written, now=now)
        records: list[DagFileParse] = []
        for _, result in batch:
            path = result.path
            try:
                after: os.stat_result | None = os.stat(path)
            except OSError:
                after = None
            seen = _Seen(
                after.st_mtime if after else 0.0,
                after.st_size if after else 0,
                _digest(path),
                started,
            )
            self._seen[path] = seen
            records.append(
                DagFileParse(
                    path=path,
                    mtime=after.st_mtime if after else None,
                    content_hash=seen.digest,
                    last_parsed_at=now,
                    parse_duration=result.duration,
                    dag_ids=tuple(ids_of[path]),
                )
            )
            report.parsed.append(path)
            report.dag_ids.extend(ids_of[path])
            report.errors.extend(result.errors)
        self.store.record_file_parses(records)

    def write_documents(
        self, documents: Iterable[tuple[dict[str, Any], str | None]], *, now: datetime
    ) -> None:
        """Upsert each DAG and add its version (nothing new when the hash is unchanged);
        ``documents`` pairs each serialized DAG with its file's source."""
        documents = list(documents)
        for paused in (True, False):
            group = [d for d, _ in documents if _paused(d, self.paused_on_creation) == paused]
            if group:
                self.store.upsert_dags(
                    [_metadata(doc, now) for doc in group], paused_on_creation=paused
                )
        for doc, source in documents:
            self.store.add_dag_version(doc["dag_id"], doc, doc["content_hash"], source)

    def register(self, dags: Iterable[DAG]) -> list[str]:
        """Serialize DAG objects built in this process (embedding) into the store."""
        from slipstream.serialization import serialize_dag
        from slipstream.serialized_dag import content_hash

        documents = []
        for dag in dags:
            doc = serialize_dag(dag)
            doc["fileloc"] = _MEMORY_FILE
            doc["relative_fileloc"] = None
            doc["in_memory"] = True
            doc["is_example"] = False
            doc["content_hash"] = content_hash(doc)
            documents.append(doc)
        self.write_documents([(doc, None) for doc in documents], now=datetime.now(UTC))
        return [d["dag_id"] for d in documents]


_MEMORY_FILE = "<memory>"


def _paused(doc: dict[str, Any], default: bool) -> bool:
    flag = doc.get("is_paused_upon_creation")
    return default if flag is None else bool(flag)


def _metadata(doc: dict[str, Any], now: datetime) -> DagMetadata:
    owners = [o.strip() for o in str(doc.get("owner") or "").split(",") if o.strip()]
    return DagMetadata(
        dag_id=doc["dag_id"],
        fileloc=doc["fileloc"],
        relative_fileloc=doc.get("relative_fileloc"),
        owners=owners,
        tags=doc.get("tags") or [],
        description=doc.get("description"),
        schedule=doc.get("timetable_summary"),
        max_active_runs=doc.get("max_active_runs", 16),
        max_active_tasks=doc.get("max_active_tasks", 16),
        last_parsed_time=now,
    )


def _digest(path: str) -> str:
    try:
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return ""
