"""The audit log's hash chain, as pure functions: link new entries, verify stored ones.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's own content, and the head (last id
and hash) is kept apart, so a changed, inserted, deleted or reordered entry (also the last one) breaks the chain,
and ``verify`` names the first entry where it breaks.  ``log`` stores what these functions make.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64


@dataclass(frozen=True)
class Entry:
    event: str  # activated | activation_refused | joined | refused | left | evicted | expired | released | admin
    subject: str = ""  # node or cluster id, license id
    code: str = ""  # the refusal or verdict code
    detail: str = ""  # free text (a hint, a reason)


@dataclass(frozen=True)
class Link:
    """An entry as it is stored: numbered, timed and chained to the one before."""

    id: int
    at: datetime
    event: str
    subject: str
    code: str
    detail: str
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditCheck:
    ok: bool
    entries: int
    problem: str = ""
    bad_id: int | None = None


def stamp(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="microseconds")


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def digest(prev: str, id: int, stamp: str, event: str, subject: str, code: str, detail: str) -> str:
    """The entry's hash; ``stamp`` is its time as ``stamp()`` writes it (a batch's entries share one)."""
    return hashlib.sha256(_encode([prev, id, stamp, event, subject, code, detail]).encode()).hexdigest()


def link(last_id: int, prev: str, now: datetime, entries: Iterable[Entry]) -> list[Link]:
    """Number and chain ``entries`` after the entry ``last_id`` whose hash is ``prev`` (``0, GENESIS``: the first)."""
    now = now.astimezone(UTC)
    at = stamp(now)
    out: list[Link] = []
    for e in entries:
        last_id += 1
        subject, code = e.subject[:200], e.code[:60]
        h = digest(prev, last_id, at, e.event, subject, code, e.detail)
        out.append(Link(last_id, now, e.event, subject, code, e.detail, prev, h))
        prev = h
    return out


def head(links: Sequence[Link]) -> str:
    """The head record of a chain ending in ``links[-1]``: ``id:hash``."""
    return f"{links[-1].id}:{links[-1].hash}"


def verify(rows: Iterable[Link], head: str | None) -> AuditCheck:
    """Walk the chain from the start (``rows`` in id order) and check it against the ``head`` record; the first broken link is reported."""
    prev, expected_id, n = GENESIS, 1, 0
    for r in rows:
        if r.id != expected_id:
            return AuditCheck(False, n, f"entry {expected_id} is missing (the next entry is {r.id}): entries were deleted", expected_id)
        if r.prev_hash != prev:
            return AuditCheck(False, n, f"entry {r.id} does not follow entry {r.id - 1}: an entry before it was changed or removed", r.id)
        if digest(prev, r.id, stamp(r.at), r.event, r.subject, r.code, r.detail) != r.hash:
            return AuditCheck(False, n, f"entry {r.id} was changed after it was written (its hash does not match)", r.id)
        prev, expected_id, n = r.hash, expected_id + 1, n + 1
    if head is not None:
        hid, _, hhash = head.partition(":")
        if int(hid) != n or hhash != prev:
            return AuditCheck(False, n, f"the log ends at entry {n}, but entry {hid} was written: the newest entries were deleted", n + 1)
    elif n:
        return AuditCheck(False, n, "the log's head record is missing: it was tampered with")
    return AuditCheck(True, n)
