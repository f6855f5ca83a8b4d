"""Database plumbing the controller and issuer stores share (SQLAlchemy Core, Alembic).

SQLite by default (a file only the owner can read: it holds secret keys), PostgreSQL
to share state between replicas.  Each store keeps its own tables and migrations;
this module makes the engine, the transactions and runs the migrations.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import DateTime, Engine, Table, TypeDecorator, create_engine, event, inspect
from sqlalchemy.engine import Connection, Dialect, ExceptionContext

if TYPE_CHECKING:  # Alembic is imported only when migrations run: it is slow to import
    from alembic.config import Config


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


#: PostgreSQL ends a session idle inside a transaction for this long (ms): no transaction here waits that long on its client.
IDLE_IN_TRANSACTION_MS = 5000


class _Insert(NamedTuple):
    sql: str
    order: tuple[str, ...] | None  # the columns in the order of a positional paramstyle's markers; None: named
    process: dict[str, Any]  # column -> its type's bind processor on this dialect (only those that have one)


_INSERTS: dict[tuple[Table, tuple[str, ...], str, str, str], _Insert] = {}


def _insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Insert:
    key = (table, columns, dialect.name, dialect.driver, dialect.paramstyle)
    done = _INSERTS.get(key)
    if done is None:
        compiled = table.insert().compile(dialect=dialect, column_keys=list(columns))
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        procs = {c: table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns}
        done = _INSERTS[key] = _Insert(compiled.string, order, {c: p for c, p in procs.items() if p is not None})
    return done


def insert_rows(c: Connection, table: Table, rows: list[dict[str, Any]], same: dict[str, Any]) -> None:
    """Insert ``rows`` into ``table`` in one executemany through the driver, each row also taking the values ``same``
    (the batch's time, its kind): what ``c.execute(table.insert(), rows)`` stores, without binding every value of
    every row through SQLAlchemy.  Each of ``same`` goes through its column's bind processor once, the rows' own
    values through theirs (a time would; the seat and audit rows carry only text).  All rows carry the same columns."""
    if not rows:
        return
    columns = (*rows[0], *same)
    ins = _insert(table, columns, c.dialect)
    fixed = {k: ins.process[k](v) if k in ins.process else v for k, v in same.items()}
    own = [k for k in rows[0] if k in ins.process]
    if own:
        rows = [{**r, **{k: ins.process[k](r[k]) for k in own}} for r in rows]
    if ins.order is None:
        c.exec_driver_sql(ins.sql, [{**r, **fixed} for r in rows])
    else:
        c.exec_driver_sql(ins.sql, [tuple(r[k] if k in r else fixed[k] for k in ins.order) for r in rows])


class PoolSize(NamedTuple):
    """A connection pool's ``pool_size`` and ``max_overflow``."""

    size: int
    overflow: int


def _pool_args(pool: PoolSize | None) -> dict[str, int]:
    return {} if pool is None else {"pool_size": pool.size, "max_overflow": pool.overflow}


def _owner_only_file(path: Path) -> None:
    """Create ``path`` for its owner only; an existing file is never opened here.

    Closing any descriptor of a file drops every POSIX lock this process holds on it, the
    locks of its open SQLite connections included: another process could then take the
    database for its own and delete the write-ahead log under them.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    except FileExistsError:
        pass
    os.chmod(path, 0o600)


def make_engine(
    url: str, *, lock_every_transaction: bool, sqlite_pool: PoolSize | None = None, postgres_pool: PoolSize | None = None
) -> Engine:
    """An engine for ``url``; the pools default to SQLAlchemy's.

    SQLite: a file only the owner can read, WAL, and BEGINs we issue ourselves.  A
    transaction that writes takes the write lock up front (``BEGIN IMMEDIATE``), so a
    read-then-write waits for other writers instead of failing as "database is
    locked".  With ``lock_every_transaction`` every transaction does; otherwise only
    those on a connection whose ``info["write"]`` is set (``Database.tx()``).

    PostgreSQL: ``postgresql://…`` uses psycopg 3; the pool pings connections.

    Both: statement parameters (customer names, e-mail addresses, key material) are
    left out of SQLAlchemy's exception texts and logs (``hide_parameters``), so an
    error that gets logged carries the statement, never the data.
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        _owner_only_file(path)
        with closing(sqlite3.connect(path, timeout=30)) as db:
            # Persistent, so once per file is enough.  Not in the connect hook: there
            # its unread result row kept a statement open, and with it a read snapshot,
            # so a pooled connection never saw what another process committed later.
            db.execute("PRAGMA journal_mode=WAL").fetchall()
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True, **_pool_args(sqlite_pool)
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if lock_every_transaction or conn.info.get("write") else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # A replica cut off from the database inside a transaction keeps its locks (the controller's seat lock:
    # every replica stalls) until the server notices the dead peer, hours later; the server ends it now.
    args = {} if "options=" in url else {"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"}
    engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, connect_args=args, **_pool_args(postgres_pool))
    event.listen(engine, "handle_error", _without_row_data)
    return engine


def _without_row_data(ctx: ExceptionContext) -> None:
    """Drop the row's values from a PostgreSQL error before it is raised (and perhaps logged).

    The server explains constraint errors with the data (``DETAIL: Key (name)=(ACME GmbH) already
    exists``, ``Failing row contains (…)``), which ``hide_parameters`` does not reach.  What stays is the
    primary message, which names the constraint, column and table; a data error's primary message may
    quote the value (``invalid input syntax for type integer: "…"``), so it keeps only its kind and place.
    """
    orig, error = ctx.original_exception, ctx.sqlalchemy_exception
    diag: Any = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if error is None or not primary:
        return  # not the server's words (a connection failure, a driver check): nothing of the row in it
    import psycopg

    if isinstance(orig, psycopg.DataError):
        place = ", ".join(f"{k} {v}" for k, v in (("table", diag.table_name), ("column", diag.column_name)) if v)
        text = f"{type(orig).__name__} (SQLSTATE {diag.sqlstate})" + (f" on {place}" if place else "")
    else:
        text = primary
    orig.args = (text,)
    error.args = (f"({type(orig).__module__}.{type(orig).__name__}) {text}",)


class Database:
    """A store's engine.  ``tx()`` is one atomic transaction (``write=False`` for reads)."""

    def __init__(self, url: str, engine: Engine):
        self.url = url
        self.engine = engine

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.info["write"] = write
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


# -- migrations (Alembic, run in process: no alembic.ini) -------------------------


def alembic_config(script_location: Path, **attributes: Any) -> Config:
    """The Alembic config of the migration scripts in ``script_location``; ``attributes`` reach ``env.py``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes.update(attributes)
    return cfg


def head_revision(script_location: Path) -> str:
    """The newest revision of the migration scripts in ``script_location``."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(script_location)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision (None: no migration has run)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_schema(
    engine: Engine,
    script_location: Path,
    revision: str = "head",
    *,
    advisory_lock: int | None = None,
    adopt: tuple[str, str] | None = None,
) -> tuple[str | None, str | None]:
    """Migrate to ``revision`` in one transaction; returns ``(before, after)``.

    ``advisory_lock``: on PostgreSQL, the key of a transaction-level lock that makes
    replicas migrating at once take turns.  ``adopt=(table, revision)``: a database
    that has ``table`` but no revision was made before migrations existed; it is
    stamped at ``revision`` first.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        if advisory_lock is not None and engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({advisory_lock})")
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = alembic_config(script_location, engine=engine, connection=conn)
        if adopt is not None and before is None and inspect(conn).has_table(adopt[0]):
            command.stamp(cfg, adopt[1])
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    return before, after
