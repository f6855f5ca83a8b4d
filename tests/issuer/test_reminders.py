"""Expiry reminders against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL: each reminder reaches it once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import inspect, select
from tests.helpers import free_port
from tests.mailbox import Mailbox, smtp_server

from licensor.identity import InstallationKey
from licensor.issuer import store as s
from licensor.issuer.migrate import upgrade
from licensor.issuer.reminders.service import Sweep
from licensor.issuer.service import IssuerService
from licensor.issuer.settings import SmtpSettings
from licensor.issuer.store import Store
from licensor.terms import Overrides
from licensor.testing import request_code

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
WINDOW = 30


class Clock:
    """A clock the test moves."""

    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def stores(database_url: str) -> Iterator[list[Store]]:
    made: list[Store] = []
    yield made
    for st in made:
        st.close()


@pytest.fixture
def issuer(database_url: str, clock: Clock, stores: list[Store]) -> IssuerService:
    st = Store(database_url)
    stores.append(st)
    upgrade(st)
    svc = IssuerService(st, clock=clock)
    svc.init("test")
    return svc


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def replica(database_url: str, clock: Clock, stores: list[Store]) -> IssuerService:
    """Another issuer process on the same database (a restart, or a second replica)."""
    st = Store(database_url)
    stores.append(st)
    return IssuerService(st, clock=clock)


def issue(svc: IssuerService, days: float | None, *, company: str = "ACME", key: InstallationKey | None = None) -> str:
    """A license expiring ``days`` from NOW (None: perpetual) for a new installation (or ``key``'s)."""
    _key, code = request_code(key, company=company, now=NOW - timedelta(minutes=5))
    if days is None:
        terms = Overrides(type="perpetual")
    else:
        terms = Overrides(expires=NOW + timedelta(days=days))
    return svc.licenses.issue(code, actor="test", terms=terms).license.license_id


def smtp(port: int) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, sender="licensing@vendor.example", timeout=5)


def sweep(svc: IssuerService, port: int, **kw: Any) -> Sweep:
    return svc.reminders.send_due(smtp(port), window_days=WINDOW, actor="test", **kw)


def audit(svc: IssuerService, action: str) -> list[dict[str, Any]]:
    return [a for a in svc.accounts.audit_log(1000, action) if a["action"] == action]


def rows(svc: IssuerService) -> list[Any]:
    with svc.store.tx(write=False) as c:
        return list(c.execute(select(s.reminders).order_by(s.reminders.c.id)).all())


class TestOnce:
    def test_one_mail_per_due_license_and_none_on_the_next_sweep_or_after_a_restart(
        self, issuer: IssuerService, mailbox: Mailbox, database_url: str, clock: Clock, stores: list[Store]
    ) -> None:
        """Expiring in 10 days: one mail to the contact; 60 days and perpetual: none; sweeping again, or after a restart: none."""
        due = issue(issuer, 10)
        issue(issuer, 60, company="Later Ltd")
        issue(issuer, None, company="Forever plc")
        out = sweep(issuer, mailbox.port)
        assert [r["license_id"] for r in out.sent] == [due] and out.failed == []
        assert len(mailbox.messages) == 1
        msg = mailbox.messages[0]
        assert msg["To"] == "ada@example.com" and mailbox.rcpts == [["ada@example.com"]]
        assert msg["From"] == "licensing@vendor.example"
        assert msg["Subject"] == "Your demo license for ACME expires in 10 days"
        body = mailbox.bodies()[0]
        assert due in body and "expires on 2026-12-12 (UTC), in 10 days" in body
        [sent] = audit(issuer, "reminder.sent")
        assert sent["target"] == due and sent["details"]["to"] == "ada@example.com"

        assert sweep(issuer, mailbox.port).sent == []
        clock.t = NOW + timedelta(days=5)  # later, still within the window
        restarted = replica(database_url, clock, stores)
        again = sweep(restarted, mailbox.port)
        assert again.sent == [] and [(r["license_id"], r["verdict"]) for r in again.skipped] == [(due, "already reminded")]
        assert len(mailbox.messages) == 1
        [row] = rows(issuer)
        assert (row.license_id, row.state, row.attempts, row.recipient) == (due, "sent", 1, "ada@example.com")

    def test_dry_run_lists_and_sends_nothing(self, issuer: IssuerService, mailbox: Mailbox) -> None:
        """A dry run says who is due and records nothing: the real sweep afterwards still sends."""
        due = issue(issuer, 3)
        dry = sweep(issuer, mailbox.port, dry_run=True)
        assert [r["license_id"] for r in dry.due] == [due] and dry.sent == [] and dry.dry_run
        assert mailbox.messages == [] and rows(issuer) == []
        assert [r["license_id"] for r in sweep(issuer, mailbox.port).sent] == [due]
        assert len(mailbox.messages) == 1


class TestWhoGetsOne:
    def test_an_opted_out_customer_gets_none_until_opting_back_in(self, issuer: IssuerService, mailbox: Mailbox) -> None:
        """Opted out: skipped with the reason and audited; opted back in: the reminder goes out."""
        lid = issue(issuer, 10)
        [cust] = issuer.customers.customers()
        assert cust["reminders"] is True  # on by default
        assert issuer.customers.set_reminders(cust["id"], False, actor="user:ada")["reminders"] is False
        out = sweep(issuer, mailbox.port)
        assert out.sent == [] and [(r["license_id"], r["verdict"]) for r in out.skipped] == [(lid, "opted out")]
        assert mailbox.messages == []
        [changed] = audit(issuer, "customer.reminders")
        assert changed["details"] == {"enabled": False} and changed["actor"] == "user:ada"
        issuer.customers.set_reminders(cust["id"], True, actor="user:ada")
        assert [r["license_id"] for r in sweep(issuer, mailbox.port).sent] == [lid]
        assert len(mailbox.messages) == 1

    def test_superseded_keys_are_ignored(self, issuer: IssuerService, mailbox: Mailbox) -> None:
        """A key renewed, and a key replaced by a new request of its installation, get no reminder; the live key may."""
        renewed = issue(issuer, 10)
        issuer.licenses.renew(renewed, actor="test")  # the successor runs a year on
        key = InstallationKey.generate()
        replaced = issue(issuer, 5, key=key, company="Other")
        live = issue(issuer, 20, key=key, company="Other")
        out = sweep(issuer, mailbox.port)
        assert [r["license_id"] for r in out.sent] == [live]
        assert [r["license_id"] for r in out.skipped] == []
        assert renewed not in mailbox.bodies()[0] and replaced not in mailbox.bodies()[0]
        assert len(mailbox.messages) == 1


class TestFailure:
    def test_smtp_down_is_recorded_and_retried_at_the_next_sweep(self, issuer: IssuerService) -> None:
        """Nothing listens: the reminder is failed (row, audit, answer); the next sweep, with the server up, sends it once."""
        lid = issue(issuer, 10)
        port = free_port()  # nothing listens here yet
        out = sweep(issuer, port)
        assert out.sent == [] and [r["license_id"] for r in out.failed] == [lid]
        assert out.failed[0]["error"].startswith("mail_failed: The mail server 127.0.0.1:")
        [row] = rows(issuer)
        assert row.state == "failed" and row.attempts == 1 and "mail_failed" in row.error
        [failed] = audit(issuer, "reminder.failed")
        assert failed["target"] == lid and "mail_failed" in failed["details"]["error"]
        assert [h["state"] for h in issuer.reminders.history()] == ["failed"]
        with smtp_server(port) as box:
            again = sweep(issuer, port)
            assert [r["license_id"] for r in again.sent] == [lid] and again.failed == []
            assert sweep(issuer, port).sent == []
        assert len(box.messages) == 1
        [row] = rows(issuer)
        assert row.state == "sent" and row.attempts == 2 and row.error == ""
        assert len(audit(issuer, "reminder.sent")) == 1

    def test_a_sweep_that_dies_mid_send_leaves_the_reminder_unconfirmed_never_resent(self, issuer: IssuerService, mailbox: Mailbox) -> None:
        """The process is killed while sending: the claim stays "sending", later sweeps skip it, the history shows it."""

        class Killed(BaseException):
            pass

        def killed(_msg: Any) -> None:
            raise Killed

        lid = issue(issuer, 10)
        with pytest.raises(Killed):
            issuer.reminders.sweep(killed, sender="licensing@vendor.example", window_days=WINDOW, actor="test")
        out = sweep(issuer, mailbox.port)
        assert out.sent == [] and [(r["license_id"], r["verdict"]) for r in out.skipped] == [(lid, "being sent")]
        assert mailbox.messages == []
        assert [h["state"] for h in issuer.reminders.history()] == ["sending"]

    def test_no_smtp_configured_is_refused_before_any_claim(self, issuer: IssuerService) -> None:
        """Without an SMTP host: a usage refusal, nothing claimed; a dry run still lists."""
        from licensor.errors import UsageError

        issue(issuer, 10)
        with pytest.raises(UsageError, match="No SMTP server is configured"):
            issuer.reminders.send_due(SmtpSettings(), window_days=WINDOW, actor="test")
        assert rows(issuer) == []
        assert len(issuer.reminders.send_due(SmtpSettings(), window_days=WINDOW, actor="test", dry_run=True).due) == 1


class TestReplicas:
    def test_two_replicas_sweeping_at_once_send_each_reminder_once(
        self, issuer: IssuerService, database_url: str, clock: Clock, stores: list[Store]
    ) -> None:
        """Two issuers on one database sweep at the same moment, on a slow mail server: 12 due, 12 mails, no license twice."""
        due = {issue(issuer, 1 + i, company=f"Customer {i}") for i in range(12)}
        other = replica(database_url, clock, stores)
        start = threading.Barrier(2)
        results: list[Sweep] = []
        errors: list[BaseException] = []
        with smtp_server(delay=0.05) as box:

            def run(svc: IssuerService) -> None:
                try:
                    start.wait(10)
                    results.append(sweep(svc, box.port))
                except BaseException as e:  # reported below
                    errors.append(e)

            threads = [threading.Thread(target=run, args=(svc,)) for svc in (issuer, other)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        assert errors == []
        first, second = ({r["license_id"] for r in out.due} for out in results)
        assert len(first & second) >= 6  # both found these due: they raced for their claims
        sent = [r["license_id"] for out in results for r in out.sent]
        assert sorted(sent) == sorted(due) and all(out.failed == [] for out in results)
        assert len(box.messages) == 12
        mailed = [next(lid for lid in due if lid in body) for body in box.bodies()]
        assert sorted(mailed) == sorted(due)
        assert [r.state for r in rows(issuer)] == ["sent"] * 12
        assert len(audit(issuer, "reminder.sent")) == 12


def downgrade(st: Store, revision: str) -> None:
    from alembic import command

    from licensor.issuer.migrate import _HERE
    from licensor.server.db import alembic_config

    with st.engine.begin() as conn:
        command.downgrade(alembic_config(_HERE, engine=st.engine, connection=conn), revision)


class TestMigration:
    def test_0004_keeps_customers_opted_in_and_downgrades(self, database_url: str, clock: Clock, stores: list[Store]) -> None:
        """0004 undone and done again on a database with a customer and a license: the customer is opted in, the license due."""
        st = Store(database_url)
        stores.append(st)
        upgrade(st)
        svc = IssuerService(st, clock=clock)
        svc.init("test")
        lid = issue(svc, 10)
        downgrade(st, "0003")
        with st.tx(write=False) as c:
            assert "reminders_opt_out" not in {col["name"] for col in inspect(c).get_columns("customers")}
            assert not inspect(c).has_table("reminders")
        upgrade(st)
        [cust] = svc.customers.customers()
        assert cust["reminders"] is True
        assert [d.candidate.license_id for d in svc.reminders.plan(WINDOW).due] == [lid]
