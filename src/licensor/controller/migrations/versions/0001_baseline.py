"""Baseline: installation identity, trusted vendor keys, licenses, settings (licensor 0.1).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "installation",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("installation_id", sa.String(32), nullable=False),
        sa.Column("seed", sa.LargeBinary, nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("cluster_name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "trusted_keys",
        sa.Column("kid", sa.String(80), primary_key=True),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("added_at", TS, nullable=False),
    )
    op.create_table(
        "licenses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("license_id", sa.String(100), nullable=False),
        sa.Column("serial", sa.Integer, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("activated_at", TS, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_index("ix_licenses_active", "licenses", ["active"])
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("settings", "licenses", "trusted_keys", "installation"):
        op.drop_table(name)
