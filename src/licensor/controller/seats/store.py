"""Seat bookkeeping in the database; the decisions come from ``licensor.seats``.

Every function here runs inside ``Store.locked()`` so that what it counts is
what it commits.  The seats held per kind are kept in ``seat_counts``: every
function that inserts or deletes seats updates them in the same transaction, so
admission reads one row (``count``) instead of counting the seats, and the cost of
a batch stays flat with the seats held.  ``check_counts`` compares them with the
seats and repairs a drift (a hand edit of the database), audited.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection

from ... import seats
from ...server.db import insert_rows
from ...words import plural
from .. import audit
from .. import store as s

NOUN = {"node": "node", "cluster": "remote cluster"}


# The statements of every seat batch, built once: building a SQLAlchemy expression costs
# more than running it on SQLite, and a batch runs several.
_AMONG = and_(s.seats.c.kind == bindparam("b_kind"), s.seats.c.seat_id.in_(bindparam("b_ids", expanding=True)))
_HOLDERS = select(s.seats.c.seat_id, s.seats.c.secret_hash, s.seats.c.last_seen).where(_AMONG)
_SECRETS = select(s.seats.c.seat_id, s.seats.c.secret_hash).where(_AMONG)
_COUNT = select(func.count()).select_from(s.seats).where(s.seats.c.kind == bindparam("b_kind"))
_HELD = select(s.seat_counts.c.held).where(s.seat_counts.c.kind == bindparam("b_kind"))
_BUMP = update(s.seat_counts).where(s.seat_counts.c.kind == bindparam("b_kind")).values(held=s.seat_counts.c.held + bindparam("b_by"))
_USAGE = and_(s.usage.c.month == bindparam("b_month"), s.usage.c.kind == bindparam("b_kind"))
_RAISE_PEAK = (
    update(s.usage).where(_USAGE, s.usage.c.peak < bindparam("b_used")).values(peak=bindparam("b_used"), updated_at=bindparam("b_now"))
)
_PEAK = select(s.usage.c.peak).where(_USAGE)
_TOUCH = update(s.seats).where(_AMONG).values(last_seen=bindparam("b_now"))
_REKEY = (
    update(s.seats)
    .where(s.seats.c.kind == bindparam("b_kind"), s.seats.c.seat_id == bindparam("b_id"))
    .values(secret_hash=bindparam("b_hash"), last_seen=bindparam("b_now"), address=bindparam("b_address"))
)
_FREE = delete(s.seats).where(_AMONG)


def holders(c: Connection, kind: str, ids: Iterable[str]) -> dict[str, seats.Holder]:
    """The stored seats (secret hash, last heard from) of those of ``ids`` that hold one: the same one query as ``held``."""
    return {r.seat_id: seats.Holder(r.secret_hash, r.last_seen) for r in c.execute(_HOLDERS, {"b_kind": kind, "b_ids": list(ids)})}


def secret_holders(c: Connection, kind: str, ids: Iterable[str]) -> dict[str, seats.Holder]:
    """``holders`` without the time they were last heard from (reading a time column costs a parse per row): for heartbeats and leaves."""
    return {r.seat_id: seats.Holder(r.secret_hash, None) for r in c.execute(_SECRETS, {"b_kind": kind, "b_ids": list(ids)})}


def touch(c: Connection, kind: str, ids: Iterable[str], now: datetime) -> None:
    """The holders ``ids`` were heard from at ``now``."""
    c.execute(_TOUCH, {"b_kind": kind, "b_ids": list(ids), "b_now": now})


def _bump(c: Connection, kind: str, by: int) -> None:
    """The seats of ``kind`` held changed by ``by``.  A missing row stays missing: ``count`` restores it, audited."""
    if by:
        c.execute(_BUMP, {"b_kind": kind, "b_by": by})


def free(c: Connection, kind: str, ids: Iterable[str]) -> None:
    """Take the seats of ``ids`` away."""
    _bump(c, kind, -c.execute(_FREE, {"b_kind": kind, "b_ids": list(ids)}).rowcount)


def seat(c: Connection, kind: str, new: Sequence[tuple[str, str, str]], now: datetime) -> None:
    """Give seats of ``kind`` to ``new`` (id, address, secret hash) triples."""
    insert_rows(
        c,
        s.seats,
        [{"seat_id": i, "address": a[:200], "secret_hash": h} for i, a, h in new],
        {"kind": kind, "joined_at": now, "last_seen": now},
    )
    _bump(c, kind, len(new))  # an insert that fails (a duplicate id) raises and rolls the whole transaction back


def rekey(c: Connection, kind: str, taken: Sequence[tuple[str, str, str]], now: datetime) -> None:
    """Give held seats to new holders: (id, address, secret hash) triples; the seat keeps its place (joined_at)."""
    c.execute(_REKEY, [{"b_kind": kind, "b_id": i, "b_address": a[:200], "b_hash": h, "b_now": now} for i, a, h in taken])


def rows(c: Connection, kind: str) -> list[seats.Seat]:
    q = select(s.seats.c.seat_id, s.seats.c.joined_at, s.seats.c.last_seen).where(s.seats.c.kind == kind)
    return [seats.Seat(r.seat_id, r.joined_at, r.last_seen) for r in c.execute(q)]


def count(c: Connection, kind: str, now: datetime) -> int:
    """The seats of ``kind`` held, from ``seat_counts``; a missing or negative count is repaired from the seats (audited)."""
    held = c.execute(_HELD, {"b_kind": kind}).scalar_one_or_none()
    if held is None or held < 0:
        return _repair(c, kind, held, counted(c, kind), now)
    return int(held)


def counted(c: Connection, kind: str) -> int:
    """The seats of ``kind`` held, counted row by row: what ``seat_counts`` must agree with."""
    return int(c.execute(_COUNT, {"b_kind": kind}).scalar_one())


def _repair(c: Connection, kind: str, held: int | None, actual: int, now: datetime) -> int:
    """Set the count of ``kind`` to ``actual`` (it said ``held``; None: it was missing), audited."""
    if held is None:
        c.execute(s.seat_counts.insert().values(kind=kind, held=actual))
    else:
        c.execute(update(s.seat_counts).where(s.seat_counts.c.kind == kind).values(held=actual))
    said = "was missing" if held is None else f"said {held}"
    detail = f"the count of {NOUN[kind]} seats {said} but {actual} are held: set to {actual}"
    audit.append(c, now, [audit.Entry("repaired", kind, "seat_count", detail)])
    return actual


def check_counts(c: Connection, now: datetime) -> dict[str, tuple[int | None, int]]:
    """Compare each kind's count with the seats held and repair those that differ (audited).

    Returns the repaired kinds: kind -> (what the count said, None if missing; the seats held).
    """
    said: dict[str, int] = {r[0]: int(r[1]) for r in c.execute(select(s.seat_counts.c.kind, s.seat_counts.c.held))}
    actual: dict[str, int] = {r[0]: int(r[1]) for r in c.execute(select(s.seats.c.kind, func.count()).group_by(s.seats.c.kind))}
    wrong = {k: (said.get(k), int(actual.get(k, 0))) for k in seats.KINDS if said.get(k) != actual.get(k, 0)}
    for k, (held, n) in wrong.items():
        _repair(c, k, held, n, now)
    return wrong


def sweep(c: Connection, kind: str, now: datetime, ttl: timedelta, spare: Collection[str] = ()) -> list[str]:
    """Free the seats of holders silent for longer than ``ttl``, except ``spare`` (heard from in this batch); audited."""
    cutoff = now - ttl
    silent = and_(s.seats.c.kind == kind, s.seats.c.last_seen < cutoff)
    gone = [r.seat_id for r in c.execute(select(s.seats.c.seat_id).where(silent)) if r.seat_id not in spare]
    if gone and spare:
        for i in range(0, len(gone), 500):
            free(c, kind, gone[i : i + 500])
    elif gone:
        _bump(c, kind, -c.execute(delete(s.seats).where(silent)).rowcount)
        audit.append(
            c,
            now,
            [audit.Entry("expired", g, "heartbeat_timeout", f"no heartbeat for over {int(ttl.total_seconds())} s") for g in gone],
        )
    return gone


def enforce_limit(c: Connection, kind: str, limit: int, now: datetime, why: str) -> list[str]:
    """Evict the most recently joined seats over ``limit``; the longest-connected stay.  Audited."""
    if count(c, kind, now) <= limit:
        return []
    _keep, evict = seats.over_limit(rows(c, kind), limit)
    ids = [e.id for e in evict]
    for i in range(0, len(ids), 500):
        free(c, kind, ids[i : i + 500])
    audit.append(
        c,
        now,
        [
            audit.Entry(
                "evicted", i, "limit_lowered", f"{why}: the license now allows {plural(limit, NOUN[kind])}; the longest-connected stay"
            )
            for i in ids
        ],
    )
    return ids


def record_peak(c: Connection, kind: str, used: int, now: datetime, known: dict[tuple[str, str], int] | None = None) -> None:
    """Raise the month's recorded peak to ``used`` if it is higher.

    ``known`` caches peaks this process has read or written: the stored peak is
    never below it (peaks only rise), so a ``used`` at or under it needs no query.
    """
    month = now.astimezone(UTC).strftime("%Y-%m")
    if known is not None and used <= known.get((month, kind), -1):
        return
    key = {"b_month": month, "b_kind": kind}
    # One statement while the peak rises (every batch of a growing fleet); a read only when it did not.
    if c.execute(_RAISE_PEAK, {**key, "b_used": used, "b_now": now}).rowcount:
        stored = used
    else:
        row = c.execute(_PEAK, key).first()
        if row is None:
            c.execute(s.usage.insert().values(month=month, kind=kind, peak=used, updated_at=now))
        stored = used if row is None else max(used, row.peak)
    if known is not None:
        known[(month, kind)] = stored
