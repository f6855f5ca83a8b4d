"""Expiry reminders: load the live keys about to expire, let the core decide, claim, send, record.

``licensor.reminders.plan_reminders`` decides which license is due a reminder.  Each one due
is claimed first: in one transaction the license is decided again on fresh rows and a
``reminders`` row (unique per license and expiry) is inserted as "sending", or a failed one
is taken back.  Only the sweep whose claim committed sends, so two replicas sweeping at once
send one mail.  The claim then becomes "sent" or "failed" (with the error), each with its
audit line; a failed reminder is due again at the next sweep.  A claim whose sweep died
mid-send stays "sending" and is never sent again by itself: the console lists it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ...errors import LicensorError, UsageError
from ...license import fmt_time
from ...reminders import Candidate, Decision, Plan, decide, plan_reminders, reminder_text
from .. import store as s
from ..ledger import Ledger, stamp
from ..mail import _one_line, check_address
from ..mail import send as smtp_send
from ..settings import SmtpSettings

#: Sends one message (``licensor.issuer.mail.send`` on the configured SMTP server); raises a LicensorError on failure.
Mailer = Callable[[EmailMessage], None]

_L, _I, _C, _R = s.licenses, s.installations, s.customers, s.reminders
_CANDIDATES = (
    select(
        _L.c.license_id,
        _L.c.customer,
        _L.c.product,
        _L.c.installation_id,
        _L.c.expires,
        _L.c.superseded_by,
        _I.c.cluster_name,
        _I.c.contact_email,
        _C.c.email.label("customer_email"),
        _C.c.reminders_opt_out,
        _R.c.state.label("reminder"),
    )
    .join(_I, _I.c.installation_id == _L.c.installation_id)
    .join(_C, _C.c.id == _L.c.customer_id)
    .join(_R, and_(_R.c.license_id == _L.c.license_id, _R.c.expires == _L.c.expires), isouter=True)
)


def _candidate(r: Any) -> Candidate:
    return Candidate(
        license_id=r.license_id,
        customer=r.customer,
        product=r.product,
        installation_id=r.installation_id,
        expires=r.expires,
        superseded_by=r.superseded_by,
        cluster_name=r.cluster_name,
        contact_email=r.contact_email or r.customer_email,
        opted_out=bool(r.reminders_opt_out),
        reminder=r.reminder,
    )


def decision_dict(d: Decision) -> dict[str, Any]:
    c = d.candidate
    return {
        "license_id": c.license_id,
        "customer": c.customer,
        "product": c.product,
        "installation_id": c.installation_id,
        "cluster_name": c.cluster_name,
        "to": c.contact_email,
        "expires": fmt_time(d.expires),
        "days_left": d.days_left,
        "verdict": d.verdict,
    }


def reminder_message(d: Decision, *, sender: str) -> EmailMessage:
    """The reminder e-mail of ``d``; the address is checked, and the subject kept to one line (it names the customer)."""
    subject, body = reminder_text(d)
    msg = EmailMessage()
    msg["Subject"] = _one_line(subject)
    msg["From"] = sender
    msg["To"] = check_address(d.candidate.contact_email)
    msg.set_content(body)
    return msg


@dataclass
class Sweep:
    """What one sweep did: reminders sent and failed (with the error), and what was due or skipped when it looked."""

    window_days: int
    dry_run: bool
    due: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("window_days", "dry_run", "due", "skipped", "sent", "failed")}


class ReminderService:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def _candidates(self, c: Connection, now: datetime, window_days: int, license_id: str | None = None) -> list[Candidate]:
        q = _CANDIDATES.where(
            _L.c.superseded_by.is_(None), _L.c.expires.is_not(None), _L.c.expires > now, _L.c.expires <= now + timedelta(days=window_days)
        )
        if license_id is not None:
            q = q.where(_L.c.license_id == license_id)
        return [_candidate(r) for r in c.execute(q).all()]

    def plan(self, window_days: int) -> Plan:
        """Who would get a reminder now, and who is in the window but would not (and why)."""
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            return plan_reminders(self._candidates(c, now, window_days), now, window_days)

    def sweep(self, send: Mailer, *, sender: str, window_days: int, actor: str, dry_run: bool = False) -> Sweep:
        """Send every reminder due now, each at most once (see the module's docstring); ``dry_run``: only say who."""
        plan = self.plan(window_days)
        out = Sweep(window_days, dry_run, [decision_dict(d) for d in plan.due], [decision_dict(d) for d in plan.skipped])
        if dry_run:
            return out
        for d in plan.due:
            claimed = self._claim(d.candidate.license_id, window_days, actor)
            if claimed is None:
                continue  # another sweep has it, or it is no longer due
            claim_id, fresh = claimed
            try:
                send(reminder_message(fresh, sender=sender))
            except Exception as e:
                out.failed.append(self._failed(claim_id, fresh, e, actor))
                if not isinstance(e, LicensorError):
                    raise
            else:
                out.sent.append(self._sent(claim_id, fresh, actor))
        return out

    def send_due(self, smtp: SmtpSettings, *, window_days: int, actor: str, dry_run: bool = False) -> Sweep:
        """``sweep`` over the configured SMTP server; refused before anything is claimed when none is configured."""
        if not dry_run and not smtp.configured:
            raise UsageError(
                "No SMTP server is configured, so no reminder can be sent: set the [smtp] host in issuer.toml or LICENSOR_SMTP_HOST"
            )
        return self.sweep(lambda msg: smtp_send(smtp, msg), sender=smtp.sender, window_days=window_days, actor=actor, dry_run=dry_run)

    def _claim(self, license_id: str, window_days: int, actor: str) -> tuple[int, Decision] | None:
        """Claim the reminder of ``license_id`` if it is still due: its row id and the decision, else None."""
        now = self.ledger.clock()
        try:
            with self.ledger.tx() as c:
                found = self._candidates(c, now, window_days, license_id)
                d = decide(found[0], now, window_days) if found else None
                if d is None or not d.due:
                    return None
                row = c.execute(select(_R.c.id).where(_R.c.license_id == license_id, _R.c.expires == d.expires)).first()
                claim = {"state": "sending", "recipient": d.candidate.contact_email, "claimed_at": now, "claimed_by": actor, "error": ""}
                if row is None:
                    new = {"license_id": license_id, "expires": d.expires, "attempts": 1, **claim}
                    pk = c.execute(_R.insert(), new).inserted_primary_key
                    assert pk is not None
                    return int(pk[0]), d
                # A failed reminder taken back; under concurrency only one sweep still finds it failed.
                again = update(_R).where(_R.c.id == row.id, _R.c.state == "failed").values(attempts=_R.c.attempts + 1, **claim)
                return (int(row.id), d) if c.execute(again).rowcount == 1 else None
        except IntegrityError:
            return None  # another sweep inserted the same license and expiry first

    def _sent(self, claim_id: int, d: Decision, actor: str) -> dict[str, Any]:
        now = self.ledger.clock()
        with self.ledger.tx() as c:
            c.execute(update(_R).where(_R.c.id == claim_id).values(state="sent", sent_at=now, error=""))
            details = decision_dict(d)
            self.ledger.record(c, actor, "reminder.sent", d.candidate.license_id, to=details["to"], expires=details["expires"])
        return details

    def _failed(self, claim_id: int, d: Decision, e: Exception, actor: str) -> dict[str, Any]:
        error = f"{e.code}: {e.hint}" if isinstance(e, LicensorError) else f"{type(e).__name__}: {e}"
        with self.ledger.tx() as c:
            c.execute(update(_R).where(_R.c.id == claim_id).values(state="failed", error=error[:2000]))
            details = {**decision_dict(d), "error": error}
            self.ledger.record(c, actor, "reminder.failed", d.candidate.license_id, to=details["to"], error=error[:500])
        return details

    def history(self, limit: int = 100) -> list[dict[str, Any]]:
        """Reminders made, newest claim first."""
        q = (
            select(_R, _L.c.customer, _L.c.product, _L.c.installation_id)
            .join(_L, _L.c.license_id == _R.c.license_id)
            .order_by(_R.c.claimed_at.desc(), _R.c.id.desc())
            .limit(max(1, min(limit, 1000)))
        )
        return [
            {
                "license_id": r.license_id,
                "customer": r.customer,
                "product": r.product,
                "installation_id": r.installation_id,
                "expires": fmt_time(r.expires),
                "to": r.recipient,
                "state": r.state,
                "attempts": r.attempts,
                "claimed_at": fmt_time(r.claimed_at),
                "sent_at": stamp(r.sent_at),
                "error": r.error,
            }
            for r in self.ledger.rows(q)
        ]
