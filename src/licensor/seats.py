"""Seat arithmetic: who is admitted, who keeps a seat, who is evicted.

Pure functions, ``now`` passed in, no I/O.  The controller calls them inside
one serialising database transaction, so the numbers they see are the whole
truth for that moment; they only decide.

A seat is held by a node (or a remote cluster) that joined and has sent a
heartbeat within the TTL.  A node that rejoins with its id keeps its one seat.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["Admission", "Seat", "admit", "expired", "over_limit", "refusal_hint"]


@dataclass(frozen=True)
class Seat:
    """A seat held by ``id`` since ``joined_at``, last heard from at ``last_seen``."""

    id: str
    joined_at: datetime
    last_seen: datetime


@dataclass(frozen=True)
class Admission:
    """The outcome of a batch of join requests, in the order asked."""

    admitted: tuple[str, ...] = ()  # new seats given
    rejoined: tuple[str, ...] = ()  # already seated: kept their one seat
    refused: tuple[str, ...] = ()  # no seat left
    used: int = 0  # seats held after the batch
    limit: int = 0
    outcome: dict[str, str] = field(default_factory=dict)  # id -> "admitted" | "rejoined" | "refused"


def expired(seats: Iterable[Seat], now: datetime, ttl: timedelta) -> list[Seat]:
    """Seats whose holder has been silent for longer than ``ttl``."""
    return [s for s in seats if now - s.last_seen > ttl]


def admit(requests: Sequence[str], seated: Iterable[str], used: int, limit: int) -> Admission:
    """Decide a batch of join requests against ``limit``.

    ``seated`` are the ids (among or beyond ``requests``) that hold a live seat
    now and ``used`` how many live seats are held in all.  Requests are served
    first come, first served; a repeated id in one batch counts once.
    """
    if used < 0 or limit < 0:
        raise ValueError("used and limit cannot be negative")
    held = set(seated)
    admitted: list[str] = []
    rejoined: list[str] = []
    refused: list[str] = []
    outcome: dict[str, str] = {}
    for rid in requests:
        if rid in outcome:
            continue
        if rid in held:
            rejoined.append(rid)
            outcome[rid] = "rejoined"
        elif used < limit:
            admitted.append(rid)
            held.add(rid)
            used += 1
            outcome[rid] = "admitted"
        else:
            refused.append(rid)
            outcome[rid] = "refused"
    return Admission(tuple(admitted), tuple(rejoined), tuple(refused), used, limit, outcome)


def over_limit(seats: Iterable[Seat], limit: int) -> tuple[list[Seat], list[Seat]]:
    """``(keep, evict)`` for a lowered limit: the longest-connected seats stay."""
    ordered = sorted(seats, key=lambda s: (s.joined_at, s.id))
    limit = max(0, limit)
    return ordered[:limit], ordered[limit:]


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
