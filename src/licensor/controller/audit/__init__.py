"""The controller's audit log: a hash chain (``chain``, pure) kept in the database (``log``), and its API."""

from .chain import GENESIS, AuditCheck, Entry, digest
from .log import HEAD_KEY, append, check, entries

__all__ = ["GENESIS", "HEAD_KEY", "AuditCheck", "Entry", "append", "check", "digest", "entries"]
