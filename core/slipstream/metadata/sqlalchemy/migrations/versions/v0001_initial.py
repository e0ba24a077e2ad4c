"""The whole schema, and the default pool.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 16:44:24.979079
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipstream.metadata.sqlalchemy.types import JsonText, UtcDateTime, text_type

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connection",
        sa.Column("conn_id", sa.String(length=250), nullable=False),
        sa.Column("conn_type", sa.String(length=500), nullable=False),
        sa.Column("description", text_type(), nullable=True),
        sa.Column("host", sa.String(length=500), nullable=True),
        sa.Column("schema", sa.String(length=500), nullable=True),
        sa.Column("login", text_type(), nullable=True),
        sa.Column("password", text_type(), nullable=True),
        sa.Column("port", sa.Integer(), nullable=True),
        sa.Column("extra", text_type(), nullable=True),
        sa.PrimaryKeyConstraint("conn_id", name=op.f("pk_connection")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("fileloc", sa.String(length=2000), nullable=False),
        sa.Column("relative_fileloc", sa.String(length=2000), nullable=True),
        sa.Column("owners", JsonText(), nullable=False),
        sa.Column("description", text_type(), nullable=True),
        sa.Column("schedule", sa.String(length=1000), nullable=True),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("max_active_tasks", sa.Integer(), nullable=False),
        sa.Column("last_parsed_time", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_data_interval_start", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_data_interval_end", UtcDateTime(), nullable=True),
        sa.Column("next_dagrun_create_after", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_dag")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_dag_is_active_is_paused_next_dagrun_create_after"),
        "dag",
        ["is_active", "is_paused", "next_dagrun_create_after"],
        unique=False,
    )

    op.create_table(
        "dag_file_parse",
        sa.Column("path", sa.String(length=700), nullable=False),
        sa.Column("mtime", sa.Double(), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("last_parsed_at", UtcDateTime(), nullable=False),
        sa.Column("parse_duration", sa.Double(), nullable=False),
        sa.Column("dag_ids", JsonText(), nullable=False),
        sa.PrimaryKeyConstraint("path", name=op.f("pk_dag_file_parse")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=700), nullable=False),
        sa.Column("stacktrace", text_type(), nullable=False),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_import_error_filename"), "import_error", ["filename"], unique=False)

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=50), nullable=False),
        sa.Column("hostname", sa.String(length=500), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("last_heartbeat_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_job_kind_state_last_heartbeat_at"),
        "job",
        ["kind", "state", "last_heartbeat_at"],
        unique=False,
    )

    slot_pool = op.create_table(
        "slot_pool",
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("description", text_type(), nullable=True),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_slot_pool")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    # Every task needs a pool; unpooled tasks use this one.
    op.bulk_insert(
        slot_pool,
        [{"pool": "default_pool", "slots": 128, "description": "Default pool"}],
    )
    op.create_table(
        "variable",
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("val", text_type(), nullable=False),
        sa.Column("description", text_type(), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_variable")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "web_user",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=256), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("last_login", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_user")),
        sa.UniqueConstraint("username", name=op.f("uq_web_user_username")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "dag_tag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_tag_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("dag_id", "name", name=op.f("pk_dag_tag")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(op.f("ix_dag_tag_name"), "dag_tag", ["name"], unique=False)

    op.create_table(
        "dag_version",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("serialized", JsonText(), nullable=False),
        sa.Column("source_code", text_type(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_version_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_version")),
        sa.UniqueConstraint(
            "dag_id", "version_number", name=op.f("uq_dag_version_dag_id_version_number")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("run_type", sa.String(length=50), nullable=False),
        sa.Column("state", sa.String(length=50), nullable=False),
        sa.Column("logical_date", UtcDateTime(), nullable=True),
        sa.Column("data_interval_start", UtcDateTime(), nullable=True),
        sa.Column("data_interval_end", UtcDateTime(), nullable=True),
        sa.Column("run_after", UtcDateTime(), nullable=False),
        sa.Column("conf", JsonText(), nullable=False),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("triggered_by", sa.String(length=250), nullable=True),
        sa.Column("backfill_id", sa.Integer(), nullable=True),
        sa.Column("queued_at", UtcDateTime(), nullable=True),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=250), nullable=True),
        sa.Column("lease_expires_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_run_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name=op.f("fk_dag_run_dag_version_id_dag_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run")),
        sa.UniqueConstraint("dag_id", "logical_date", name=op.f("uq_dag_run_dag_id_logical_date")),
        sa.UniqueConstraint("dag_id", "run_id", name=op.f("uq_dag_run_dag_id_run_id")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_dag_run_state_run_after"), "dag_run", ["state", "run_after"], unique=False
    )

    op.create_table(
        "task_instance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("queued_at", UtcDateTime(), nullable=True),
        sa.Column("scheduled_at", UtcDateTime(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("executor", sa.String(length=1000), nullable=True),
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=256), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=1000), nullable=True),
        sa.Column("next_retry_at", UtcDateTime(), nullable=True),
        sa.Column("reschedule_at", UtcDateTime(), nullable=True),
        sa.Column("last_heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("rendered_fields", JsonText(), nullable=True),
        sa.Column("external_executor_id", sa.String(length=250), nullable=True),
        sa.Column("lease_owner", sa.String(length=250), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_task_instance_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_version_id"],
            ["dag_version.id"],
            name=op.f("fk_task_instance_dag_version_id_dag_version"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance")),
        sa.UniqueConstraint(
            "dag_run_id",
            "task_id",
            "map_index",
            name=op.f("uq_task_instance_dag_run_id_task_id_map_index"),
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_index(
        op.f("ix_task_instance_dag_id_run_id"), "task_instance", ["dag_id", "run_id"], unique=False
    )
    op.create_index(
        op.f("ix_task_instance_state_pool"), "task_instance", ["state", "pool"], unique=False
    )

    op.create_table(
        "xcom",
        sa.Column("dag_run_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("value", JsonText(), nullable=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_run_id"],
            ["dag_run.id"],
            name=op.f("fk_xcom_dag_run_id_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_run_id", "task_id", "map_index", "key", name=op.f("pk_xcom")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )
    op.create_table(
        "task_instance_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ti_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("start_date", UtcDateTime(), nullable=True),
        sa.Column("end_date", UtcDateTime(), nullable=True),
        sa.Column("duration", sa.Double(), nullable=True),
        sa.Column("queued_at", UtcDateTime(), nullable=True),
        sa.Column("scheduled_at", UtcDateTime(), nullable=True),
        sa.Column("hostname", sa.String(length=1000), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("executor", sa.String(length=1000), nullable=True),
        sa.Column("pool", sa.String(length=256), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("queue", sa.String(length=256), nullable=False),
        sa.Column("priority_weight", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=1000), nullable=True),
        sa.Column("next_retry_at", UtcDateTime(), nullable=True),
        sa.Column("reschedule_at", UtcDateTime(), nullable=True),
        sa.Column("last_heartbeat_at", UtcDateTime(), nullable=True),
        sa.Column("dag_version_id", sa.Integer(), nullable=True),
        sa.Column("rendered_fields", JsonText(), nullable=True),
        sa.Column("external_executor_id", sa.String(length=250), nullable=True),
        sa.Column("lease_owner", sa.String(length=250), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ti_id"],
            ["task_instance.id"],
            name=op.f("fk_task_instance_history_ti_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance_history")),
        sa.UniqueConstraint(
            "ti_id", "try_number", name=op.f("uq_task_instance_history_ti_id_try_number")
        ),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("task_instance_history")
    op.drop_table("xcom")
    op.drop_index(op.f("ix_task_instance_state_pool"), table_name="task_instance")
    op.drop_index(op.f("ix_task_instance_dag_id_run_id"), table_name="task_instance")

    op.drop_table("task_instance")
    op.drop_index(op.f("ix_dag_run_state_run_after"), table_name="dag_run")

    op.drop_table("dag_run")
    op.drop_table("dag_version")
    op.drop_index(op.f("ix_dag_tag_name"), table_name="dag_tag")

    op.drop_table("dag_tag")
    op.drop_table("web_user")
    op.drop_table("variable")
    op.drop_table("slot_pool")
    op.drop_index(op.f("ix_job_kind_state_last_heartbeat_at"), table_name="job")

    op.drop_table("job")
    op.drop_index(op.f("ix_import_error_filename"), table_name="import_error")

    op.drop_table("import_error")
    op.drop_table("dag_file_parse")
    op.drop_index(op.f("ix_dag_is_active_is_paused_next_dagrun_create_after"), table_name="dag")

    op.drop_table("dag")
    op.drop_table("connection")
