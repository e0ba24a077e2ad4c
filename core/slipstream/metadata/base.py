"""The metadata store interface: the single source of truth for all state.

Everything above the store (scheduler, API, CLI) reads and changes state only
through this interface; nothing above it writes SQL. Methods take and return
the records of :mod:`slipstream.metadata.records`. Common contract:

- every datetime in and out is timezone-aware UTC (a naive one is a ``ValueError``);
- each method is one short transaction: it fully happens or not at all;
- a missing row named by the caller is :class:`~slipstream.errors.NotFoundError`,
  a duplicate unique key :class:`~slipstream.errors.AlreadyExistsError`;
- task-instance and dag-run state changes go through :mod:`slipstream.state`, and an
  illegal one raises :class:`~slipstream.state.IllegalTransition` with nothing changed;
- listings take ``limit``/``offset``/``order_by`` (a column name, ``-`` for
  descending) and return a :class:`~slipstream.metadata.records.Page` with the total.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from slipstream.metadata.records import (
    Connection,
    Dag,
    DagFileParse,
    DagImportError,
    DagMetadata,
    DagRun,
    DagVersion,
    Job,
    JobState,
    NewDagRun,
    NewTaskInstance,
    NextRun,
    Page,
    Pool,
    TaskInstance,
    TaskInstanceRef,
    TaskInstanceUpdate,
    User,
    Variable,
    XCom,
)
from slipstream.state import DagRunState, TaskInstanceState

if TYPE_CHECKING:
    from slipstream.config import Config


@attrs.frozen(kw_only=True)
class StoreContext:
    """What a metadata backend factory receives."""

    url: str = attrs.field(repr=False)
    config: Config


@attrs.frozen(kw_only=True)
class SchemaStatus:
    """Answer of ``check()``: is the database schema the one this slipstream needs?"""

    ok: bool
    current: str | None  # revision in the database; None when never migrated
    head: str  # revision this slipstream ships
    message: str


class MetadataStore:
    """Base class for metadata stores. Implementations override every method."""

    # -- lifecycle ------------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the latest revision (idempotent)."""
        raise NotImplementedError

    def check(self) -> SchemaStatus:
        """Say whether the schema is at the latest revision, without changing anything."""
        raise NotImplementedError

    def reset(self) -> None:
        """Drop every slipstream table (all data!) and migrate from scratch."""
        raise NotImplementedError

    def close(self) -> None:
        """Release connections."""

    def after_fork(self) -> None:
        """Called in a process forked from one that used this store: forget inherited
        connections (never close them: they belong to the parent)."""

    def before_fork(self) -> None:
        """Called before this process forks a long-lived child: close idle pooled
        connections, so that the child (and whatever it starts) holds no copy of their
        sockets. A copy outliving this process would keep its server session, and any
        transaction it was in with its row locks, alive after this process dies."""

    # -- DAGs -----------------------------------------------------------------------

    def upsert_dags(self, dags: Iterable[DagMetadata], *, paused_on_creation: bool = True) -> None:
        """Insert or update DAGs from a parse; they become active.

        A new DAG starts paused when ``paused_on_creation``; an existing DAG keeps
        its paused flag. Tags are replaced by the given ones.
        """
        raise NotImplementedError

    def get_dag(self, dag_id: str) -> Dag | None:
        raise NotImplementedError

    def list_dags(
        self,
        *,
        paused: bool | None = None,
        active: bool | None = True,
        tags: Collection[str] = (),
        dag_id_pattern: str | None = None,
        scheduled: bool | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "dag_id",
    ) -> Page[Dag]:
        """DAGs matching every filter. ``tags``: having any of them; ``dag_id_pattern``:
        a case-insensitive substring (SQL ``%``/``_`` wildcards allowed); ``scheduled``:
        having a schedule (True) or running only when triggered (False)."""
        raise NotImplementedError

    def list_dag_tags(
        self,
        *,
        name_pattern: str | None = None,
        limit: int | None = 100,
        offset: int = 0,
        descending: bool = False,
    ) -> Page[str]:
        """The distinct tag names of all DAGs, by name; ``name_pattern``: a
        case-insensitive substring (SQL ``%``/``_`` wildcards allowed)."""
        raise NotImplementedError

    def set_dag_paused(self, dag_id: str, paused: bool) -> Dag:
        """Pause or unpause; raises NotFoundError for an unknown DAG."""
        raise NotImplementedError

    def set_dag_next_run(self, dag_id: str, next_run: NextRun) -> None:
        """Record when the scheduler will create the DAG's next run."""
        raise NotImplementedError

    def deactivate_dags(self, dag_ids: Collection[str]) -> None:
        """Mark DAGs inactive (their file no longer defines them)."""
        raise NotImplementedError

    def deactivate_missing_dags(self, existing_files: Collection[str]) -> list[str]:
        """Mark inactive every active DAG whose ``fileloc`` is not in ``existing_files``;
        returns their ids, sorted."""
        raise NotImplementedError

    # -- DAG versions (issue 8) --------------------------------------------------------

    def add_dag_version(
        self,
        dag_id: str,
        serialized: Mapping[str, Any],
        content_hash: str,
        source_code: str | None,
    ) -> DagVersion:
        """Store a new version unless ``content_hash`` equals the latest version's,
        in which case nothing is written and the latest version is returned.
        Versions are numbered 1, 2, 3, ... per DAG; the DAG must exist."""
        raise NotImplementedError

    def get_dag_version(self, dag_id: str, version_number: int | None = None) -> DagVersion | None:
        """A version by number, or the latest when ``version_number`` is None."""
        raise NotImplementedError

    def get_dag_version_by_id(self, version_id: int) -> DagVersion | None:
        raise NotImplementedError

    def list_dag_versions(self, dag_id: str) -> list[DagVersion]:
        """Every version of a DAG, oldest first."""
        raise NotImplementedError

    def find_dag_versions(
        self,
        *,
        dag_ids: Collection[str] = (),
        version_number: int | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "id",
    ) -> Page[DagVersion]:
        """Versions of the given DAGs (of every DAG when ``dag_ids`` is empty), paged;
        ordered by ``id``, ``version_number``, ``dag_id`` or ``created_at``."""
        raise NotImplementedError

    # -- DAG files: parse records and import errors ---------------------------------------

    def record_file_parses(self, parses: Iterable[DagFileParse]) -> None:
        """Insert or replace the parse record of each file (keyed by path)."""
        raise NotImplementedError

    def list_file_parses(self, *, limit: int | None = None) -> list[DagFileParse]:
        """Parse records, slowest first (``dags report``)."""
        raise NotImplementedError

    def delete_file_parses(self, paths: Collection[str]) -> None:
        raise NotImplementedError

    def replace_import_error(self, filename: str, stacktrace: str, when: datetime) -> None:
        """Make ``stacktrace`` the one import error of ``filename``."""
        raise NotImplementedError

    def clear_import_errors(self, filenames: Collection[str]) -> None:
        """The files imported fine (or are gone): forget their errors."""
        raise NotImplementedError

    def list_import_errors(
        self, *, limit: int | None = 100, offset: int = 0, order_by: str = "filename"
    ) -> Page[DagImportError]:
        raise NotImplementedError

    def get_import_error(self, import_error_id: int) -> DagImportError | None:
        raise NotImplementedError

    # -- Dag runs -----------------------------------------------------------------------

    def create_dag_run(self, run: NewDagRun) -> DagRun:
        """Create a run. AlreadyExistsError when (dag_id, run_id) or a non-null
        (dag_id, logical_date) is taken; NotFoundError for an unknown DAG."""
        raise NotImplementedError

    def get_dag_run(self, dag_id: str, run_id: str) -> DagRun | None:
        raise NotImplementedError

    def list_dag_runs(
        self,
        *,
        dag_ids: Collection[str] = (),
        states: Collection[DagRunState] = (),
        run_types: Collection[str] = (),
        logical_date_gte: datetime | None = None,
        logical_date_lte: datetime | None = None,
        run_after_gte: datetime | None = None,
        run_after_lte: datetime | None = None,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        order_by: str = "id",
    ) -> Page[DagRun]:
        """Runs matching every filter; the date bounds are inclusive, and a run whose
        date is unset (no logical date, not started, not ended) never matches one."""
        raise NotImplementedError

    def count_dag_runs_by_state(
        self, dag_ids: Collection[str] = ()
    ) -> dict[str, dict[DagRunState, int]]:
        """How many runs each DAG (of ``dag_ids``, or every DAG that has runs) has in
        each state; states without runs are left out."""
        raise NotImplementedError

    def set_dag_run_state(
        self,
        dag_id: str,
        run_id: str,
        state: DagRunState,
        *,
        expected_state: DagRunState | None = None,
    ) -> bool:
        """Move a run to ``state``: start_date is set on running, end_date on
        success/failed, queued_at on queued. With ``expected_state``, only if the
        current state is that one; returns whether the change was made."""
        raise NotImplementedError

    def set_dag_run_note(self, dag_id: str, run_id: str, note: str | None) -> None:
        """Replace a run's note (None removes it); NotFoundError for an unknown run."""
        raise NotImplementedError

    def set_dag_run_version(self, dag_id: str, run_id: str, version_id: int) -> None:
        """Make ``version_id`` (a version of the same DAG) the one the run is evaluated
        and run from: clearing with the latest version. NotFoundError for an unknown
        run or a version of another DAG; nothing else of the run changes."""
        raise NotImplementedError

    def delete_dag_run(self, dag_id: str, run_id: str) -> None:
        """Delete a run with its task instances, their history and XComs."""
        raise NotImplementedError

    # -- Task instances -------------------------------------------------------------------

    def create_task_instances(
        self, dag_id: str, run_id: str, tis: Sequence[NewTaskInstance]
    ) -> list[TaskInstance]:
        """Create task instances of one run in one batch; AlreadyExistsError when
        one (task_id, map_index) exists already."""
        raise NotImplementedError

    def get_task_instance(self, ref: TaskInstanceRef) -> TaskInstance | None:
        raise NotImplementedError

    def get_task_instances(self, refs: Collection[TaskInstanceRef]) -> list[TaskInstance]:
        """The task instances ``refs`` name, in one read (missing ones are left out,
        the order is the store's)."""
        found = (self.get_task_instance(ref) for ref in refs)
        return [ti for ti in found if ti is not None]

    def get_task_instances_by_id(self, ti_ids: Collection[int]) -> list[TaskInstance]:
        raise NotImplementedError

    def list_task_instances(
        self,
        *,
        dag_ids: Collection[str] = (),
        run_ids: Collection[str] = (),
        task_ids: Collection[str] = (),
        states: Collection[TaskInstanceState] = (),
        pools: Collection[str] = (),
        queues: Collection[str] = (),
        executors: Collection[str] = (),
        map_indexes: Collection[int] = (),
        mapped: bool | None = None,
        placeholders: bool = True,
        start_date_gte: datetime | None = None,
        start_date_lte: datetime | None = None,
        end_date_gte: datetime | None = None,
        end_date_lte: datetime | None = None,
        duration_gte: float | None = None,
        duration_lte: float | None = None,
        limit: int | None = None,
        offset: int = 0,
        order_by: str = "id",
        with_total: bool = True,
    ) -> Page[TaskInstance]:
        """Task instances across runs; ``run_ids`` are matched together with ``dag_ids``.

        ``mapped``: True for map indexes >= 0 only, False for unmapped ones only.
        ``placeholders=False`` leaves out the ``removed`` map-index -1 task instance a
        mapped task leaves behind once it is expanded (what Airflow never shows). The
        date and duration bounds are inclusive; a task instance without that value
        (never started, not finished) is outside any bound on it. With
        ``with_total=False`` the page's ``total`` is only its length (no count).
        """
        raise NotImplementedError

    def count_task_instance_states(
        self,
        dag_id: str,
        run_id: str,
        task_ids: Collection[str] = (),
        *,
        except_task_ids: Collection[str] = (),
    ) -> dict[TaskInstanceState, int]:
        """How many task instances of one run (of ``task_ids``, if given; not of
        ``except_task_ids``) are in each state: what the scheduler needs to evaluate
        trigger rules without reading rows."""
        raise NotImplementedError

    def count_task_instance_states_by_task(
        self, dag_id: str, run_id: str
    ) -> dict[str, dict[TaskInstanceState, int]]:
        """The same counts for every task of the run at once, keyed by task id."""
        raise NotImplementedError

    def count_task_instance_states_of_runs(
        self, runs: Collection[tuple[str, str]], task_ids: Collection[str]
    ) -> dict[tuple[str, str], dict[str, dict[TaskInstanceState, int]]]:
        """``count_task_instance_states_by_task`` for several runs (``(dag_id, run_id)``)
        at once, of ``task_ids`` only: one read for a scheduling pass over many runs."""
        raise NotImplementedError

    def count_task_instances_by_dag(
        self, *, states: Collection[TaskInstanceState], dag_ids: Collection[str] = ()
    ) -> dict[str, dict[TaskInstanceState, int]]:
        """How many task instances each DAG has in each of ``states`` across runs (of
        ``dag_ids``, if given); DAGs with none are left out."""
        raise NotImplementedError

    def count_task_instances_by_task(
        self, *, states: Collection[TaskInstanceState], dag_ids: Collection[str] = ()
    ) -> dict[tuple[str, str], int]:
        """How many task instances in ``states`` each ``(dag_id, task_id)`` has across
        runs (of ``dag_ids``, if given): limits checked without reading rows."""
        raise NotImplementedError

    def update_task_instances(self, updates: Sequence[TaskInstanceUpdate]) -> list[bool]:
        """Apply a batch of changes in one transaction; returns, per update, whether it
        applied (False only when an expectation — ``expected_state``,
        ``expected_try_number``, ``expected`` — did not hold).

        An illegal transition raises IllegalTransition and nothing of the batch is
        changed. A try that enters a finished or retry state is copied to the
        history (``list_task_instance_tries``). Updates ``by_user`` that apply set
        their runs' ``tasks_changed_at``.
        """
        raise NotImplementedError

    def compare_and_set_task_instance_state(
        self,
        ti_id: int,
        expected: TaskInstanceState,
        new: TaskInstanceState,
        **fields: Any,
    ) -> bool:
        """Move one task instance from ``expected`` to ``new``; False if another
        process changed it first."""
        update = TaskInstanceUpdate(ti_id=ti_id, state=new, expected_state=expected, fields=fields)
        return self.update_task_instances([update])[0]

    def claim_task_instances(
        self,
        *,
        from_state: TaskInstanceState,
        to_state: TaskInstanceState,
        limit: int,
        owner: str,
        pools: Collection[str] = (),
        dag_ids: Collection[str] = (),
    ) -> list[TaskInstance]:
        """Atomically take up to ``limit`` task instances in ``from_state`` (highest
        priority first) and move them to ``to_state`` with ``lease_owner=owner``.

        Several schedulers may call this at once: rows another transaction is
        claiming are skipped, never waited for, and no row is ever claimed twice.
        Moving to queued also sets ``queued_at``.
        """
        raise NotImplementedError

    def claim_dag_runs(
        self,
        *,
        states: Collection[DagRunState],
        limit: int,
        owner: str,
        lease: timedelta,
        dag_ids: Collection[str] = (),
    ) -> list[DagRun]:
        """Lease up to ``limit`` runs in ``states`` (oldest ``run_after`` first) for
        ``lease``, so that one scheduler at a time examines a run.

        Runs leased by another owner are skipped until their lease expires; claiming
        again renews one's own leases. Concurrent callers never get the same run.
        """
        raise NotImplementedError

    def release_dag_runs(self, owner: str, run_ids: Collection[int] | None = None) -> None:
        """Give up ``owner``'s leases (all of them when ``run_ids`` is None)."""
        raise NotImplementedError

    def list_task_instance_tries(self, ref: TaskInstanceRef) -> list[TaskInstance]:
        """Every finished try from the history, oldest first, then the current try
        if it is not finished yet."""
        raise NotImplementedError

    def set_task_instance_notes(
        self, ti_ids: Collection[int], note: str | None, *, author: str | None = None
    ) -> None:
        """Give task instances a person's note (``None`` removes it); NotFoundError
        when one of them does not exist."""
        raise NotImplementedError

    def get_task_instance_notes(self, ti_ids: Collection[int]) -> dict[int, str]:
        """The notes of those task instances that have one, by task instance id."""
        raise NotImplementedError

    # -- Scheduler jobs -----------------------------------------------------------------

    def start_job(self, kind: str, hostname: str, pid: int) -> Job:
        raise NotImplementedError

    def heartbeat_job(self, job_id: int) -> Job:
        """Record that the job is alive now; NotFoundError if it does not exist."""
        raise NotImplementedError

    def end_job(self, job_id: int, state: JobState = JobState.SUCCESS) -> None:
        raise NotImplementedError

    def list_jobs(
        self, *, kind: str | None = None, alive_within: timedelta | None = None
    ) -> list[Job]:
        """Jobs, newest first; with ``alive_within``, only running ones that
        heartbeat within that time."""
        raise NotImplementedError

    def mark_dead_jobs(self, *, kind: str | None = None, older_than: timedelta) -> list[int]:
        """Declare failed every running job silent for longer than ``older_than``."""
        raise NotImplementedError

    # -- XCom -----------------------------------------------------------------------------

    def set_xcom(self, ref: TaskInstanceRef, key: str, value: Any) -> None:
        """Store a JSON-serializable value (ValueError otherwise), replacing any
        with the same key."""
        raise NotImplementedError

    def get_xcom(self, ref: TaskInstanceRef, key: str = "return_value") -> XCom | None:
        raise NotImplementedError

    def list_xcoms(
        self, dag_id: str, run_id: str, *, task_id: str | None = None, key: str | None = None
    ) -> list[XCom]:
        raise NotImplementedError

    def delete_xcoms(self, ref: TaskInstanceRef) -> None:
        """Forget every XCom of a task instance (it is being cleared)."""
        raise NotImplementedError

    # -- Variables and connections (secrets encrypted at rest) ---------------------------------

    def set_variable(self, key: str, value: str, *, description: str | None = None) -> None:
        raise NotImplementedError

    def get_variable(self, key: str) -> Variable | None:
        raise NotImplementedError

    def list_variables(self, *, limit: int | None = None, offset: int = 0) -> Page[Variable]:
        raise NotImplementedError

    def delete_variable(self, key: str) -> None:
        """NotFoundError when the key does not exist."""
        raise NotImplementedError

    def set_connection(self, conn: Connection) -> None:
        """Insert or replace a connection."""
        raise NotImplementedError

    def get_connection(self, conn_id: str) -> Connection | None:
        raise NotImplementedError

    def list_connections(self, *, limit: int | None = None, offset: int = 0) -> Page[Connection]:
        raise NotImplementedError

    def delete_connection(self, conn_id: str) -> None:
        raise NotImplementedError

    # -- Pools ----------------------------------------------------------------------------

    def set_pool(self, name: str, slots: int, *, description: str | None = None) -> Pool:
        raise NotImplementedError

    def get_pool(self, name: str) -> Pool | None:
        """The pool with its slot usage, counted from task instances."""
        raise NotImplementedError

    def list_pools(self, *, scheduled: bool = True) -> list[Pool]:
        """Every pool with its usage; ``scheduled=False`` leaves ``scheduled_slots`` at 0
        (counting them reads every scheduled task instance: queueing does not need it)."""
        raise NotImplementedError

    def delete_pool(self, name: str) -> None:
        """Delete a pool; the default pool cannot be deleted (StoreError)."""
        raise NotImplementedError

    # -- Users ----------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        *,
        role: str,
        password_hash: str,
        email: str | None = None,
        active: bool = True,
    ) -> User:
        raise NotImplementedError

    def get_user(self, username: str) -> User | None:
        raise NotImplementedError

    def list_users(self, *, limit: int | None = None, offset: int = 0) -> Page[User]:
        raise NotImplementedError

    def update_user(
        self,
        username: str,
        *,
        role: str | None = None,
        password_hash: str | None = None,
        email: str | None = None,
        active: bool | None = None,
        last_login: datetime | None = None,
    ) -> User:
        raise NotImplementedError

    def delete_user(self, username: str) -> None:
        raise NotImplementedError
