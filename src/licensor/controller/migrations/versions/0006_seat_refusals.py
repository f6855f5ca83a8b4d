"""Seat refusals: the newest refused join of each node and remote cluster still without a seat, for the Seats page; and a
partial index of the refused activations in the audit log (the other entries are not indexed by it).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seat_refusals",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("seat_id", sa.String(200), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("allowed", sa.Integer, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False),
        sa.Column("first_at", TS, nullable=False),
        sa.Column("refused_at", TS, nullable=False),
    )
    op.create_index("ix_seat_refusals_refused_at", "seat_refusals", ["refused_at"])
    where = sa.text("event = 'activation_refused'")
    op.create_index("ix_audit_activation_refused", "audit", ["id"], sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_audit_activation_refused", "audit")
    op.drop_table("seat_refusals")
