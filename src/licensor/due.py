"""Which issued licenses are in a state, or due for renewal within N days: the rule as a window on the expiry.

``terms.license_state`` says where one license stands.  A list filters thousands of them in
the database, so the same rule is written here once more as bounds a query can use (live or
superseded, ``after < expires <= until``, with or without the keys that never expire), and
``Window.admits`` applies those bounds to one license; the tests check that it agrees with
``license_state`` everywhere.  Pure: ``now`` is an argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from .terms import EXPIRING_DAYS, State

__all__ = ["RENEWAL_WINDOWS", "STATES", "Window", "days_left", "due_window", "state_window"]

#: The renewal views the consoles offer: licenses whose expiry falls within the next 30, 60 or 90 days.
RENEWAL_WINDOWS = (30, 60, 90)
#: Every state ``license_state`` answers, in the order a filter lists them.
STATES: tuple[State, ...] = ("current", "expiring soon", "expired", "superseded")


@dataclass(frozen=True)
class Window:
    """Licenses whose key is live (``superseded`` False) or superseded, and whose expiry lies in ``(after, until]``.

    A bound that is None is open; ``never`` admits the keys without expiry (perpetual).  A window
    on superseded keys has no bound on the expiry."""

    superseded: bool
    after: datetime | None = None
    until: datetime | None = None
    never: bool = False

    def admits(self, expires: datetime | None, superseded_by: str | None) -> bool:
        if bool(superseded_by) != self.superseded:
            return False
        if expires is None:
            return self.never
        return (self.after is None or expires > self.after) and (self.until is None or expires <= self.until)


def state_window(state: State, now: datetime, *, soon_days: int = EXPIRING_DAYS) -> Window:
    """The licenses ``terms.license_state`` puts in ``state`` at ``now``."""
    soon = now + timedelta(days=soon_days)
    if state == "superseded":
        return Window(superseded=True, never=True)
    if state == "expired":
        return Window(superseded=False, until=now)
    if state == "expiring soon":
        return Window(superseded=False, after=now, until=soon)
    return Window(superseded=False, after=soon, never=True)


def due_window(days: int, now: datetime) -> Window:
    """Renewals due within ``days``: the live key of an installation whose expiry falls after ``now``, at most ``days`` later.

    Keys without expiry are never due; a superseded key is not the installation's key any more;
    a key already expired is not "due" but lapsed (the ``expired`` state)."""
    return Window(superseded=False, after=now, until=now + timedelta(days=max(0, days)))


def days_left(expires: datetime | None, now: datetime) -> int | None:
    """Whole days from ``now`` to ``expires``, rounded down (negative once expired); None without expiry."""
    if expires is None:
        return None
    return int((expires - now).total_seconds() // 86400)
