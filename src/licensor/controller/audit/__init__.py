"""The controller's audit log: a hash chain (``chain``, pure) kept in the database (``log``), and its API.

``log`` (and with it SQLAlchemy) is imported on first use of its names, so ``chain`` can be read without the
ORM (``licensor controller audit verify`` on SQLite: ``licensor.controller.readpath``).
"""

from __future__ import annotations

from .chain import GENESIS, AuditCheck, Entry, digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .log import HEAD_KEY, append, check, entries

__all__ = ["GENESIS", "HEAD_KEY", "AuditCheck", "Entry", "append", "check", "digest", "entries"]

if not TYPE_CHECKING:

    def __getattr__(name: str) -> object:
        if name not in ("HEAD_KEY", "append", "check", "entries"):
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from . import log

        value = getattr(log, name)
        globals()[name] = value
        return value
