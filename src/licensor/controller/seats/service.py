"""The seat service: applies batches of joins, heartbeats and leaves; sweeps silent seats; lists seats.

Each batch runs in one ``Store.locked()`` transaction: that is what makes "exactly N admitted" hold across worker
processes and replicas, and what makes a storm of joins cheap (one commit for many joins).  The decisions are
``licensor.seats.decide``'s; here they are loaded, called and stored.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ... import seats
from ...clock import Clock
from ...license import fmt_time
from ...policy import Verdict
from .. import audit
from .. import store as s
from ..license.verdicts import Verdicts
from . import refusals, store

Outcome = seats.Outcome

#: How often (monotonic seconds) the sweep compares the seat counts with the seats held; a process checks at its start too.
COUNT_CHECK_EVERY = 300.0


@dataclass(frozen=True)
class Op:
    """One seat operation: ``join`` | ``heartbeat`` | ``leave`` of a node or cluster."""

    op: str
    kind: str
    id: str
    address: str = ""
    secret: str = field(default="", repr=False)  # the seat secret presented (X-Seat-Secret)
    admin: bool = False  # an admin's leave frees the seat without its secret


class Seats:
    """Seats of nodes and remote clusters.  ``observe(c, now)`` feeds each batch's clock reading to the trusted-time mark."""

    def __init__(
        self, store_: s.Store, verdicts: Verdicts, clock: Clock, ttl: timedelta, observe: Callable[[Connection, datetime], None]
    ) -> None:
        self.store, self.verdicts, self.clock, self.ttl, self.observe = store_, verdicts, clock, ttl, observe
        self.refusals: Counter[str] = Counter()
        self.peaks: dict[tuple[str, str], int] = {}  # (month, kind) -> a peak already stored
        self.counts_checked: float | None = None  # time.monotonic() of this process's last seat count check

    def apply(self, ops: Sequence[Op]) -> list[Outcome]:
        """Apply a batch of seat operations in one serialising transaction."""
        return self._applied(ops, self.store.locked)

    def apply_now(self, ops: Sequence[Op]) -> list[Outcome] | None:
        """``apply`` if the write lock is free this instant (SQLite: see ``Store.locked_now``); None if it is not."""
        try:
            return self._applied(ops, self.store.locked_now)
        except s.Busy:
            return None

    def _applied(self, ops: Sequence[Op], lock: Callable[[], AbstractContextManager[Connection]]) -> list[Outcome]:
        now = self.clock()
        try:
            # a cached verdict no longer fresh is evaluated inside the lock, in the batch's transaction (no wait outside it)
            result = self._apply(ops, self.verdicts.fresh(now), now, lock)
        except s.Busy:  # nothing was done
            raise
        except BaseException:
            self.peaks.clear()  # the cached peaks may name a write that was rolled back
            raise
        for o in result:
            if not o.ok and o.status == "refused":
                self.refusals[o.code] += 1
        return result

    def _apply(
        self, ops: Sequence[Op], cached: Verdict | None, now: datetime, lock: Callable[[], AbstractContextManager[Connection]]
    ) -> list[Outcome]:
        out: list[Outcome | None] = [None] * len(ops)
        entries: list[audit.Entry] = []
        with lock() as c:
            verdict = self.verdicts.current(c, cached, now)
            for kind in seats.KINDS:
                idx = [i for i, o in enumerate(ops) if o.kind == kind]
                if idx:
                    for i, o in zip(idx, self._kind(c, kind, [ops[i] for i in idx], verdict, now, entries), strict=True):
                        out[i] = o
            audit.append(c, now, entries)
            self.observe(c, now)
        return [o for o in out if o is not None]

    def _kind(self, c: Connection, kind: str, ops: list[Op], verdict: Verdict, now: datetime, entries: list[audit.Entry]) -> list[Outcome]:
        """Load, decide and store the requests of one kind; a join short of room sweeps silent seats first."""
        reqs = [seats.Request(o.op, o.id, o.secret, o.admin) for o in ops]
        d = seats.decide(kind, reqs, verdict, *self._load(c, kind, ops, verdict, now), now, self.ttl)
        if d.short:
            spare = {*d.freed, *(r.id for r, o in zip(reqs, d.outcomes, strict=True) if o.status == "alive")}
            if store.sweep(c, kind, now, self.ttl, spare):
                d = seats.decide(kind, reqs, verdict, *self._load(c, kind, ops, verdict, now), now, self.ttl)
        keys = {rid: secrets.token_urlsafe(32) for rid in (*d.seated, *d.rekeyed)}
        addr = {o.id: o.address for o in ops if o.op == "join"}
        if d.freed:
            store.free(c, kind, d.freed)
        if d.touched:
            store.touch(c, kind, d.touched, now)
        if d.seated:
            store.seat(c, kind, [(a, addr.get(a, ""), seats.digest(keys[a])) for a in d.seated], now)
        if d.rekeyed:
            store.rekey(c, kind, [(r, addr.get(r, ""), seats.digest(keys[r])) for r in d.rekeyed], now)
        if d.peak is not None:
            store.record_peak(c, kind, d.peak, now, self.peaks)
        self._note_refusals(c, kind, reqs, d, verdict, now)
        entries.extend(audit.Entry(*e) for e in d.events)
        # (Outcome(...) rather than dataclasses.replace: a storm makes thousands, and replace costs twice as much)
        return [
            Outcome(o.ok, o.code, o.hint, o.status, o.http_status, keys[r.id]) if o.status == "admitted" else o
            for r, o in zip(reqs, d.outcomes, strict=True)
        ]

    @staticmethod
    def _note_refusals(c: Connection, kind: str, reqs: list[seats.Request], d: seats.Decision, verdict: Verdict, now: datetime) -> None:
        """The Seats page's bookkeeping (``refusals``): at most one statement for the seats given, one for the joins refused."""
        if d.seated or d.rekeyed:
            refusals.forget(c, kind, (*d.seated, *d.rekeyed))
        refused = [(r.id, o.code) for r, o in zip(reqs, d.outcomes, strict=True) if o.status == "refused" and r.op == "join"]
        if refused:
            refusals.record(c, kind, refused, seats.limit(verdict, kind), now)

    @staticmethod
    def _load(c: Connection, kind: str, ops: list[Op], verdict: Verdict, now: datetime) -> tuple[dict[str, seats.Holder], int]:
        """What ``decide`` reads: the holders of the ids asked for, and the seats held (only joins a license admits need the count,
        one row of ``seat_counts``, and the holders' last heard-from times)."""
        if verdict.keeps_seats and any(o.op == "join" for o in ops):
            return store.holders(c, kind, dict.fromkeys(o.id for o in ops)), store.count(c, kind, now)
        ids = dict.fromkeys(o.id for o in ops if o.op != "join")
        return (store.secret_holders(c, kind, ids) if ids else {}), 0

    def sweep(self) -> int:
        """Free every seat whose holder went silent; returns how many.  Also a reading for the trusted-time mark, and every
        ``COUNT_CHECK_EVERY`` seconds the check of the seat counts."""
        now = self.clock()
        with self.store.locked() as c:
            self.observe(c, now)
            if self.counts_checked is None or time.monotonic() - self.counts_checked >= COUNT_CHECK_EVERY:
                self._check_counts(c, now)
            return sum(len(store.sweep(c, k, now, self.ttl)) for k in seats.KINDS)

    def check_counts(self) -> dict[str, tuple[int | None, int]]:
        """Compare the seat counts with the seats held and repair any that drifted (audited); the repaired kinds."""
        now = self.clock()
        with self.store.locked() as c:
            return self._check_counts(c, now)

    def _check_counts(self, c: Connection, now: datetime) -> dict[str, tuple[int | None, int]]:
        wrong = store.check_counts(c, now)
        refusals.prune(c, now)
        self.counts_checked = time.monotonic()
        return wrong

    def listing(self, kind: str) -> list[dict[str, Any]]:
        """The seats of ``kind``, longest-held first."""
        return self.page(kind, 0, None)[0]

    def page(self, kind: str, offset: int, size: int | None) -> tuple[list[dict[str, Any]], int]:
        """``size`` seats of ``kind`` from ``offset`` on (None: all), longest-held first, and how many are held in all."""
        now = self.clock()
        q = select(s.seats).where(s.seats.c.kind == kind).order_by(s.seats.c.joined_at, s.seats.c.seat_id)
        if size is not None:
            q = q.limit(size).offset(offset)
        with self.store.tx() as c:
            items = [
                {
                    "id": r.seat_id,
                    "joined_at": fmt_time(r.joined_at),
                    "last_seen": fmt_time(r.last_seen),
                    "address": r.address,
                    "alive": now - r.last_seen <= self.ttl,
                }
                for r in c.execute(q)
            ]
            total = len(items) if size is None else store.counted(c, kind)
        return items, total

    def used(self, verdict: Verdict) -> dict[str, int]:
        """Seats in use per kind: 0 when the license keeps no seats."""
        if not verdict.keeps_seats:
            return dict.fromkeys(seats.KINDS, 0)
        cutoff = self.clock() - self.ttl
        q = select(func.count()).select_from(s.seats)
        with self.store.tx() as c:
            return {k: int(c.execute(q.where(s.seats.c.kind == k, s.seats.c.last_seen >= cutoff)).scalar_one()) for k in seats.KINDS}
