"""Dag runs record when a person last changed one of their task instances.

The scheduler compares it with what it saw when it last evaluated the run, so a task
marked or cleared from the CLI, the API or the UI is acted on at the next pass.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipstream.metadata.sqlalchemy.types import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("tasks_changed_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("tasks_changed_at")
