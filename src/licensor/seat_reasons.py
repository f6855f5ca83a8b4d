"""Why a join was refused, in words: one sentence per refused node and one per group, from the refusal's code.

Pure, no I/O.  The codes are those ``seats.decide`` answers a refused join with: ``limit_reached`` and
``clusters_not_licensed`` (the limit), ``seat_taken`` (another agent holds the id's seat) and the verdict state
of a license that admits nobody new (``policy.STATES``: ``expired``, ``grace``, ``missing`` …).  ``allowed`` is
the kind's limit when the join was refused.  ``groups`` and ``more_seats`` take refusals counted per kind, code and limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .words import plural

__all__ = ["LIMIT_CODES", "Group", "groups", "more_seats", "noun", "reason", "summary"]

#: The codes of joins refused because every seat the license allows is taken: more seats would admit them.
LIMIT_CODES = frozenset({"limit_reached", "clusters_not_licensed"})

#: The license states that refuse new joins, as the end of "refused because …".
_STATES = {
    "missing": "no license is activated",
    "malformed": "the license key cannot be read",
    "bad_signature": "the license key's signature does not verify",
    "unknown_key": "the license key was signed by a key this controller does not trust",
    "wrong_product": "the license is for another product",
    "wrong_installation": "the license is for another installation",
    "superseded": "the license was replaced by a newer key",
    "clock_rollback": "the clock is set back behind the trusted time",
    "not_yet_valid": "the license is not valid yet",
    "expired": "the license has expired",
    "grace": "the license has expired and its grace period admits no new seats",
}


def noun(kind: str) -> str:
    """``node`` or ``remote cluster``."""
    return "node" if kind == "node" else "remote cluster"


def _because(kind: str, code: str, allowed: int, *, one: bool) -> str:
    """The end of "refused because …" (lower case, no full stop); ``one``: said of a single refusal."""
    if code in LIMIT_CODES:
        if allowed <= 0:
            return f"the license allows no {noun(kind)}s"
        said = f"the license allows {plural(allowed, noun(kind))}"
        return f"{said} and {allowed:,} were in use" if one else said
    if code == "seat_taken":
        return f"another agent holds the seat of this {noun(kind)} id" if one else f"another agent holds the seat of their {noun(kind)} id"
    return _STATES.get(code, f"of a refusal this version does not describe ({code})")


def reason(kind: str, code: str, allowed: int) -> str:
    """One refused join in words, capitalised, without the code: "The license allows 5 nodes and 5 were in use"."""
    words = _because(kind, code, allowed, one=True)
    return words[:1].upper() + words[1:]


def summary(kind: str, code: str, count: int, allowed: int) -> str:
    """A group of refused joins: "3 nodes were refused because the license allows 5 nodes"."""
    return f"{plural(count, noun(kind))} {'was' if count == 1 else 'were'} refused because {_because(kind, code, allowed, one=False)}"


@dataclass(frozen=True)
class Group:
    """The refusals of one kind and code: how many, the limit when the newest was refused, and the sentence."""

    kind: str
    code: str
    count: int
    allowed: int
    words: str


def groups(refused: Iterable[tuple[str, str, int, int]]) -> list[Group]:
    """Group ``(kind, code, allowed, count)`` refusals, newest first: per kind and code, the count summed and the limit of
    the newest; nodes before remote clusters, the largest group first."""
    counts: Counter[tuple[str, str]] = Counter()
    allowed: dict[tuple[str, str], int] = {}
    for kind, code, lim, n in refused:
        counts[(kind, code)] += n
        allowed.setdefault((kind, code), lim)
    order = sorted(counts, key=lambda k: (k[0] != "node", -counts[k], k[1]))
    return [Group(k, c, counts[(k, c)], allowed[(k, c)], summary(k, c, counts[(k, c)], allowed[(k, c)])) for k, c in order]


def more_seats(refused: Iterable[tuple[str, str, int, int]]) -> dict[str, int]:
    """Per kind, the ``(kind, code, allowed, count)`` refusals more seats would have admitted (the limit codes): what to ask for."""
    wanted = dict.fromkeys(("node", "cluster"), 0)
    for kind, code, _, n in refused:
        if code in LIMIT_CODES:
            wanted[kind] = wanted.get(kind, 0) + n
    return wanted
