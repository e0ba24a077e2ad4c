"""Notes on task instances (the REST API's ``note``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 19:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipstream.metadata.sqlalchemy.types import UtcDateTime, text_type

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_instance_note",
        sa.Column("ti_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", text_type(), nullable=False),
        sa.Column("author", sa.String(length=256), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ti_id"],
            ["task_instance.id"],
            name=op.f("fk_task_instance_note_ti_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ti_id", name=op.f("pk_task_instance_note")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_bin",
        mysql_engine="InnoDB",
    )


def downgrade() -> None:
    op.drop_table("task_instance_note")
