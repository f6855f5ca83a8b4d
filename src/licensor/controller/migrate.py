"""Schema migrations with Alembic, run programmatically (no alembic.ini needed).

The scripts live in ``migrations/`` inside the package.  ``upgrade(engine)`` is
what ``licensor controller db upgrade``, ``init`` and ``serve`` run; it is safe
to run from several replicas at once (PostgreSQL: an advisory lock) and it
adopts a database made by licensor 0.1 before migrations existed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

MIGRATIONS = Path(__file__).parent / "migrations"
#: The revision that matches the schema licensor 0.1 made with ``create_all``.
BASELINE = "0001"
_MIGRATION_LOCK = 0x6C69632D6D6967  # "lic-mig"


def config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``revision``; returns ``(before, after)``."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = config(engine)
        cfg.attributes["connection"] = conn
        if before is None and inspect(conn).has_table("installation"):
            command.stamp(cfg, BASELINE)  # made by create_all before migrations existed
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after
