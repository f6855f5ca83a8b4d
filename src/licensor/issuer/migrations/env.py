"""Alembic environment: the URL and engine come from ``licensor.issuer.migrate``."""

from __future__ import annotations

from alembic import context

from licensor.issuer.store import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - always run through licensor.issuer.migrate
    raise RuntimeError("run migrations with 'licensor vendor db upgrade'")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
