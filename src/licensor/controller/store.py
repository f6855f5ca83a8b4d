"""Controller persistence: SQLAlchemy Core tables, SQLite by default, PostgreSQL for HA.

Every replica of one controller cluster shares this database, and with it the
installation identity.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

#: PostgreSQL advisory lock key of the controller's write lock ("licensor" in ASCII, as a number).
ADVISORY_LOCK = 0x6C6963656E736F72


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


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
    Index("ix_seats_kind_last_seen", "kind", "last_seen"),
)

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


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'controller.db'}"


def make_engine(url: str) -> Engine:
    """An engine with the pragmas SQLite needs to be safe under concurrent use."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # The database holds the installation's secret key: owner only.
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below), so the driver must not.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            # Every transaction takes the write lock up front: seat admission must
            # serialise across processes, and a deferred BEGIN that later upgrades
            # to a writer can fail with "database is locked" instead of waiting.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


class Store:
    """The controller's database.  ``tx()`` is one atomic transaction."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def create_schema(self) -> None:
        """Bring the schema to the newest version (Alembic migrations shipped in the package)."""
        from .migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def locked(self) -> Iterator[Connection]:
        """A transaction that holds the controller-wide write lock until it ends.

        Seat admission and the audit chain are decided here; the lock makes it
        exact across worker processes and replicas (SQLite: BEGIN IMMEDIATE,
        PostgreSQL: a transaction-level advisory lock).
        """
        with self.engine.begin() as conn:
            if self.is_postgres:
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})")
            yield conn

    def close(self) -> None:
        self.engine.dispose()
