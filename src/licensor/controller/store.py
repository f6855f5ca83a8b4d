"""Controller persistence: SQLAlchemy Core tables, SQLite by default, PostgreSQL for HA.

Every replica of one controller cluster shares this database, and with it the
installation identity.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Boolean, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from ..server.db import Database, UTCDateTime, make_engine
from ..server.logins import login_table

metadata = MetaData()


class Busy(Exception):
    """``Store.locked_now``: the write lock cannot be taken without waiting."""


#: PostgreSQL advisory lock key of the controller's write lock ("licensor" in ASCII, as a number).
ADVISORY_LOCK = 0x6C6963656E736F72

installation = Table(
    "installation",
    metadata,
    Column("id", Integer, primary_key=True),  # always 1: one identity per controller cluster
    Column("installation_id", String(32), nullable=False),
    Column("seed", LargeBinary, nullable=False),
    Column("product", String(200), nullable=False),
    Column("version", String(100), nullable=False),
    Column("cluster_name", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

trusted_keys = Table(
    "trusted_keys",
    metadata,
    Column("kid", String(80), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("added_at", UTCDateTime, nullable=False),
)

licenses = Table(
    "licenses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("license_id", String(100), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("token", Text, nullable=False),
    Column("activated_at", UTCDateTime, nullable=False),
    Column("active", Boolean, nullable=False, default=False, index=True),
)

settings_kv = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)


#: Seats held by agent nodes (kind "node") and remote controllers (kind "cluster").
seats = Table(
    "seats",
    metadata,
    Column("kind", String(10), primary_key=True),
    Column("seat_id", String(200), primary_key=True),
    Column("joined_at", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
    Column("address", String(200), nullable=False, default=""),
    # SHA-256 (hex) of the seat secret handed to the holder at join; NULL: given before seats had secrets (migration 0004)
    Column("secret_hash", String(64), nullable=True),
    Index("ix_seats_kind_last_seen", "kind", "last_seen"),
)

#: Seats held per kind, kept in the same transactions as every seat insert and delete (see ``seats/store.py``):
#: admission reads one row instead of counting the seats.  ``seats/store.check_counts`` repairs a drift, audited.
seat_counts = Table(
    "seat_counts",
    metadata,
    Column("kind", String(10), primary_key=True),
    Column("held", Integer, nullable=False),
)

#: The newest refused join of each node and remote cluster that holds no seat since (``seats/refusals.py``): one row per
#: id, written once per batch that refuses; a seat given to the id deletes it.
seat_refusals = Table(
    "seat_refusals",
    metadata,
    Column("kind", String(10), primary_key=True),
    Column("seat_id", String(200), primary_key=True),
    Column("code", String(60), nullable=False),
    Column("allowed", Integer, nullable=False),  # the kind's limit when it was refused
    Column("tries", Integer, nullable=False),  # refused joins since the first
    Column("first_at", UTCDateTime, nullable=False),
    Column("refused_at", UTCDateTime, nullable=False),
    Index("ix_seat_refusals_refused_at", "refused_at"),
)

#: The predicate of the audit's partial index of refused activations (a query must say it in these words to use it).
ACTIVATION_REFUSED = "event = 'activation_refused'"

#: Hash-chained audit log: each entry's hash covers its content and the previous hash.
audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("event", String(40), nullable=False),
    Column("subject", String(200), nullable=False, default=""),
    Column("code", String(60), nullable=False, default=""),
    Column("detail", Text, nullable=False, default=""),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # Only the refused activations are indexed (a partial index): the pages find them without reading every join's entry,
    # and an entry of any other event costs no index write.
    Index("ix_audit_activation_refused", "id", sqlite_where=text(ACTIVATION_REFUSED), postgresql_where=text(ACTIVATION_REFUSED)),
)

#: Peak seats per month and kind, for the usage report.
usage = Table(
    "usage",
    metadata,
    Column("month", String(7), primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("peak", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Admin password (argon2), admin API tokens and agent join tokens (SHA-256 of a random token).
credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),  # admin_password | admin_token | join_token
    Column("name", String(100), nullable=False, default=""),
    Column("secret_hash", String(200), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


#: Sign-in attempts (console and HTTP Basic), counted per user name and per address.
login_attempts = login_table(metadata)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'controller.db'}"


class Store(Database):
    """The controller's database.  ``tx()`` is one atomic transaction."""

    def __init__(self, url: str):
        # On SQLite every transaction takes the write lock up front: seat admission
        # must serialise across processes, and a deferred BEGIN that later upgrades
        # to a writer can fail with "database is locked" instead of waiting.
        super().__init__(url, make_engine(url, lock_every_transaction=True))
        self._now: Connection | None = None  # ``locked_now``'s connection (SQLite)

    def create_schema(self) -> None:
        """Bring the schema to the newest version (Alembic migrations shipped in the package)."""
        from .migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def locked_now(self) -> Iterator[Connection]:
        """``locked()`` without waiting: raises ``Busy`` at once if the write lock is taken (or on PostgreSQL).

        SQLite only, for the seat batches the event loop runs itself: a local write of a few milliseconds costs
        less there than the hand-off to a thread, but the loop must never wait for another writer (a worker
        process, the sweeper, the CLI).  So it runs on a connection of its own whose BEGIN IMMEDIATE does not
        wait (``busy_timeout`` 0), and the caller goes to ``locked()`` in a thread when the lock is taken.
        """
        if self.is_postgres:
            raise Busy("PostgreSQL: every batch runs in a thread")
        if self._now is None:
            self._now = self.engine.connect()
            self._now.connection.dbapi_connection.execute("PRAGMA busy_timeout=0")  # type: ignore[union-attr]
        conn = self._now
        try:
            tx = conn.begin()
        except OperationalError as e:
            if getattr(e.orig, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise Busy("the write lock is taken") from None
            self._drop_now()
            raise
        try:
            with tx:
                yield conn
        except BaseException:
            self._drop_now()  # whatever broke, the next batch starts on a new connection
            raise

    def _drop_now(self) -> None:
        """Discard ``locked_now``'s connection: invalidated, so that it never goes back to the pool with its
        ``busy_timeout`` of 0 (a thread's batch on it would fail on a taken lock instead of waiting)."""
        if self._now is not None:
            self._now.invalidate()
            self._now.close()
            self._now = None

    def close(self) -> None:
        self._drop_now()
        super().close()

    @contextmanager
    def locked(self) -> Iterator[Connection]:
        """A transaction that holds the controller-wide write lock until it ends.

        Seat admission and the audit chain are decided here; the lock makes it
        exact across worker processes and replicas (SQLite: BEGIN IMMEDIATE,
        PostgreSQL: a transaction-level advisory lock).
        """
        with self.tx() as conn:
            if self.is_postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
            yield conn


def get_setting(c: Connection, key: str) -> str | None:
    """A value of the settings table (None: not set)."""
    row = c.execute(select(settings_kv.c.value).where(settings_kv.c.key == key)).first()
    return None if row is None else str(row.value)


def put_setting(c: Connection, key: str, value: str) -> None:
    """Set a value of the settings table."""
    if c.execute(update(settings_kv).where(settings_kv.c.key == key).values(value=value)).rowcount == 0:
        c.execute(settings_kv.insert().values(key=key, value=value))
