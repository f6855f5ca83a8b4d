"""``licensor.reminders``: which licenses are due an expiry reminder at ``now``, and what the mail says."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from licensor.reminders import Candidate, days_left, decide, plan_reminders, reminder_text

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def lic(license_id: str = "L1", *, days: float | None = 10, **kw: object) -> Candidate:
    base = Candidate(
        license_id=license_id,
        customer="ACME",
        product="demo",
        installation_id="inst-1",
        expires=None if days is None else NOW + timedelta(days=days),
        cluster_name="prod-eu",
        contact_email="ada@example.com",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


class TestDecide:
    def test_a_live_key_within_the_window_is_due(self) -> None:
        """Expires in 10 days, window 30: due, with 10 days left."""
        d = decide(lic(), NOW, 30)
        assert d is not None and d.due and d.verdict == "due" and d.days_left == 10

    @pytest.mark.parametrize("days", [30, 0.001])
    def test_the_window_ends_are_in(self, days: float) -> None:
        """Exactly ``window`` days ahead, and a second ahead, are in scope."""
        d = decide(lic(days=days), NOW, 30)
        assert d is not None and d.due

    @pytest.mark.parametrize("days", [30.01, 400])
    def test_beyond_the_window_is_out(self, days: float) -> None:
        """A key that expires after the window gets nothing yet."""
        assert decide(lic(days=days), NOW, 30) is None

    def test_the_window_is_the_argument(self) -> None:
        """The same key is due with a 60-day window and out of scope with a 7-day one."""
        assert decide(lic(days=20), NOW, 60) is not None
        assert decide(lic(days=20), NOW, 7) is None

    @pytest.mark.parametrize("days", [0, -1, -300])
    def test_an_expired_key_is_out(self, days: float) -> None:
        """Expired now or before: no reminder (it is too late to warn)."""
        assert decide(lic(days=days), NOW, 30) is None

    def test_a_perpetual_key_is_out(self) -> None:
        """No expiry: nothing to remind of."""
        assert decide(lic(days=None), NOW, 30) is None

    def test_a_superseded_key_is_out(self) -> None:
        """A renewed or replaced key: its successor is the one that counts."""
        assert decide(lic(superseded_by="L2"), NOW, 30) is None

    @pytest.mark.parametrize(
        ("change", "verdict"),
        [
            ({"opted_out": True}, "opted out"),
            ({"contact_email": ""}, "no contact e-mail"),
            ({"reminder": "sent"}, "already reminded"),
            ({"reminder": "sending"}, "being sent"),
            ({"opted_out": True, "reminder": "sent"}, "opted out"),
        ],
    )
    def test_in_scope_but_skipped_with_the_reason(self, change: dict[str, object], verdict: str) -> None:
        """Opted out, no address, sent or being sent: in the window, not due, and the reason said."""
        d = decide(lic(**change), NOW, 30)
        assert d is not None and not d.due and d.verdict == verdict

    def test_a_failed_reminder_is_due_again(self) -> None:
        """The SMTP server refused last time: the next sweep tries again."""
        d = decide(lic(reminder="failed"), NOW, 30)
        assert d is not None and d.due

    def test_days_left_counts_calendar_days_in_utc(self) -> None:
        """Later today is 0 days, tomorrow morning 1, whatever the hour now."""
        assert days_left(NOW + timedelta(hours=3), NOW) == 0
        assert days_left(datetime(2026, 12, 3, 0, 30, tzinfo=UTC), NOW) == 1
        assert days_left(datetime(2026, 12, 12, 23, 59, tzinfo=UTC), NOW) == 10


class TestPlan:
    def test_due_soonest_first_and_skipped_apart(self) -> None:
        """Due reminders in expiry order; skipped ones listed separately; out-of-scope ones nowhere."""
        cands = [
            lic("late", days=25),
            lic("soon", days=3),
            lic("out", days=90),
            lic("quiet", days=5, opted_out=True),
            lic("old", days=5, superseded_by="soon"),
        ]
        plan = plan_reminders(cands, NOW, 30)
        assert [d.candidate.license_id for d in plan.due] == ["soon", "late"]
        assert [(d.candidate.license_id, d.verdict) for d in plan.skipped] == [("quiet", "opted out")]

    def test_nothing_to_do(self) -> None:
        """No candidates, no reminders."""
        plan = plan_reminders([], NOW, 30)
        assert plan.due == [] and plan.skipped == []


class TestText:
    def test_the_mail_names_customer_installation_cluster_expiry_and_days_left(self) -> None:
        """Sentence case; customer, installation, cluster, date, days left and what to do."""
        d = decide(lic(days=10), NOW, 30)
        assert d is not None
        subject, body = reminder_text(d)
        assert subject == "Your demo license for ACME expires in 10 days"
        assert body.startswith("Hello ACME,\n")
        assert "installation inst-1 (cluster prod-eu) expires on 2026-12-12 (UTC), in 10 days." in body
        assert "Days left     10 days" in body
        assert "new request code" in body and "reply to this e-mail" in body

    @pytest.mark.parametrize(("hours", "when", "left"), [(2, "today", "0 days"), (24, "tomorrow", "1 day")])
    def test_today_and_tomorrow(self, hours: int, when: str, left: str) -> None:
        """The last days are said in words, the count with the right plural."""
        d = decide(lic(days=hours / 24), NOW, 30)
        assert d is not None
        subject, body = reminder_text(d)
        assert subject.endswith(f"expires {when}") and f"Days left     {left}\n" in body

    def test_no_cluster_name(self) -> None:
        """An installation without a cluster name is named by its id alone."""
        d = decide(lic(cluster_name=""), NOW, 30)
        assert d is not None
        _subject, body = reminder_text(d)
        assert "license for installation inst-1 expires" in body and "(no name given)" in body
