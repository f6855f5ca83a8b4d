"""Schema migrations (Alembic), run in process: ``licensor vendor db upgrade``.

Every schema change is a revision in ``issuer/migrations/versions``.  Servers
refuse to start on a database that is not at the head revision, so replicas
never run against a schema they do not know.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ..errors import UsageError
from .store import Store

_HERE = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_HERE))
    return cfg


def head() -> str:
    h = ScriptDirectory.from_config(_config()).get_current_head()
    assert h is not None
    return h


def current(store: Store) -> str | None:
    with store.engine.connect() as c:
        return MigrationContext.configure(c).get_current_revision()


def upgrade(store: Store, revision: str = "head") -> tuple[str | None, str]:
    """Bring the schema to ``revision``; returns ``(before, after)``."""
    before = current(store)
    cfg = _config()
    with store.engine.begin() as c:
        cfg.attributes["connection"] = c
        command.upgrade(cfg, revision)
    return before, current(store) or ""


def require_head(store: Store) -> None:
    """Refuse to work on a schema older (or newer) than this code's."""
    try:
        cur = current(store)
    except Exception as exc:  # cannot connect
        raise UsageError(f"cannot open the issuer database: {exc}") from None
    if cur != head():
        raise UsageError(
            f"the issuer database is at schema revision {cur or '(empty)'}, this licensor needs {head()}: "
            "run 'licensor vendor db upgrade' (and 'licensor vendor init' for a new vendor)"
        )
