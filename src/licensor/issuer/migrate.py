"""Schema migrations (Alembic), run in process: ``licensor vendor db upgrade``.

Every schema change is a revision in ``issuer/migrations/versions``.  Servers
refuse to start on a database that is not at the head revision, so replicas
never run against a schema they do not know.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UsageError
from ..server.db import current_revision, head_revision, upgrade_schema
from .store import Store

_HERE = Path(__file__).parent / "migrations"


def head() -> str:
    return head_revision(_HERE)


def current(store: Store) -> str | None:
    return current_revision(store.engine)


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns ``(before, after)``."""
    before, after = upgrade_schema(store.engine, _HERE, revision)
    return before, after or ""


def require_head(store: Store) -> None:
    """Refuse to work on a schema older (or newer) than this code's."""
    try:
        cur = current(store)
    except Exception as exc:  # cannot connect
        raise UsageError(f"Cannot open the issuer database: {exc}") from None
    if cur != head():
        raise UsageError(
            f"The issuer database is at schema revision {cur or '(empty)'}, this licensor needs {head()}: "
            "run 'licensor vendor db upgrade' (and 'licensor vendor init' for a new vendor)"
        )
