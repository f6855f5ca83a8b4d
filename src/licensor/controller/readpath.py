"""What the command line reads from the controller's SQLite database without the ORM.

Importing SQLAlchemy alone costs about 0.2 s, several times a bare Python's start, and ``audit verify`` used to
run the migrations (Alembic) first.  A command that only reads does it here with the stdlib ``sqlite3`` and
hands the rows to the same pure functions the services use (``license.read`` for the license, ``audit.chain``
for the log), so what it prints is the services', byte for byte (tests/controller/test_read_path.py runs both
on the same databases).  Anything this path does not expect (a PostgreSQL URL, no file yet, a schema that is
not the newest, a locked or odd file) gives ``None``, and the command takes the service path, which migrates,
explains or refuses as it always did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from .audit.chain import AuditCheck, Link, verify

T = TypeVar("T")

#: The migration scripts; each is named after its revision (``0004_seat_secrets.py``), one after the other.
VERSIONS = Path(__file__).parent / "migrations" / "versions"
#: The settings key of the audit log's head record (``audit.log.HEAD_KEY``).
AUDIT_HEAD_KEY = "audit_head"


def newest_revision() -> str:
    """The newest schema revision, read from the scripts' names (tests pin it to Alembic's head)."""
    return max(p.name.partition("_")[0] for p in VERSIONS.glob("[0-9]*_*.py"))


def utc(text: str) -> datetime:
    """A time as SQLAlchemy keeps it in SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC, no zone), read as it reads it."""
    t = datetime.fromisoformat(text)
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL that exists (None: another database, or no file yet)."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    return path if path.is_file() else None


def read(url: str, work: Callable[[sqlite3.Connection], T | None], *, schema: str | None = None) -> T | None:
    """``work(db)`` in one read transaction on the SQLite file of ``url``; None when this path cannot answer.

    ``schema``: the revision the database must be at (else None: the service path migrates first)."""
    path = sqlite_path(url)
    if path is None:
        return None
    try:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            db.isolation_level = None
            db.execute("BEGIN")  # one snapshot for every read below (WAL)
            if schema is not None:
                row = db.execute("SELECT version_num FROM alembic_version").fetchone()
                if row is None or row[0] != schema:
                    return None
            return work(db)
    except sqlite3.Error:  # no schema yet, or not ours: the service path explains
        return None


def setting(db: sqlite3.Connection) -> Callable[[str], str | None]:
    """The settings table as a function: ``setting(db)(key)`` is the value, or None when not set."""

    def get(key: str) -> str | None:
        row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    return get


def audit_check(url: str) -> AuditCheck | None:
    """The audit chain checked as ``Controller.audit_verify`` checks it; None: ask the service."""

    def work(db: sqlite3.Connection) -> AuditCheck:
        head = setting(db)(AUDIT_HEAD_KEY)
        q = "SELECT id, at, event, subject, code, detail, prev_hash, hash FROM audit ORDER BY id"
        return verify((Link(r[0], utc(r[1]), *r[2:]) for r in db.execute(q)), head)

    return read(url, work, schema=newest_revision())
