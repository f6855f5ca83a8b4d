"""Seat arithmetic: who is admitted, who keeps a seat, who is evicted.

Pure functions, ``now`` passed in, no I/O.  The controller calls them inside
one serialising database transaction, so the numbers they see are the whole
truth for that moment; they only decide.

A seat is held by a node (or a remote cluster) that joined and has sent a
heartbeat within the TTL.  A seat belongs to whoever holds its *secret*: a
random value the controller hands out once, when it gives the seat, and keeps
only the SHA-256 of.  Heartbeats and leaves must present it, so another holder
of the join token cannot keep, free or take over a seat that is not its own.  A
join with the id of a live seat is the same holder again (it keeps its one
seat) only if it presents the secret; otherwise the seat is taken until its
holder goes silent for the TTL.  A seat given before seats had secrets (no hash
stored) goes to the first join of its id.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "Admission",
    "Holder",
    "Seat",
    "admit",
    "check",
    "digest",
    "expired",
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
    """What is stored of a held seat: its secret's hash (None: given before seats had secrets), and when it was last heard from."""

    secret_hash: str | None
    last_seen: datetime


@dataclass(frozen=True)
class Admission:
    """The outcome of a batch of join requests.

    ``outcomes`` has one entry per request, in the order asked: ``admitted`` (a
    new seat), ``reclaimed`` (the seat of a silent or secretless holder, given
    to this request), ``rejoined`` (the holder again, with its secret),
    ``taken`` (a live seat held by someone else) or ``refused`` (no seat left).
    Admitted and reclaimed requests get a new secret; the other tuples name ids.
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


def expired(seats: Iterable[Seat], now: datetime, ttl: timedelta) -> list[Seat]:
    """Seats whose holder has been silent for longer than ``ttl``."""
    return [s for s in seats if now - s.last_seen > ttl]


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
        elif h.secret_hash is None or now - h.last_seen > ttl:
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
            "this license allows no remote clusters: ask your vendor for a license with remote clusters, then activate it",
        )
    things = "nodes" if kind == "node" else "remote clusters"
    return (
        "limit_reached",
        f"all {limit} {things} allowed by the license are in use: stop one (or wait for a silent one to time out), "
        f"or ask your vendor for a license with more {things}",
    )


def taken_refusal(kind: str, seat_id: str, ttl: timedelta) -> tuple[str, str]:
    """``(code, hint)`` for a join with the id of a live seat that did not present the seat's secret."""
    return (
        "seat_taken",
        f"{_noun(kind)} id {seat_id} holds a seat that another agent joined with: give this {_noun(kind)} its own id; "
        f"if it is the same {_noun(kind)} restarted without its seat secret, the seat frees itself "
        f"{int(ttl.total_seconds())} s after its last heartbeat, or an admin can release it now",
    )


def secret_refusal(kind: str, seat_id: str, legacy: bool = False) -> tuple[str, str]:
    """``(code, hint)`` for a heartbeat or leave that did not present the seat's secret (``legacy``: the seat has none)."""
    if legacy:
        return (
            "seat_secret",
            f"the seat of {_noun(kind)} {seat_id} was given before seats had secrets: join again to get one "
            "(send the seat secret of the join's answer in X-Seat-Secret with every heartbeat and leave)",
        )
    return (
        "seat_secret",
        f"this is not the secret of {_noun(kind)} {seat_id}'s seat: send the seat_secret its join answered in the X-Seat-Secret header; "
        "an agent that lost it joins again once the seat times out, or an admin releases the seat",
    )
