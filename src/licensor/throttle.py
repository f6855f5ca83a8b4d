"""Login throttling, decided: may this sign-in attempt run, and if not, until when must it wait?

One limit for every way in (console sign-in, HTTP Basic, ``POST /api/v1/login``),
counted per user name and per client address over a sliding window::

    decide(policy, history, now) -> Decision

``history`` is what the database holds about this user name and address (the
services load it; see ``licensor.server.logins``).  The rules:

- An address with ``address_limit`` failures within ``window`` waits until the
  oldest of those leaves the window, whatever user names it tries.
- A user name with ``user_limit`` failures within ``window`` since its last
  success waits the same way, whichever address the guesses come from, and
  whether or not that user exists (the answer must not tell).
- A success resets the user name's count.
- An address that signed in as this user within ``remember`` (a *known*
  address) is held by the user limit only for the failures made from that
  address: an attacker elsewhere can keep a user name locked for strangers, but
  cannot lock its owner out of the places the owner signs in from.

Blocked attempts are not counted (the lock would otherwise never end while an
attacker keeps knocking) and must not run the password hash at all.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .words import plural

__all__ = ["Decision", "LoginHistory", "LoginPolicy", "address_key", "decide", "user_key"]


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures lock, over which window; how long an address stays known after a success."""

    user_limit: int = 5
    address_limit: int = 20
    window: timedelta = timedelta(minutes=15)
    remember: timedelta = timedelta(days=30)

    def __post_init__(self) -> None:
        if self.user_limit < 1 or self.address_limit < 1:
            raise ValueError("login limits must be at least 1")
        if self.window <= timedelta(0) or self.remember < timedelta(0):
            raise ValueError("the login window must be positive")


@dataclass(frozen=True)
class LoginHistory:
    """What is known about one user name and one address at the time of an attempt.

    ``user_failures``: failures of the user name within the window, after its last success.
    ``address_failures``: failures from the address within the window, any user name.
    ``known_since``: the last success of this user name from this address within ``remember`` (None: a stranger).
    ``pair_failures``: those of ``user_failures`` made from this address.
    """

    user_failures: Sequence[datetime] = ()
    address_failures: Sequence[datetime] = ()
    known_since: datetime | None = None
    pair_failures: Sequence[datetime] = ()


@dataclass(frozen=True)
class Decision:
    """``allowed``; else ``reason`` (``user`` or ``address``) and ``until`` when the next attempt may run."""

    allowed: bool
    reason: str = ""
    until: datetime | None = None
    retry_after: int = 0  # whole seconds, at least 1 when blocked

    @property
    def hint(self) -> str:
        if self.allowed or self.until is None:
            return ""
        # Neutral on purpose: it says the same for user names that exist and those that do not.
        who = "for this user name" if self.reason == "user" else "from this address"
        return (
            f"Too many failed sign-ins {who}: try again in {_words(self.retry_after)} "
            f"(after {self.until.strftime('%H:%M:%S')} UTC), or use an API token"
        )


def _words(seconds: int) -> str:
    if seconds < 120:
        return plural(seconds, "second")
    return plural(math.ceil(seconds / 60), "minute")


def _until(failures: Sequence[datetime], limit: int, policy: LoginPolicy, now: datetime) -> datetime | None:
    """When the count of failures in the window drops below ``limit`` (None: it already is)."""
    recent = sorted(t for t in failures if now - policy.window < t)
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + policy.window


def decide(policy: LoginPolicy, history: LoginHistory, now: datetime) -> Decision:
    """May an attempt run at ``now``?"""
    blocks: list[tuple[datetime, str]] = []
    at = _until(history.address_failures, policy.address_limit, policy, now)
    if at is not None:
        blocks.append((at, "address"))
    known = history.known_since is not None and now - history.known_since <= policy.remember
    at = _until(history.pair_failures if known else history.user_failures, policy.user_limit, policy, now)
    if at is not None:
        blocks.append((at, "user"))
    if not blocks:
        return Decision(True)
    until, reason = max(blocks)
    return Decision(False, reason, until, max(1, math.ceil((until - now).total_seconds())))


def user_key(name: str) -> str:
    """The user name as counted: case and surrounding space do not make a new name."""
    return name.strip().casefold()[:200]


def address_key(host: str) -> str:
    """The client address as counted: an IPv6 client is counted by its /64, which one holder can fill at will."""
    try:
        ip = ipaddress.ip_address(host.strip().split("%", 1)[0])
    except ValueError:
        return host.strip()[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)
