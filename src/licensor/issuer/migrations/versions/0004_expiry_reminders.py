"""Expiry reminders: a customer may opt out, and each reminder sent is one row per license and expiry.

``customers.reminders_opt_out`` is false for every customer (reminders on); ``reminders``
holds one row per license and expiry (unique), claimed before the mail goes out, so a
reminder is never sent twice, whichever replica sweeps.

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
    # A plain ADD COLUMN (with a constant default) on every backend: a batch copy of the table would have to drop
    # "customers", which SQLite refuses while installations and licenses point at it.
    op.add_column("customers", sa.Column("reminders_opt_out", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("license_id", sa.String(length=64), nullable=False),
        sa.Column("expires", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["license_id"], ["licenses.license_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("license_id", "expires", name="uq_reminders_license_expires"),
    )
    op.create_index("ix_reminders_state", "reminders", ["state"])
    op.create_index("ix_reminders_claimed_at", "reminders", ["claimed_at"])


def downgrade() -> None:
    op.drop_index("ix_reminders_claimed_at", table_name="reminders")
    op.drop_index("ix_reminders_state", table_name="reminders")
    op.drop_table("reminders")
    op.drop_column("customers", "reminders_opt_out")  # SQLite 3.35 and later drop a column in place
