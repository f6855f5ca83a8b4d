"""What a successor license changes against the one in force, term by term: grows, shrinks or changes.

``changes(current, candidate)`` is the one comparison: the controller's activation preview
(``policy.evaluate_activation``) and the issuer's renewal preview (the live license against the
terms about to be signed) both call it.  Either side is anything with a license's terms (a ``License``,
or the ``Terms`` that ``terms.license_terms`` decided).  Pure: nothing is read or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .terms import Current

__all__ = ["TERMS", "Change", "changes", "losses"]

#: The terms compared, in the order they are shown.
TERMS = ("nodes", "remote_clusters", "features", "type", "expires", "maintenance_until")


@dataclass(frozen=True)
class Change:
    """One term that differs between the key in force and a candidate: ``grows``, ``shrinks`` or ``changes``."""

    term: str  # nodes | remote_clusters | features | type | expires | maintenance_until
    before: Any
    after: Any
    direction: str


def _direction(before: Any, after: Any) -> str:
    if isinstance(before, frozenset):  # "changes": some features added, some dropped
        return "grows" if before < after else "shrinks" if after < before else "changes"
    return "grows" if after > before else "shrinks"


def changes(current: Current, candidate: Current) -> tuple[Change, ...]:
    """Every term of ``TERMS`` that differs; no expiry (perpetual) counts as the latest end there is."""
    end = datetime.max.replace(tzinfo=UTC)  # perpetual: no end
    out = []
    for term in TERMS:
        before, after = getattr(current, term), getattr(candidate, term)
        if term == "features":
            before, after = frozenset(before), frozenset(after)
        if before == after:
            continue
        if term == "type":
            out.append(Change(term, before, after, "changes"))
        elif term == "features":
            out.append(Change(term, sorted(before), sorted(after), _direction(before, after)))
        else:
            out.append(Change(term, before, after, _direction(end if before is None else before, end if after is None else after)))
    return tuple(out)


def losses(found: tuple[Change, ...]) -> tuple[Change, ...]:
    """What the candidate takes away: a lower limit, a dropped feature, a shorter term, an earlier maintenance end."""
    return tuple(c for c in found if c.direction == "shrinks" or (c.term, c.direction) == ("features", "changes"))
