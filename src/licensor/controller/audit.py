"""The audit log: activations, refusals, joins, leaves, evictions, hash-chained.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own
content, and the head (last id and hash) is kept in the settings table, so a
changed, inserted or deleted entry (also the last one) breaks the chain and
``verify`` names the first entry where it breaks.  Entries are appended only
inside the controller's write lock (``Store.locked()``), which keeps the chain
linear across replicas.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection

from . import store as s

GENESIS = "0" * 64
HEAD_KEY = "audit_head"


@dataclass(frozen=True)
class Entry:
    event: str  # activated | activation_refused | joined | refused | left | evicted | expired | released | admin
    subject: str = ""  # node or cluster id, license id
    code: str = ""  # the refusal or verdict code
    detail: str = ""  # free text (a hint, a reason)


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def digest(prev: str, id: int, stamp: str, event: str, subject: str, code: str, detail: str) -> str:
    """The entry's hash; ``stamp`` is its time as ``_stamp`` writes it (a batch's entries share one)."""
    return hashlib.sha256(_encode([prev, id, stamp, event, subject, code, detail]).encode()).hexdigest()


# Built once: appending runs in every seat batch.
_HEAD = select(s.audit.c.id, s.audit.c.hash).order_by(s.audit.c.id.desc()).limit(1)
_INSERT = s.audit.insert()
_SET_HEAD = update(s.settings_kv).where(s.settings_kv.c.key == HEAD_KEY).values(value=bindparam("b_head"))


def _head(c: Connection) -> tuple[int, str]:
    row = c.execute(_HEAD).first()
    return (0, GENESIS) if row is None else (int(row.id), str(row.hash))


def append(c: Connection, now: datetime, entries: Iterable[Entry]) -> int:
    """Append entries (inside ``Store.locked()``); returns how many."""
    last_id, prev = _head(c)
    now = now.astimezone(UTC)
    stamp = _stamp(now)
    rows: list[dict[str, Any]] = []
    for e in entries:
        last_id += 1
        h = digest(prev, last_id, stamp, e.event, e.subject[:200], e.code[:60], e.detail)
        rows.append(
            {
                "id": last_id,
                "at": now,
                "event": e.event,
                "subject": e.subject[:200],
                "code": e.code[:60],
                "detail": e.detail,
                "prev_hash": prev,
                "hash": h,
            }
        )
        prev = h
    if rows:
        c.execute(_INSERT, rows)
        head = f"{last_id}:{prev}"
        if c.execute(_SET_HEAD, {"b_head": head}).rowcount == 0:
            c.execute(s.settings_kv.insert().values(key=HEAD_KEY, value=head))
    return len(rows)


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    entries: int
    problem: str = ""
    bad_id: int | None = None


def verify(c: Connection) -> AuditCheck:
    """Walk the chain from the start; the first broken link is reported."""
    prev, expected_id, n = GENESIS, 1, 0
    for r in c.execute(select(s.audit).order_by(s.audit.c.id)):
        if r.id != expected_id:
            return AuditCheck(False, n, f"entry {expected_id} is missing (the next entry is {r.id}): entries were deleted", expected_id)
        if r.prev_hash != prev:
            return AuditCheck(False, n, f"entry {r.id} does not follow entry {r.id - 1}: an entry before it was changed or removed", r.id)
        if digest(prev, r.id, _stamp(r.at), r.event, r.subject, r.code, r.detail) != r.hash:
            return AuditCheck(False, n, f"entry {r.id} was changed after it was written (its hash does not match)", r.id)
        prev, expected_id, n = r.hash, expected_id + 1, n + 1
    head = c.execute(select(s.settings_kv.c.value).where(s.settings_kv.c.key == HEAD_KEY)).first()
    if head is not None:
        hid, _, hhash = str(head.value).partition(":")
        if int(hid) != n or hhash != prev:
            return AuditCheck(False, n, f"the log ends at entry {n}, but entry {hid} was written: the newest entries were deleted", n + 1)
    elif n:
        return AuditCheck(False, n, "the log's head record is missing: it was tampered with")
    return AuditCheck(True, n)


def entries(c: Connection, *, limit: int = 100, event: str | None = None) -> Sequence[dict[str, Any]]:
    q = select(s.audit).order_by(s.audit.c.id.desc()).limit(limit)
    if event:
        q = q.where(s.audit.c.event == event)
    return [
        {"id": r.id, "at": _stamp(r.at), "event": r.event, "subject": r.subject, "code": r.code, "detail": r.detail, "hash": r.hash}
        for r in c.execute(q)
    ]
