"""Seats (nodes, remote clusters), hash-chained audit log, monthly usage peaks, credentials.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seats",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("seat_id", sa.String(200), primary_key=True),
        sa.Column("joined_at", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
    )
    op.create_index("ix_seats_kind_last_seen", "seats", ["kind", "last_seen"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "usage",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("peak", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_credentials_secret_hash", "credentials", ["secret_hash"])


def downgrade() -> None:
    for name in ("credentials", "usage", "audit", "seats"):
        op.drop_table(name)
