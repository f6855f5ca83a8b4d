"""Expiry reminders through the issuer's edges: the API, the console forms, ``licensor vendor remind`` and the sweep ``serve`` runs."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tests.inprocess import App, Running, cli, issuer, make_issuer, ok
from tests.mailbox import Mailbox, smtp_server

from licensor.issuer.app import create_app
from licensor.issuer.migrate import upgrade
from licensor.issuer.service import IssuerService
from licensor.issuer.settings import IssuerSettings, SmtpSettings, load_settings
from licensor.issuer.store import Store
from licensor.terms import Overrides
from licensor.testing import request_code


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def smtp(box: Mailbox) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=box.port, sender="licensing@vendor.example", timeout=5)


def code(company: str = "ACME") -> str:
    return request_code(company=company, now=datetime.now(UTC) - timedelta(minutes=5))[1]


def expires_in(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class TestApi:
    def test_list_dry_run_sweep_once_and_opt_out(self, database_url: str, mailbox: Mailbox) -> None:
        """GET lists who is due; a dry run sends nothing; the sweep sends once; a customer's opt-out is set and shown."""
        with issuer(database_url, smtp=smtp(mailbox)) as run, run.client("admin") as api:
            r = api.post("/api/v1/licenses", json={"request_code": code(), "expires": expires_in(12)})
            assert r.status_code == 201, r.text
            lid = r.json()["license_id"]
            api.post("/api/v1/licenses", json={"request_code": code("Quiet Ltd"), "expires": expires_in(5)})
            listed = api.get("/api/v1/reminders").json()
            assert listed["window_days"] == 30 and len(listed["due"]) == 2 and listed["history"] == []
            quiet = next(c for c in api.get("/api/v1/customers").json() if c["name"] == "Quiet Ltd")
            assert quiet["reminders"] is True
            r = api.put(f"/api/v1/customers/{quiet['id']}/reminders", json={"enabled": False})
            assert r.status_code == 200 and r.json()["reminders"] is False
            dry = api.post("/api/v1/reminders/sweep", json={"dry_run": True}).json()
            assert [d["license_id"] for d in dry["due"]] == [lid] and dry["sent"] == [] and mailbox.messages == []
            assert [(d["customer"], d["verdict"]) for d in dry["skipped"]] == [("Quiet Ltd", "opted out")]
            out = api.post("/api/v1/reminders/sweep").json()
            assert [d["license_id"] for d in out["sent"]] == [lid] and out["sent"][0]["days_left"] == 12
            assert api.post("/api/v1/reminders/sweep", json={}).json()["sent"] == []
            [h] = api.get("/api/v1/reminders").json()["history"]
            assert (h["license_id"], h["state"], h["to"]) == (lid, "sent", "ada@example.com")
            assert [a["target"] for a in api.get("/api/v1/audit", params={"action": "reminder."}).json()] == [lid]
            missing = api.put("/api/v1/customers/99999/reminders", json={"enabled": False})
            assert missing.status_code == 404 and missing.json()["code"] == "not_found"
            with run.client("licenses:read") as reader:
                assert reader.post("/api/v1/reminders/sweep").status_code == 403
                assert reader.put(f"/api/v1/customers/{quiet['id']}/reminders", json={"enabled": True}).status_code == 403
        assert len(mailbox.messages) == 1 and mailbox.messages[0]["To"] == "ada@example.com"

    def test_no_smtp_is_a_refusal_in_words(self, database_url: str) -> None:
        """Without an SMTP host the sweep is refused (400, code usage) and nothing is recorded; a dry run answers."""
        with issuer(database_url) as run, run.client("admin") as api:
            api.post("/api/v1/licenses", json={"request_code": code(), "expires": expires_in(3)})
            r = api.post("/api/v1/reminders/sweep")
            assert r.status_code == 400 and r.json()["code"] == "usage" and "SMTP" in r.json()["hint"]
            assert api.get("/api/v1/reminders").json()["history"] == []
            assert len(api.post("/api/v1/reminders/sweep", json={"dry_run": True}).json()["due"]) == 1


def _csrf(run: Running) -> str:
    """The CSRF token of the signed-in ``session`` caller (the console's forms carry it as ``csrf_token``)."""
    return run.headers["session"]["x-csrf-token"]


class TestConsole:
    def test_send_now_and_the_customers_toggle(self, database_url: str, mailbox: Mailbox) -> None:
        """ "Send reminders now" sends once and says so; the customers page turns a customer's reminders off and on."""
        with issuer(database_url, smtp=smtp(mailbox)) as run, run.client("admin") as api:
            lid = api.post("/api/v1/licenses", json={"request_code": code(), "expires": expires_in(9)}).json()["license_id"]
            csrf = _csrf(run)
            with run.client("session") as c:
                page = c.get("/reminders")
                assert "Due now (1)" in page.text and lid[:8] in page.text and "9 days" in page.text
                r = c.post("/reminders/run", data={"csrf_token": csrf})
                assert r.status_code == 303 and r.headers["location"] == "/reminders?sent=1&failed=0"
                page = c.get(r.headers["location"])
                assert "1 reminder sent." in page.text and "Due now (0)" in page.text and "Sent " in page.text
                r = c.post("/reminders/run", data={"csrf_token": csrf})
                assert c.get(r.headers["location"]).text.count("No reminder was due: nothing was sent.") == 1
                assert c.post("/reminders/run", data={}).status_code == 403  # no CSRF token: nothing sent
                [cust] = api.get("/api/v1/customers").json()
                r = c.post(f"/customers/{cust['id']}/reminders", data={"csrf_token": csrf, "enabled": "0"})
                assert r.status_code == 303
                assert api.get("/api/v1/customers").json()[0]["reminders"] is False
                assert f'id="reminders-{cust["id"]}">Off' in c.get("/customers").text
                c.post(f"/customers/{cust['id']}/reminders", data={"csrf_token": csrf, "enabled": "1"})
                assert api.get("/api/v1/customers").json()[0]["reminders"] is True
                bad = c.post("/customers/nobody/reminders", data={"csrf_token": csrf, "enabled": "0"})
                assert bad.status_code == 404 and 'id="form-error"' in bad.text and "There is no customer nobody" in bad.text
        assert len(mailbox.messages) == 1

    def test_smtp_down_shows_the_failure_and_the_retry(self, database_url: str) -> None:
        """The mail server is down: the page says one could not be sent, lists it as failed; with the server up it goes out."""
        with smtp_server() as box:
            port = box.port
        with issuer(database_url, smtp=SmtpSettings(host="127.0.0.1", port=port, timeout=5)) as run, run.client("admin") as api:
            api.post("/api/v1/licenses", json={"request_code": code(), "expires": expires_in(2)})
            csrf = _csrf(run)
            with run.client("session") as c:
                r = c.post("/reminders/run", data={"csrf_token": csrf})
                page = c.get(r.headers["location"])
                assert 'id="send-warning">1 reminder could not be sent' in page.text and 'id="flash"' not in page.text
                assert "Failed: tried again at the next sweep" in page.text and "mail_failed" in page.text
                with smtp_server(port) as up:
                    r = c.post("/reminders/run", data={"csrf_token": csrf})
                    assert "1 reminder sent." in c.get(r.headers["location"]).text
                assert len(up.messages) == 1


class TestCommand:
    def test_remind_dry_run_then_send_then_nothing(self, database_url: str, mailbox: Mailbox, tmp_path: Path) -> None:
        """``licensor vendor remind --dry-run`` lists, ``remind`` sends over the configured SMTP, again sends none."""
        make_issuer(database_url, tmp_path)
        store = Store(database_url)
        svc = IssuerService(store)
        lid = svc.licenses.issue(code(), actor="test", terms=Overrides(expires=datetime.now(UTC) + timedelta(days=20))).license.license_id
        store.close()
        where = ("--data-dir", str(tmp_path), "--database-url", database_url)
        env = {"LICENSOR_SMTP_HOST": "127.0.0.1", "LICENSOR_SMTP_PORT": str(mailbox.port), "LICENSOR_SMTP_FROM": "licensing@vendor.example"}
        dry = ok(cli("vendor", "remind", "--dry-run", *where, env=env)).out
        assert dry.startswith("1 reminder due (licenses expiring within 30 days); nothing sent") and lid in dry
        assert mailbox.messages == []
        assert "0 reminders due" in ok(cli("vendor", "remind", "--dry-run", "--days", "7", *where, env=env)).out
        sent = ok(cli("vendor", "remind", *where, env=env)).out
        assert sent.startswith("1 reminder sent, 0 failed") and f"sent        {lid}" in sent
        again = ok(cli("vendor", "remind", *where, env=env)).out
        assert again.startswith("0 reminders sent, 0 failed") and f"skipped     {lid}" in again and "reminded" in again
        assert len(mailbox.messages) == 1
        assert ok(cli("vendor", "customer-reminders", "ACME", "off", *where)).out.strip() == "expiry reminders for ACME: off"
        missing = cli("vendor", "customer-reminders", "Nobody", "on", *where)
        assert missing.code != 0 and "not_found" in missing.err
        refused = cli("vendor", "remind", *where)  # no SMTP configured
        assert refused.code != 0 and "No SMTP server is configured" in refused.err


class TestSettings:
    def test_window_and_interval_from_file_and_environment(self, tmp_path: Path) -> None:
        """``[reminders]`` in issuer.toml, overridden by the environment; defaults 30 days and off; nonsense refused."""
        from licensor.errors import UsageError

        assert (load_settings(tmp_path, env={}).reminder_days, load_settings(tmp_path, env={}).reminder_interval_minutes) == (30, 0)
        (tmp_path / "issuer.toml").write_text("[reminders]\ndays = 45\ninterval_minutes = 60\n")
        s = load_settings(tmp_path, env={})
        assert (s.reminder_days, s.reminder_interval_minutes) == (45, 60)
        s = load_settings(tmp_path, env={"LICENSOR_REMINDER_DAYS": "14"})
        assert (s.reminder_days, s.reminder_interval_minutes) == (14, 60)
        for bad in ("0", "100000", "soon"):
            with pytest.raises(UsageError):
                load_settings(tmp_path, env={"LICENSOR_REMINDER_DAYS": bad})
        with pytest.raises(UsageError):
            load_settings(tmp_path, env={"LICENSOR_REMINDER_INTERVAL_MINUTES": "-5"})


class TestScheduled:
    def test_serve_sweeps_by_itself_and_sends_once(self, database_url: str, mailbox: Mailbox) -> None:
        """With an interval set, the running issuer sends the reminder by itself, once, however many sweeps follow."""
        with tempfile.TemporaryDirectory() as tmp:
            make_issuer(database_url, Path(tmp))
        store = Store(database_url)
        upgrade(store)
        lid = (
            IssuerService(store)
            .licenses.issue(code(), actor="test", terms=Overrides(expires=datetime.now(UTC) + timedelta(days=4)))
            .license.license_id
        )
        store.close()
        settings = IssuerSettings(database_url=database_url, smtp=smtp(mailbox), reminder_interval_minutes=0.005)  # every 0.3 s
        with App(create_app(settings)) as app:
            mailbox.wait_for(1)
            time.sleep(1.5)  # several more sweeps
            with app.client() as c:
                assert c.get("/healthz").status_code == 200
        assert len(mailbox.messages) == 1 and lid in mailbox.bodies()[0]
        store = Store(database_url)
        audit = IssuerService(store).accounts.audit_log(100, "reminder.")
        store.close()
        assert [(a["action"], a["actor"]) for a in audit] == [("reminder.sent", "schedule:reminders")]
