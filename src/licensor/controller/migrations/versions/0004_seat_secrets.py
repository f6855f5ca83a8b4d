"""Seat secrets: each seat keeps the SHA-256 of the secret its holder got at join.

Seats held before this revision keep a NULL hash: their heartbeats and leaves
are refused (``seat_secret``) and the first join of their id gets the seat,
in its place, with a new secret.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("seats", sa.Column("secret_hash", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("seats") as batch:
        batch.drop_column("secret_hash")
