"""The audit log in the database: activations, refusals, joins, leaves, evictions, hash-chained (see ``chain``).

Entries are appended only inside the controller's write lock (``Store.locked()``), which keeps the chain linear
across replicas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from ...server.db import insert_rows
from .. import store as s
from .chain import GENESIS, AuditCheck, Entry, Link, head, link, stamp, verify

HEAD_KEY = "audit_head"

# Built once: appending runs in every seat batch.
_HEAD = select(s.audit.c.id, s.audit.c.hash).order_by(s.audit.c.id.desc()).limit(1)
_SET_HEAD = update(s.settings_kv).where(s.settings_kv.c.key == HEAD_KEY).values(value=bindparam("b_head"))


def _last(c: Connection) -> tuple[int, str]:
    row = c.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (int(row.id), str(row.hash))


def append(c: Connection, now: datetime, entries: Iterable[Entry]) -> int:
    """Append entries (inside ``Store.locked()``); returns how many."""
    links = link(*_last(c), now, entries)
    if links:
        rows = [
            {
                "id": x.id,
                "event": x.event,
                "subject": x.subject,
                "code": x.code,
                "detail": x.detail,
                "prev_hash": x.prev_hash,
                "hash": x.hash,
            }
            for x in links
        ]
        insert_rows(c, s.audit, rows, {"at": links[0].at})  # a batch's entries share one time (``link``)
        if c.execute(_SET_HEAD, {"b_head": head(links)}).rowcount == 0:
            c.execute(s.settings_kv.insert().values(key=HEAD_KEY, value=head(links)))
    return len(links)


def check(c: Connection) -> AuditCheck:
    """Verify the stored chain against its head record."""
    row = c.execute(select(s.settings_kv.c.value).where(s.settings_kv.c.key == HEAD_KEY)).first()
    links = (Link(**r._mapping) for r in c.execute(select(s.audit).order_by(s.audit.c.id)))
    return verify(links, None if row is None else str(row.value))


def entries(c: Connection, *, limit: int = 100, event: str | None = None) -> Sequence[dict[str, Any]]:
    q = select(s.audit).order_by(s.audit.c.id.desc()).limit(limit)
    if event:
        q = q.where(s.audit.c.event == event)
    return [
        {"id": r.id, "at": stamp(r.at), "event": r.event, "subject": r.subject, "code": r.code, "detail": r.detail, "hash": r.hash}
        for r in c.execute(q)
    ]
