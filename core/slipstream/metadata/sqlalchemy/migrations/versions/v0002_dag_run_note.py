"""Dag runs get a user's note and the name of the user who triggered them (REST API).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from slipstream.metadata.sqlalchemy.types import text_type

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("note", text_type(), nullable=True))
        batch.add_column(sa.Column("triggering_user_name", sa.String(length=250), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("triggering_user_name")
        batch.drop_column("note")
