"""Seat arithmetic: who is admitted, who keeps a seat, who is evicted; ``decide`` answers a whole batch.

Pure functions, ``now`` passed in, no I/O.  The controller calls them inside one serialising database
transaction, so the numbers they see are the whole truth for that moment; they only decide.

A seat is held by a node (or a remote cluster) that joined and has sent a heartbeat within the TTL.  A seat
belongs to whoever holds its *secret*: a random value the controller hands out once, when it gives the seat, and
keeps only the SHA-256 of.  Heartbeats and leaves must present it, so another holder of the join token cannot
keep, free or take over a seat that is not its own.  A join with the id of a live seat is the same holder again
(it keeps its one seat) only if it presents the secret; otherwise the seat is taken until its holder goes silent
for the TTL.  A seat given before seats had secrets (no hash stored) goes to the first join of its id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .policy import Verdict
from .words import plural, sentence

__all__ = [
    "KINDS",
    "Admission",
    "Decision",
    "Holder",
    "Outcome",
    "Request",
    "Seat",
    "admit",
    "check",
    "decide",
    "digest",
    "limit",
    "over_limit",
    "presents",
    "refusal_hint",
    "secret_refusal",
    "taken_refusal",
]

#: A presented secret longer than this is wrong without being hashed (ours are 43 characters).
MAX_SECRET = 200


@dataclass(frozen=True)
class Seat:
    """A seat held by ``id`` since ``joined_at``, last heard from at ``last_seen``."""

    id: str
    joined_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Holder:
    """A held seat: its secret's hash (None: given before secrets), when last heard from (None: not read; counts as live)."""

    secret_hash: str | None
    last_seen: datetime | None


@dataclass(frozen=True)
class Admission:
    """The outcome of a batch of join requests.

    ``outcomes`` has one entry per request, in the order asked: ``admitted`` (a new seat), ``reclaimed`` (the seat
    of a silent or secretless holder, given to this request), ``rejoined`` (the holder again, with its secret),
    ``taken`` (a live seat held by someone else) or ``refused`` (no seat left).  The other tuples name ids.
    """

    admitted: tuple[str, ...] = ()  # new seats given
    rejoined: tuple[str, ...] = ()  # already seated, secret presented: kept their one seat
    refused: tuple[str, ...] = ()  # no seat left
    used: int = 0  # seats held after the batch
    limit: int = 0
    outcome: dict[str, str] = field(default_factory=dict)  # id -> the outcome of its first request
    reclaimed: tuple[str, ...] = ()  # held seats given to a new holder
    taken: tuple[str, ...] = ()  # refused: the seat is someone else's
    outcomes: tuple[str, ...] = ()  # one per request, in order


def digest(secret: str) -> str:
    """What is stored of a seat secret.  A plain SHA-256 suffices: the secret is random, not a password."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def presents(secret_hash: str | None, secret: str) -> bool:
    """Does ``secret`` belong to the seat whose secret hashes to ``secret_hash``?  Compared in constant time."""
    if secret_hash is None or not secret or len(secret) > MAX_SECRET:
        return False
    return hmac.compare_digest(secret_hash, digest(secret))


def check(held: bool, secret_hash: str | None, secret: str, *, admin: bool = False) -> str:
    """A heartbeat or leave for a seat: ``held`` (go ahead), ``not_joined`` (no such seat) or ``seat_secret`` (not yours).

    ``held`` says whether the seat exists and ``secret_hash`` is its stored hash.
    An admin may free any seat (``admin`` for a leave only): that is how a seat
    whose holder lost its secret is freed before the TTL.
    """
    if not held:
        return "not_joined"
    return "held" if admin or presents(secret_hash, secret) else "seat_secret"


def admit(
    requests: Sequence[tuple[str, str]], holders: Mapping[str, Holder], used: int, limit: int, now: datetime, ttl: timedelta
) -> Admission:
    """Decide a batch of join requests, each ``(id, presented secret or "")``, against ``limit``.

    ``holders`` are the stored seats of (at least) the requested ids and ``used``
    how many seats are held in all.  Requests are served first come, first
    served.  A seat given in this batch is live and its secret is not known to
    anyone yet, so a second request for the same id in the batch finds it taken.
    """
    if used < 0 or limit < 0:
        raise ValueError("used and limit cannot be negative")
    fresh = Holder("", now)  # a seat given in this batch: no presented secret matches the empty hash
    seen: dict[str, Holder] = dict(holders)
    by: dict[str, list[str]] = {k: [] for k in ("admitted", "reclaimed", "rejoined", "taken", "refused")}
    outcomes: list[str] = []
    outcome: dict[str, str] = {}
    for rid, secret in requests:
        h = seen.get(rid)
        if h is None:
            if used < limit:
                what = "admitted"
                used += 1
                seen[rid] = fresh
            else:
                what = "refused"
        elif presents(h.secret_hash, secret):
            what = "rejoined"
        elif h.secret_hash is None or (h.last_seen is not None and now - h.last_seen > ttl):
            what = "reclaimed"
            seen[rid] = fresh
        else:
            what = "taken"
        outcomes.append(what)
        outcome.setdefault(rid, what)
        by[what].append(rid)
    ids = {k: tuple(dict.fromkeys(v)) for k, v in by.items()}  # a repeated id is named once
    return Admission(
        ids["admitted"], ids["rejoined"], ids["refused"], used, limit, outcome, ids["reclaimed"], ids["taken"], tuple(outcomes)
    )


def over_limit(seats: Iterable[Seat], limit: int) -> tuple[list[Seat], list[Seat]]:
    """``(keep, evict)`` for a lowered limit: the longest-connected seats stay."""
    ordered = sorted(seats, key=lambda s: (s.joined_at, s.id))
    limit = max(0, limit)
    return ordered[:limit], ordered[limit:]


def _noun(kind: str) -> str:
    return "node" if kind == "node" else "remote cluster"


def refusal_hint(kind: str, limit: int) -> tuple[str, str]:
    """``(code, hint)`` for a join refused because every seat is taken."""
    if limit == 0 and kind == "cluster":
        return (
            "clusters_not_licensed",
            "This license allows no remote clusters: ask your vendor for a license with remote clusters, then activate it",
        )
    every, are = ("The", "is") if limit == 1 else ("All", "are")
    return "limit_reached", (
        f"{every} {plural(limit, _noun(kind))} allowed by the license {are} in use: stop one (or wait for a silent one "
        f"to time out), or ask your vendor for a license with more {_noun(kind)}s"
    )


def taken_refusal(kind: str, seat_id: str, ttl: timedelta) -> tuple[str, str]:
    """``(code, hint)`` for a join with the id of a live seat that did not present the seat's secret."""
    return (
        "seat_taken",
        f"{sentence(_noun(kind))} id {seat_id} holds a seat that another agent joined with: give this {_noun(kind)} its own id; "
        f"if it is the same {_noun(kind)} restarted without its seat secret, the seat frees itself "
        f"{int(ttl.total_seconds())} s after its last heartbeat, or an admin can release it now",
    )


def secret_refusal(kind: str, seat_id: str, legacy: bool = False) -> tuple[str, str]:
    """``(code, hint)`` for a heartbeat or leave that did not present the seat's secret (``legacy``: the seat has none)."""
    if legacy:
        hint = f"The seat of {_noun(kind)} {seat_id} was given before seats had secrets: join again to get one "
        return "seat_secret", hint + "(send the seat secret of the join's answer in X-Seat-Secret with every heartbeat and leave)"
    return (
        "seat_secret",
        f"This is not the secret of {_noun(kind)} {seat_id}'s seat: send the seat_secret its join answered in the X-Seat-Secret header; "
        "an agent that lost it joins again once the seat times out, or an admin releases the seat",
    )


KINDS = ("node", "cluster")
#: The HTTP status of a refused request, by code; any other refusal (a verdict, the limit) is 422.
REFUSAL_STATUS = {"not_joined": 409, "seat_taken": 409, "seat_secret": 403}


@dataclass(frozen=True)
class Request:
    """One seat request of a batch: ``op`` is ``join``, ``heartbeat`` or ``leave``; ``secret`` the one presented."""

    op: str
    id: str
    secret: str = field(default="", repr=False)
    admin: bool = False  # an admin's leave frees the seat without its secret


@dataclass(frozen=True)
class Outcome:
    """What happens to one request: ``ok``, a stable ``code``, a ``hint`` for people, a ``status`` and its HTTP status.

    ``status``: admitted | rejoined | alive | left | refused | released | not_joined.  ``secret``: a new seat's
    secret, made by the server and handed to its holder once.
    """

    ok: bool
    code: str
    hint: str
    status: str = ""
    http_status: int = 200
    secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class Decision:
    """A batch decided: one outcome per request, what to store, and what to audit.

    ``freed`` seats go (leaves, and heartbeats under a license that keeps no seats), ``touched`` holders were heard
    from, ``seated`` ids get a new seat and ``rekeyed`` ids a held seat with a new secret.  ``peak`` is the seats
    held after the joins (None: no joins).  ``short``: the joins want more seats than are free, so silent seats are
    worth sweeping first.  ``events`` are audit entries: (event, subject, code, detail).
    """

    outcomes: tuple[Outcome, ...]
    freed: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()
    seated: tuple[str, ...] = ()
    rekeyed: tuple[str, ...] = ()
    peak: int | None = None
    short: bool = False
    events: tuple[tuple[str, str, str, str], ...] = ()


def limit(verdict: Verdict, kind: str) -> int:
    """The seats of ``kind`` the license in force allows: none unless it keeps seats."""
    lic = verdict.license
    if lic is None or not verdict.keeps_seats:
        return 0
    return lic.nodes if kind == "node" else lic.remote_clusters


def _refused(code: str, hint: str, status: str = "refused") -> Outcome:
    return Outcome(False, code, hint, status, REFUSAL_STATUS.get(code, 422))


class _Batch:
    """The running state of one batch: the seats as they are after each step, and what was decided."""

    def __init__(self, kind: str, reqs: Sequence[Request], holders: Mapping[str, Holder], used: int) -> None:
        self.kind, self.noun, self.reqs = kind, _noun(kind), reqs
        self.holders, self.used = dict(holders), used
        self.out: list[Outcome | None] = [None] * len(reqs)
        self.freed: list[str] = []
        self.touched: list[str] = []
        self.events: list[tuple[str, str, str, str]] = []

    def where(self, op: str) -> list[int]:
        return [i for i, r in enumerate(self.reqs) if r.op == op]

    def free(self, ids: Iterable[str]) -> None:
        for i in ids:
            if self.holders.pop(i, None) is not None:
                self.used -= 1
                self.freed.append(i)

    def no_secret(self, i: int) -> Outcome:
        r = self.reqs[i]
        legacy = r.id in self.holders and self.holders[r.id].secret_hash is None
        self.events.append(("refused", r.id, "seat_secret", f"{self.noun} {r.op} without the seat's secret"))
        return _refused(*secret_refusal(self.kind, r.id, legacy))

    def checked(self, where: list[int]) -> list[str]:
        """``held``, ``not_joined`` or ``seat_secret`` for each heartbeat or leave at ``where``, as the seats are now."""
        out = []
        for r in (self.reqs[i] for i in where):
            h = self.holders.get(r.id)
            out.append(check(h is not None, None if h is None else h.secret_hash, r.secret, admin=r.admin))
        return out


def _leaves(b: _Batch) -> None:
    """Free the seats whose leave presents their secret (or comes from an admin)."""
    where = b.where("leave")
    decided = b.checked(where)
    go = {b.reqs[i].id for i, d in zip(where, decided, strict=True) if d == "held"}
    for i, d in zip(where, decided, strict=True):
        r, noun = b.reqs[i], b.noun
        if d == "seat_secret":
            b.out[i] = b.no_secret(i)
        elif d == "held" and r.id in go:
            go.discard(r.id)
            if r.admin:
                b.out[i] = Outcome(True, "left", f"{sentence(noun)} {r.id}'s seat was released by an admin; it is free", "left")
                b.events.append(("released", r.id, "admin", f"{noun} released by an admin"))
            else:
                b.out[i] = Outcome(True, "left", f"{sentence(noun)} {r.id} left; its seat is free", "left")
                b.events.append(("left", r.id, "", noun))
        else:
            b.out[i] = Outcome(True, "not_joined", f"{sentence(noun)} {r.id} held no seat", "not_joined")
    b.free(b.reqs[i].id for i in where if (o := b.out[i]) is not None and o.status == "left")


def _heartbeats(b: _Batch, verdict: Verdict) -> None:
    """Keep (or, when the license keeps none, release) the seats whose heartbeat presents their secret."""
    where = b.where("heartbeat")
    decided = b.checked(where)
    mine = list(dict.fromkeys(b.reqs[i].id for i, d in zip(where, decided, strict=True) if d == "held"))
    outs = []
    for i, d in zip(where, decided, strict=True):
        r = b.reqs[i]
        if d == "seat_secret":
            outs.append((i, b.no_secret(i)))
        elif not verdict.keeps_seats:
            outs.append((i, _refused(verdict.code, verdict.hint, "released" if r.id in mine else "refused")))
        elif d == "held":
            outs.append((i, Outcome(True, verdict.code, verdict.hint, "alive")))
        else:
            hint = f"{sentence(b.noun)} {r.id} holds no seat (it left, timed out or was evicted): join again"
            outs.append((i, _refused("not_joined", hint, "not_joined")))
    for i, o in outs:
        b.out[i] = o
    if not verdict.keeps_seats:
        b.events.extend(("released", m, verdict.code, verdict.hint) for m in mine)
        b.free(mine)
    else:
        b.touched.extend(mine)


def decide(
    kind: str, requests: Sequence[Request], verdict: Verdict, holders: Mapping[str, Holder], used: int, now: datetime, ttl: timedelta
) -> Decision:
    """Decide a batch of seat requests of one ``kind`` under ``verdict``: leaves first, then heartbeats, then joins.

    ``holders`` are the stored seats of (at least) every requested id and ``used`` how many seats of ``kind`` are
    held in all.  Joins are refused with the verdict's code and hint when the license keeps no seats; in grace only
    a holder with its secret (or a silent seat's new holder) keeps a seat and nobody new joins; under a valid
    license new ids are admitted up to the kind's limit (``limit_reached``; ``clusters_not_licensed`` at 0).
    """
    if kind not in KINDS:
        raise ValueError(f"a seat is of kind node or cluster, not {kind!r}")
    b = _Batch(kind, requests, holders, used)
    _leaves(b)
    _heartbeats(b, verdict)
    joins = b.where("join")
    seated: tuple[str, ...] = ()
    rekeyed: tuple[str, ...] = ()
    peak: int | None = None
    short = False
    if joins and not verdict.keeps_seats:
        for i in joins:
            b.out[i] = _refused(verdict.code, verdict.hint)
            b.events.append(("refused", requests[i].id, verdict.code, b.noun))
        peak = 0
    elif joins:
        cap = limit(verdict, kind) if verdict.valid else b.used
        short = verdict.valid and b.used + len({requests[i].id for i in joins} - b.holders.keys()) > cap
        a = admit([(requests[i].id, requests[i].secret) for i in joins], b.holders, b.used, cap, now, ttl)
        _join_outcomes(b, joins, a, verdict, ttl)
        seated, rekeyed, peak = a.admitted, a.reclaimed, a.used
        b.touched.extend(a.rejoined)
    outcomes = tuple(o for o in b.out if o is not None)
    return Decision(outcomes, tuple(b.freed), tuple(b.touched), seated, rekeyed, peak, short, tuple(b.events))


def _join_outcomes(b: _Batch, joins: list[int], a: Admission, verdict: Verdict, ttl: timedelta) -> None:
    """Answer each join of an admission: under grace with the verdict's code and hint, else with the seat count or the limit."""
    grace = None if verdict.valid else (verdict.code, verdict.hint)
    full = grace or refusal_hint(b.kind, a.limit)
    for i, what in zip(joins, a.outcomes, strict=True):
        rid = b.reqs[i].id
        if what == "refused":
            b.out[i] = _refused(*full)
            b.events.append(("refused", rid, full[0], b.noun))
        elif what == "taken":
            code, hint = taken_refusal(b.kind, rid, ttl)
            b.out[i] = _refused(code, hint)
            b.events.append(("refused", rid, code, b.noun))
        else:
            code, hint = grace or ("valid", f"{b.noun} {rid} holds a seat ({a.used}/{a.limit} in use)")
            b.out[i] = Outcome(True, code, hint, "rejoined" if what == "rejoined" else "admitted")
    b.events.extend(("joined", rid, "", b.noun) for rid in a.admitted)
    b.events.extend(
        ("joined", rid, "seat_reclaimed", f"{b.noun}: took over a seat whose holder was silent or had no secret") for rid in a.reclaimed
    )
