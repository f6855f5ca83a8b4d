"""Expiry reminders: which licenses are due an e-mail saying their key runs out soon, and what it says.

Pure, ``now`` passed in.  The issuer's reminders service loads the candidates, calls
``plan_reminders``, claims each reminder due (one row per license and expiry, unique in
the database, claimed before the mail goes out), sends it and records the outcome::

    in scope   a live key (not superseded) that expires after ``now`` and at most ``window_days`` ahead;
               a key without expiry (perpetual), an expired one or a superseded one is never in scope
    due        in scope, its customer not opted out, a contact e-mail known, and no reminder for this
               license and this expiry sent or being sent (a failed one is due again: the next sweep retries)
    skipped    in scope but not due, with the reason: opted out, no contact e-mail, already reminded,
               being sent (claimed by a sweep that has not said how it went)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from .due import due_window
from .words import plural

__all__ = [
    "DEFAULT_WINDOW_DAYS",
    "MAX_WINDOW_DAYS",
    "Candidate",
    "Decision",
    "Plan",
    "ReminderState",
    "Verdict",
    "days_left",
    "decide",
    "plan_reminders",
    "reminder_text",
]

#: How many days before expiry a reminder goes out unless the issuer's settings say otherwise.
DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 3650

#: Where the reminder of one license and expiry stands in the database (None: there is none yet).
ReminderState = Literal["sending", "sent", "failed"]
Verdict = Literal["due", "opted out", "no contact e-mail", "already reminded", "being sent"]


@dataclass(frozen=True)
class Candidate:
    """A license as the sweep sees it: its key, where it runs, whom to tell, and any reminder made for it."""

    license_id: str
    customer: str
    product: str
    installation_id: str
    expires: datetime | None
    superseded_by: str | None = None
    cluster_name: str = ""
    contact_email: str = ""
    opted_out: bool = False
    reminder: ReminderState | None = None  # the reminder for this license and *this* expiry


@dataclass(frozen=True)
class Decision:
    """A candidate in scope, its days left, and whether a reminder is due (``verdict == "due"``) or why not."""

    candidate: Candidate
    expires: datetime
    days_left: int
    verdict: Verdict

    @property
    def due(self) -> bool:
        return self.verdict == "due"


@dataclass(frozen=True)
class Plan:
    """The reminders due now and the licenses in scope that get none (with the reason)."""

    due: list[Decision] = field(default_factory=list)
    skipped: list[Decision] = field(default_factory=list)


def days_left(expires: datetime, now: datetime) -> int:
    """Calendar days (UTC) from ``now`` to ``expires``: 0 when it expires later today."""
    return (expires.astimezone(UTC).date() - now.astimezone(UTC).date()).days


def decide(c: Candidate, now: datetime, window_days: int) -> Decision | None:
    """The decision for one license at ``now``; None when it is not in scope (see the module's table)."""
    # The same rule as the renewals-due list: a live key whose expiry falls in (now, now + window].
    if c.expires is None or not due_window(window_days, now).admits(c.expires, c.superseded_by):
        return None
    verdict: Verdict = "due"
    if c.opted_out:
        verdict = "opted out"
    elif not c.contact_email:
        verdict = "no contact e-mail"
    elif c.reminder == "sent":
        verdict = "already reminded"
    elif c.reminder == "sending":
        verdict = "being sent"
    return Decision(c, c.expires, days_left(c.expires, now), verdict)


def plan_reminders(candidates: Iterable[Candidate], now: datetime, window_days: int) -> Plan:
    """Every candidate decided: the due ones soonest expiry first, then the skipped ones in the same order."""
    decided = sorted((d for c in candidates if (d := decide(c, now, window_days)) is not None), key=_order)
    return Plan([d for d in decided if d.due], [d for d in decided if not d.due])


def _order(d: Decision) -> tuple[datetime, str]:
    return d.expires, d.candidate.license_id


def _when(days: int) -> str:
    if days <= 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return "in " + plural(days, "day")


def reminder_text(d: Decision) -> tuple[str, str]:
    """The subject and the plain-text body of the reminder e-mail for ``d``."""
    c = d.candidate
    day = f"{d.expires.astimezone(UTC):%Y-%m-%d}"
    where = f"installation {c.installation_id}" + (f" (cluster {c.cluster_name})" if c.cluster_name else "")
    subject = f"Your {c.product} license for {c.customer} expires {_when(d.days_left)}"
    lines = [
        f"Hello {c.customer},",
        "",
        f"your {c.product} license for {where} expires on {day} (UTC), {_when(d.days_left)}.",
        "",
        "To keep it running, make a new request code on the product's License page and send it to us,",
        "or reply to this e-mail and we will help you renew.",
        "",
        f"  License       {c.license_id}",
        f"  Installation  {c.installation_id}",
        f"  Cluster       {c.cluster_name or '(no name given)'}",
        f"  Expires       {day} (UTC)",
        f"  Days left     {plural(max(d.days_left, 0), 'day')}",
        "",
        "This reminder is sent once for this license. If you no longer want expiry reminders, tell us.",
    ]
    return subject, "\n".join(lines) + "\n"
