"""One live key per installation: every license but the newest live one is superseded by its successor.

Before this revision only a renewal marked the key it replaced, so a license issued
from a new request code left the older keys of its installation "current".  For each
installation, each live license (no ``superseded_by``) older than the newest live one
is now marked superseded by the next license of that installation by serial; a
successor that had no ``supersedes`` gets it.  No key changes; only the bookkeeping.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

licenses = sa.table(
    "licenses",
    sa.column("license_id", sa.String),
    sa.column("installation_id", sa.String),
    sa.column("serial", sa.Integer),
    sa.column("supersedes", sa.String),
    sa.column("superseded_by", sa.String),
)


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(licenses.c.license_id, licenses.c.installation_id, licenses.c.supersedes, licenses.c.superseded_by).order_by(
            licenses.c.installation_id, licenses.c.serial
        )
    ).all()
    by_installation: dict[str, list[Any]] = {}
    for r in rows:
        by_installation.setdefault(r.installation_id, []).append(r)
    for chain in by_installation.values():
        for older, newer in pairwise(chain):
            if older.superseded_by is not None:
                continue
            conn.execute(sa.update(licenses).where(licenses.c.license_id == older.license_id).values(superseded_by=newer.license_id))
            if newer.supersedes is None:
                conn.execute(sa.update(licenses).where(licenses.c.license_id == newer.license_id).values(supersedes=older.license_id))


def downgrade() -> None:
    """The corrected marks stay: they are true of the keys, and the old code reads them as it always did."""
