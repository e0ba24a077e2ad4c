"""The tables of the metadata database (SQLAlchemy Core).

The migrations in ``migrations/versions`` create exactly this; a test compares
the two on every dialect. Length limits are chosen for MySQL/MariaDB with
utf8mb4 (4 bytes a character), whose index keys stop at 3072 bytes.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from slipstream.metadata.sqlalchemy.types import JsonText, UtcDateTime, text_type

ID_LEN = 250  # dag_id, run_id, task_id: three of them still fit one MySQL index key
PATH_LEN = 700  # indexed file paths
TABLE_OPTIONS: dict[str, Any] = {
    # Binary collation: ids compare case-sensitively, as on PostgreSQL and SQLite.
    "mysql_engine": "InnoDB",
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
}

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _id(name: str, **kwargs: Any) -> sa.Column[str]:
    return sa.Column(name, sa.String(ID_LEN), **kwargs)


def _when(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, UtcDateTime(), nullable=nullable)


def _table(name: str, *items: sa.schema.SchemaItem) -> sa.Table:
    return sa.Table(name, metadata, *items, **TABLE_OPTIONS)


dag = _table(
    "dag",
    _id("dag_id", primary_key=True),
    sa.Column("fileloc", sa.String(2000), nullable=False),
    sa.Column("relative_fileloc", sa.String(2000)),
    sa.Column("owners", JsonText(), nullable=False),
    sa.Column("description", text_type()),
    sa.Column("schedule", sa.String(1000)),
    sa.Column("is_paused", sa.Boolean(), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("max_active_runs", sa.Integer(), nullable=False),
    sa.Column("max_active_tasks", sa.Integer(), nullable=False),
    _when("last_parsed_time"),
    _when("next_dagrun"),
    _when("next_dagrun_data_interval_start"),
    _when("next_dagrun_data_interval_end"),
    _when("next_dagrun_create_after"),
    sa.Index(None, "is_active", "is_paused", "next_dagrun_create_after"),
)

dag_tag = _table(
    "dag_tag",
    _id("dag_id", primary_key=True),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.ForeignKeyConstraint(["dag_id"], ["dag.dag_id"], ondelete="CASCADE"),
    sa.Index(None, "name"),
)

dag_version = _table(
    "dag_version",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _id("dag_id", nullable=False),
    sa.Column("version_number", sa.Integer(), nullable=False),
    sa.Column("content_hash", sa.String(128), nullable=False),
    sa.Column("serialized", JsonText(), nullable=False),
    sa.Column("source_code", text_type()),
    _when("created_at", nullable=False),
    sa.ForeignKeyConstraint(["dag_id"], ["dag.dag_id"], ondelete="CASCADE"),
    sa.UniqueConstraint("dag_id", "version_number"),
)

dag_file_parse = _table(
    "dag_file_parse",
    sa.Column("path", sa.String(PATH_LEN), primary_key=True),
    sa.Column("mtime", sa.Double()),
    sa.Column("content_hash", sa.String(128)),
    _when("last_parsed_at", nullable=False),
    sa.Column("parse_duration", sa.Double(), nullable=False),
    sa.Column("dag_ids", JsonText(), nullable=False),
)

import_error = _table(
    "import_error",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("filename", sa.String(PATH_LEN), nullable=False),
    sa.Column("stacktrace", text_type(), nullable=False),
    _when("timestamp", nullable=False),
    sa.Index(None, "filename"),
)

dag_run = _table(
    "dag_run",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    _id("dag_id", nullable=False),
    _id("run_id", nullable=False),
    sa.Column("run_type", sa.String(50), nullable=False),
    sa.Column("state", sa.String(50), nullable=False),
    _when("logical_date"),
    _when("data_interval_start"),
    _when("data_interval_end"),
    _when("run_after", nullable=False),
    sa.Column("conf", JsonText(), nullable=False),
    sa.Column("dag_version_id", sa.Integer()),
    sa.Column("triggered_by", sa.String(ID_LEN)),
    sa.Column("backfill_id", sa.Integer()),
    _when("queued_at"),
    _when("start_date"),
    _when("end_date"),
    _when("created_at", nullable=False),
    sa.Column("lease_owner", sa.String(ID_LEN)),  # the scheduler examining the run
    _when("lease_expires_at"),
    sa.Column("note", text_type()),  # a user's note (API, UI); migration 0002
    sa.Column("triggering_user_name", sa.String(ID_LEN)),  # who triggered it by hand (0002)
    # When a person last changed one of its task instances (0004): the scheduler looks.
    _when("tasks_changed_at"),
    sa.ForeignKeyConstraint(["dag_id"], ["dag.dag_id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["dag_version_id"], ["dag_version.id"], ondelete="SET NULL"),
    # Unique constraints ignore NULLs on all three dialects: runs without a
    # logical date never collide.
    sa.UniqueConstraint("dag_id", "run_id"),
    sa.UniqueConstraint("dag_id", "logical_date"),
    sa.Index(None, "state", "run_after"),
)


def _ti_columns() -> list[sa.schema.SchemaItem]:
    """Columns a task instance and each recorded try of it share."""
    return [
        _id("dag_id", nullable=False),
        _id("run_id", nullable=False),
        _id("task_id", nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        _when("start_date"),
        _when("end_date"),
        sa.Column("duration", sa.Double()),
        _when("queued_at"),
        _when("scheduled_at"),
        sa.Column("hostname", sa.String(1000)),
        sa.Column("pid", sa.Integer()),
        sa.Column("executor", sa.String(1000)),
        sa.Column("pool", sa.String(256), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(256), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(1000)),
        _when("next_retry_at"),
        _when("reschedule_at"),
        _when("last_heartbeat_at"),
        sa.Column("dag_version_id", sa.Integer()),
        sa.Column("rendered_fields", JsonText()),
        sa.Column("external_executor_id", sa.String(ID_LEN)),
        sa.Column("lease_owner", sa.String(ID_LEN)),
        _when("updated_at", nullable=False),
    ]


task_instance = _table(
    "task_instance",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("dag_run_id", sa.Integer(), nullable=False),
    *_ti_columns(),
    sa.ForeignKeyConstraint(["dag_run_id"], ["dag_run.id"], ondelete="CASCADE"),
    sa.ForeignKeyConstraint(["dag_version_id"], ["dag_version.id"], ondelete="SET NULL"),
    sa.UniqueConstraint("dag_run_id", "task_id", "map_index"),
    sa.Index(None, "dag_id", "run_id"),
    sa.Index(None, "state", "pool"),
)

task_instance_history = _table(
    "task_instance_history",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("ti_id", sa.Integer(), nullable=False),
    *_ti_columns(),
    sa.ForeignKeyConstraint(["ti_id"], ["task_instance.id"], ondelete="CASCADE"),
    sa.UniqueConstraint("ti_id", "try_number"),
)

# A person's note on a task instance (Airflow's task_instance_note): kept apart from
# the task instance so that its tries' history does not copy it.
task_instance_note = _table(
    "task_instance_note",
    sa.Column("ti_id", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("content", text_type(), nullable=False),
    sa.Column("author", sa.String(256)),
    _when("updated_at", nullable=False),
    sa.ForeignKeyConstraint(["ti_id"], ["task_instance.id"], ondelete="CASCADE"),
)

xcom = _table(
    "xcom",
    sa.Column("dag_run_id", sa.Integer(), primary_key=True),
    _id("task_id", primary_key=True),
    sa.Column("map_index", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(ID_LEN), primary_key=True),
    _id("dag_id", nullable=False),
    _id("run_id", nullable=False),
    sa.Column("value", JsonText()),
    _when("timestamp", nullable=False),
    sa.ForeignKeyConstraint(["dag_run_id"], ["dag_run.id"], ondelete="CASCADE"),
)

job = _table(
    "job",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("hostname", sa.String(500), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    _when("started_at", nullable=False),
    _when("last_heartbeat_at", nullable=False),
    _when("ended_at"),
    sa.Index(None, "kind", "state", "last_heartbeat_at"),
)

variable = _table(
    "variable",
    sa.Column("key", sa.String(ID_LEN), primary_key=True),
    sa.Column("val", text_type(), nullable=False),  # Fernet token
    sa.Column("description", text_type()),
)

connection = _table(
    "connection",
    sa.Column("conn_id", sa.String(ID_LEN), primary_key=True),
    sa.Column("conn_type", sa.String(500), nullable=False),
    sa.Column("description", text_type()),
    sa.Column("host", sa.String(500)),
    sa.Column("schema", sa.String(500)),
    sa.Column("login", text_type()),
    sa.Column("password", text_type()),  # Fernet token
    sa.Column("port", sa.Integer()),
    sa.Column("extra", text_type()),  # Fernet token of the JSON
)

slot_pool = _table(
    "slot_pool",
    sa.Column("pool", sa.String(256), primary_key=True),
    sa.Column("slots", sa.Integer(), nullable=False),
    sa.Column("description", text_type()),
)

web_user = _table(
    "web_user",
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(256), nullable=False),
    sa.Column("email", sa.String(320)),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(512), nullable=False),
    sa.Column("active", sa.Boolean(), nullable=False),
    _when("created_at", nullable=False),
    _when("last_login"),
    sa.UniqueConstraint("username"),
)
