"""Issuer persistence: SQLAlchemy Core tables, SQLite by default, PostgreSQL for scale.

The schema is created and changed only by the Alembic migrations in
``issuer/migrations`` (``licensor vendor db upgrade``); these tables are what
the code reads and writes, and what autogenerate compares against.  Nothing is
kept in process memory that another replica could change, so several replicas
can share one PostgreSQL.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Boolean, Column, ForeignKey, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint, false

from ..server.db import Database, PoolSize, UTCDateTime, make_engine
from ..server.logins import login_table

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("features", Text, nullable=False, default="[]"),  # JSON list: the feature catalogue ([] = any)
    Column("created_at", UTCDateTime, nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("type", String(20), nullable=False),  # perpetual | subscription
    Column("months", Integer, nullable=True),  # subscription term
    Column("maintenance_months", Integer, nullable=True),  # perpetual maintenance term
    Column("nodes", Integer, nullable=True),  # None: what the request asks
    Column("features", Text, nullable=False, default="[]"),
    Column("grace_days", Integer, nullable=False, default=0),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("email", String(320), nullable=False, default=""),
    Column("contact", String(200), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("reminders_opt_out", Boolean, nullable=False, default=False, server_default=false()),  # no expiry reminders
)

installations = Table(
    "installations",
    metadata,
    Column("installation_id", String(32), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("product", String(200), nullable=False),
    Column("version", String(100), nullable=False, default=""),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=True),
    Column("cluster_name", String(200), nullable=False, default=""),
    Column("factors", Text, nullable=False, default="{}"),  # JSON: factor name -> hash
    Column("contact_email", String(320), nullable=False, default=""),
    Column("first_seen", UTCDateTime, nullable=False),
    Column("last_seen", UTCDateTime, nullable=False),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(80), primary_key=True),
    Column("public_key", LargeBinary, nullable=False),
    Column("seed", LargeBinary, nullable=True),  # wiped when the key is removed
    Column("state", String(20), nullable=False, index=True),  # active | retired | removed
    Column("created_at", UTCDateTime, nullable=False),
    Column("retired_at", UTCDateTime, nullable=True),
    Column("removed_at", UTCDateTime, nullable=True),
)

licenses = Table(
    "licenses",
    metadata,
    Column("license_id", String(64), primary_key=True),
    Column("installation_id", String(32), ForeignKey("installations.installation_id"), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("customer_id", Integer, ForeignKey("customers.id"), nullable=False),
    Column("customer", String(200), nullable=False),
    Column("product", String(200), nullable=False),
    Column("plan", String(100), nullable=True),
    Column("type", String(20), nullable=False),
    Column("nodes", Integer, nullable=False),
    Column("remote_clusters", Integer, nullable=False),
    Column("features", Text, nullable=False),
    Column("grace_days", Integer, nullable=False),
    Column("issued_at", UTCDateTime, nullable=False, index=True),
    Column("not_before", UTCDateTime, nullable=False),
    Column("expires", UTCDateTime, nullable=True),
    Column("maintenance_until", UTCDateTime, nullable=False),
    Column("kid", String(80), nullable=False),
    Column("token", Text, nullable=False),
    Column("kind", String(20), nullable=False),  # issue | renew | rehost
    Column("supersedes", String(64), nullable=True),
    Column("superseded_by", String(64), nullable=True),
    Column("issued_by", String(200), nullable=False),
    UniqueConstraint("installation_id", "serial", name="uq_licenses_installation_serial"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),  # SHA-256 of the cookie value
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # SHA-256 of the token
    Column("scopes", Text, nullable=False),  # space separated
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

login_attempts = login_table(metadata)

#: One expiry reminder per license and expiry (unique): claimed ("sending") before the mail goes out, then sent or failed.
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("license_id", String(64), ForeignKey("licenses.license_id"), nullable=False),
    Column("expires", UTCDateTime, nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("state", String(20), nullable=False, index=True),  # sending | sent | failed
    Column("attempts", Integer, nullable=False, default=1),
    Column("claimed_at", UTCDateTime, nullable=False, index=True),
    Column("claimed_by", String(200), nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("error", Text, nullable=False, default=""),
    UniqueConstraint("license_id", "expires", name="uq_reminders_license_expires"),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("target", String(200), nullable=False, default=""),
    Column("details", Text, nullable=False, default="{}"),
)

usage_reports = Table(
    "usage_reports",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("installation_id", String(32), ForeignKey("installations.installation_id"), nullable=False),
    Column("month", String(7), nullable=False),
    Column("peak_nodes", Integer, nullable=False),
    Column("peak_clusters", Integer, nullable=False),
    Column("generated_at", UTCDateTime, nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("license_id", String(64), nullable=True),
    Column("report", Text, nullable=False),
    UniqueConstraint("installation_id", "month", "generated_at", name="uq_usage_reports_inst_month_gen"),
)


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite:///{data_dir / 'issuer.db'}"


def database_url(data_dir: Path, given: str | None) -> str:
    """The URL given, else ``$LICENSOR_VENDOR_DATABASE_URL``, else SQLite in the data dir."""
    return given or os.environ.get("LICENSOR_VENDOR_DATABASE_URL") or sqlite_url(data_dir)


class Store(Database):
    """The issuer's database.  ``tx()`` is one atomic transaction (``write=False`` for reads)."""

    def __init__(self, url: str):
        # On SQLite only writers take the write lock up front (``tx()``), so a
        # read-then-write (the next serial) waits for other writers instead of
        # failing as "database is locked".
        super().__init__(url, make_engine(url, lock_every_transaction=False, sqlite_pool=PoolSize(8, 32), postgres_pool=PoolSize(10, 10)))
