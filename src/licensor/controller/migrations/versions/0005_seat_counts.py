"""Seat counts: the seats held per kind, kept beside the seats so that admission reads one row, not ``count(*)``.

The counts start from the seats already held, so an existing database stays
exact; every seat insert and delete updates them in the same transaction.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


#: The controller's seat lock (``licensor.controller.store.ADVISORY_LOCK``, repeated: a migration stays as it was written).
SEAT_LOCK = 0x6C6963656E736F72


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Count under the seat lock: a replica already on this revision cannot seat anyone between the count and the commit.
        bind.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SEAT_LOCK})")
    counts = op.create_table(
        "seat_counts",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("held", sa.Integer, nullable=False),
    )
    seats = sa.table("seats", sa.column("kind", sa.String))
    held: dict[str, int] = {r[0]: int(r[1]) for r in bind.execute(sa.select(seats.c.kind, sa.func.count()).group_by(seats.c.kind))}
    op.bulk_insert(counts, [{"kind": k, "held": int(held.get(k, 0))} for k in ("node", "cluster")])


def downgrade() -> None:
    op.drop_table("seat_counts")
