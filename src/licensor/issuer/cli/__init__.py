"""``licensor vendor …`` commands: they parse and render; the issuer's services do the work.

One module per domain (``keys``, ``licenses``, ``catalog``, ``usage``, ``reminders``, ``accounts``, ``ops``),
each with its ``cmd_…(args) -> int`` functions and a ``register``; shared helpers from
``licensor.cmdline`` (the style its docstring describes) and ``common``.

State lives in the issuer database: SQLite at ``<data-dir>/vendor/issuer.db``
unless ``--database-url`` (or ``$LICENSOR_VENDOR_DATABASE_URL``) names another.
"""

from __future__ import annotations

from typing import Any

from ...cmdline import AddCommand, with_database_url
from . import accounts, catalog, keys, licenses, ops, reminders, usage


def register(group: Any, add: AddCommand) -> None:
    """Every ``licensor vendor`` command, in the order ``--help`` lists them."""
    cmd = with_database_url(add, "postgresql://… (default: $LICENSOR_VENDOR_DATABASE_URL or SQLite in the data dir)")
    keys.register_setup(group, cmd)
    licenses.register(group, cmd)
    keys.register(group, cmd)
    catalog.register(group, cmd)
    usage.register(group, cmd)
    reminders.register(group, cmd)
    accounts.register_audit(group, cmd)
    ops.register(group, cmd)
    accounts.register(group, cmd)


__all__ = ["register"]
