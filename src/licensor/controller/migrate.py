"""Schema migrations with Alembic, run programmatically (no alembic.ini needed).

The scripts live in ``migrations/`` inside the package.  ``upgrade(engine)`` is
what ``licensor controller db upgrade``, ``init`` and ``serve`` run; it is safe
to run from several replicas at once (PostgreSQL: an advisory lock) and it
adopts a database made by licensor 0.1 before migrations existed.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from ..server.db import current_revision, head_revision, upgrade_schema

MIGRATIONS = Path(__file__).parent / "migrations"
#: The revision that matches the schema licensor 0.1 made with ``create_all``.
BASELINE = "0001"
_MIGRATION_LOCK = 0x6C69632D6D6967  # "lic-mig"


def head() -> str:
    return head_revision(MIGRATIONS)


def current(engine: Engine) -> str | None:
    return current_revision(engine)


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns ``(before, after)``."""
    # A database made by create_all before migrations existed has the installation table but no revision.
    return upgrade_schema(engine, MIGRATIONS, revision, advisory_lock=_MIGRATION_LOCK, adopt=("installation", BASELINE))
