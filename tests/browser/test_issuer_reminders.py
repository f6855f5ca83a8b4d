"""Expiry reminders in Debian's Chromium: a clerk turns one customer's reminders off, clicks "Send reminders now", and the
real SMTP server (aiosmtpd) gets exactly one mail; clicking again sends none."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from licensor.issuer.settings import SmtpSettings
from licensor.testing import request_code

from ..inprocess import PASSWORD, Running, issuer
from ..mailbox import Mailbox, smtp_server
from .conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
def vendor(tmp_path: Path, mailbox: Mailbox) -> Iterator[Running]:
    """An issuer on a socket, mailing through ``mailbox``, with two licenses expiring within the 30-day window."""
    smtp = SmtpSettings(host="127.0.0.1", port=mailbox.port, sender="licensing@vendor.example", timeout=5)
    with issuer(f"sqlite:///{tmp_path / 'issuer.db'}", socket=True, smtp=smtp) as run, run.client("admin") as api:
        for company, days in (("ACME", 14), ("Quiet Ltd", 6)):
            code = request_code(company=company, now=datetime.now(UTC) - timedelta(minutes=5))[1]
            expires = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
            r = api.post("/api/v1/licenses", json={"request_code": code, "expires": expires})
            assert r.status_code == 201, r.text
            run.extra[company] = r.json()["license_id"]
        yield run


def _sign_in(page: Any, base: str) -> None:
    sign_in(page, base, "ada", PASSWORD)


class TestReminders:
    def test_send_now_mails_once_and_again_sends_none(self, browser: Any, vendor: Running, mailbox: Mailbox, shots: Any) -> None:
        """Opt one customer out on the customers page; "Send reminders now" mails the other once; a second click, nothing."""
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        _sign_in(page, vendor.base)

        page.click("nav >> text=Customers")
        page.click("button[aria-label='Turn off expiry reminders for Quiet Ltd']")
        page.wait_for_selector("button[aria-label='Turn on expiry reminders for Quiet Ltd']")
        assert page.inner_text("table tbody").count("Off") == 1

        page.click("nav >> text=Reminders")
        page.wait_for_selector("#due")
        acme = vendor.extra["ACME"]
        [due] = page.locator("#due tbody tr").all_inner_texts()
        assert acme[:8] in due and "14 days" in due and "ada@example.com" in due
        assert "Opted out" in page.inner_text("#skipped")
        assert mailbox.messages == []

        page.click("#send-reminders")
        page.wait_for_selector("#flash")
        assert page.inner_text("#flash") == "1 reminder sent."
        mailbox.wait_for(1)
        assert page.inner_text("#none-due") == "No reminder is due now."
        [row] = page.locator("#history tbody tr").all_inner_texts()
        assert acme[:8] in row and "Sent" in row
        shots(page, "42-issuer-reminders-sent")

        page.click("#send-reminders")
        page.wait_for_selector("#flash >> text=No reminder was due")
        time.sleep(0.5)  # a mail sent by mistake would have arrived by now
        assert len(mailbox.messages) == 1
        msg = mailbox.messages[0]
        assert msg["To"] == "ada@example.com" and msg["Subject"] == "Your demo license for ACME expires in 14 days"
        assert acme in mailbox.bodies()[0]
        assert page.locator("#history tbody tr").count() == 1
        ctx.close()
