"""The whole story in a real browser (Debian's Chromium): request, issue, activate, agents admitted; refusals; phone width.

The servers are real processes started by ``licensor demo`` (issuer, controller,
8 simulated agents) on free ports in a temporary data dir.  Each step writes a
screenshot to test-artifacts/browser/ (LICENSOR_UPDATE_SCREENSHOTS=1 also
refreshes the README's docs/screenshots/).
"""

from __future__ import annotations

import re
import signal
import socket
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest

from licensor.testing import TestVendor, test_installation

pytestmark = pytest.mark.browser

UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.name || e.id)"""


def _context(browser: Any, demo: Any, **kw: Any) -> Any:
    ctx = browser.new_context(accept_downloads=True, **kw)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    seen: list[str] = demo.shared.setdefault("requests", [])
    ctx.on("request", lambda r: seen.append(r.url))
    ctx.set_default_timeout(15_000)
    return ctx


def _check(page: Any) -> None:
    """Every field has a label; the page names nothing outside its own origin."""
    assert page.evaluate(UNLABELLED) == [], f"fields without a label on {page.url}"
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(page.url))
    outside = [u for u in re.findall(r"https?://[^\s\"'<>)]+", page.content()) if not u.startswith(origin)]
    assert outside == [], f"{page.url} names outside URLs: {outside}"


def _login(page: Any, base: str, user: str, password: str) -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    _check(page)
    page.fill("#f-username", user)
    page.fill("#f-password", password)
    page.press("#f-password", "Enter")  # the keyboard submits the form
    page.wait_for_selector("nav[aria-label=Main]")


def _nodes_used(page: Any, want: str, timeout: float = 30.0) -> str:
    end = time.monotonic() + timeout
    text = ""
    while time.monotonic() < end:
        page.goto(page.url.split("?")[0])
        text = page.inner_text("#nodes-used").strip()
        if text == want:
            return text
        time.sleep(1.0)
    return text


class TestStory:
    def test_request_issue_activate_admit(self, browser: Any, demo: Any, shots: Any, tmp_path: Any) -> None:
        """Banner and 0 nodes -> Request code -> issuer preview, issue -> upload -> banner gone, agents admitted up to the limit."""
        ctl_ctx = _context(browser, demo, viewport={"width": 1280, "height": 800})
        iss_ctx = _context(browser, demo, viewport={"width": 1280, "height": 800})
        ctl, iss = ctl_ctx.new_page(), iss_ctx.new_page()

        # 1. The controller: no license, a banner, 0 nodes, agents refused.
        _login(ctl, demo.controller, *demo.controller_login)
        assert ctl.is_visible("#license-banner")
        assert "No license" in ctl.inner_text("#license-banner")
        assert ctl.inner_text("#nodes-used").strip() == "0 / 0"
        demo.wait_for_line(r"agents: 0 of 8 admitted; refused: 8 missing")
        _check(ctl)
        shots(ctl, "01-controller-invalid", doc=True)

        # 2. Settings -> License -> Request code (opened from the keyboard), filled in, generated.
        ctl.click("nav >> text=License")
        assert ctl.is_visible("#license-banner")
        ctl.focus("#request-code")
        ctl.keyboard.press("Enter")
        ctl.wait_for_selector("#request-dialog[open]")
        ctl.fill("#f-name", "Ada Admin")
        ctl.fill("#f-email", "ada@example.com")
        ctl.fill("#f-company", "ACME")
        ctl.fill("#f-nodes", "5")
        ctl.fill("#f-months", "12")
        ctl.fill("#f-remote_clusters", "1")
        _check(ctl)
        ctl.click("#generate")
        ctl.wait_for_selector("#request-code-text")
        code = ctl.input_value("#request-code-text")
        assert code.startswith("LR1")
        ctl.click("[data-copy=request-code-text]")
        ctl.wait_for_selector("text=Copied")
        assert ctl.evaluate("navigator.clipboard.readText()") == code
        assert ctl.is_visible(".qr svg")
        mail = ctl.get_attribute("#mail-request", "href") or ""
        assert mail.startswith("mailto:") and code in mail
        with ctl.expect_download() as dl:
            ctl.click("#download-request")
        assert code.split("-")[1] in dl.value.path().read_text()
        assert dl.value.suggested_filename == f"demo-cluster-request-{datetime.now(UTC):%Y-%m-%d}.txt"  # named after the cluster
        shots(ctl, "02-controller-request-code")

        # 3. The issuer: paste the code, preview, issue.
        _login(iss, demo.issuer, *demo.issuer_login)
        assert "/issue" in iss.url
        iss.fill("#f-request_code", "> " + code[:20] + "\n> " + code[20:])  # as quoted in a reply e-mail
        iss.click("#preview")
        iss.wait_for_selector("#request-facts")
        facts = iss.inner_text("#request-facts")
        assert "ACME" in facts and "5 nodes, 12 months, 1 remote cluster" in facts and "demo-cluster" in facts
        assert iss.is_visible("#no-earlier")
        assert iss.input_value("#f-nodes") == "5" and iss.input_value("#f-customer") == "ACME"
        _check(iss)
        shots(iss, "03-issuer-preview", doc=True)
        iss.click("#issue")
        iss.wait_for_selector("#license-file")
        assert "License issued" in iss.inner_text("#flash")
        license_text = iss.input_value("#license-file")
        assert "ACME" in license_text
        assert (iss.get_attribute("#mail-license", "href") or "").startswith("mailto:ada%40example.com") or "mailto:ada@example.com" in (
            iss.get_attribute("#mail-license", "href") or ""
        )
        _check(iss)
        shots(iss, "04-issuer-issued")
        with iss.expect_download() as dl:
            iss.click("#download-license")
        assert dl.value.suggested_filename == "acme-demo-cluster-serial1.lic"  # customer, cluster, serial
        lic_file = tmp_path / dl.value.suggested_filename
        dl.value.save_as(str(lic_file))
        assert lic_file.read_text().strip() == license_text.strip()
        demo.shared["license_text"] = license_text

        # 4. Back at the controller: upload the file, Activate; the console updates at once.
        ctl.goto(demo.controller + "/settings/license")
        ctl.set_input_files("#f-file", str(lic_file))
        ctl.click("#activate")
        ctl.wait_for_selector("#flash")
        assert "activated" in ctl.inner_text("#flash")
        assert ctl.locator("#license-banner").count() == 0
        assert ctl.inner_text("#license-state").strip() == "Valid"
        assert ctl.locator("#history tbody tr").count() == 1
        _check(ctl)
        shots(ctl, "05-controller-activated")

        # 5. The agents are admitted up to the limit: 5 of 8; the other 3 are refused at the limit.
        ctl.goto(demo.controller + "/")
        assert _nodes_used(ctl, "5 / 5") == "5 / 5"
        demo.wait_for_line(r"agents: 5 of 8 admitted; refused: 3 limit_reached")
        assert ctl.locator("#license-banner").count() == 0
        shots(ctl, "06-controller-valid", doc=True)
        ctl.click("nav >> text=Nodes")
        assert ctl.locator("#seats tbody tr").count() == 5
        shots(ctl, "07-controller-nodes")
        ctl.click("nav >> text=About")
        assert "ACME" in ctl.inner_text("#about")
        shots(ctl, "08-controller-about")

        # Air-gapped: the browser asked nothing of anyone but the two consoles.
        own = (demo.issuer, demo.controller)
        assert [u for u in demo.shared["requests"] if not u.startswith(own) and not u.startswith(("data:", "blob:"))] == []
        ctl_ctx.close()
        iss_ctx.close()


class TestRefusals:
    def _activate(self, page: Any, base: str, text: str) -> tuple[str, str]:
        page.goto(base + "/settings/license")
        page.fill("#f-key", text)
        page.click("#activate")
        page.wait_for_selector("#form-error")
        return page.inner_text("#form-error code").strip(), page.inner_text("#form-error .hint").strip()

    def test_foreign_and_damaged_keys_show_their_hint_and_change_nothing(self, browser: Any, demo: Any, shots: Any) -> None:
        """A key from another vendor and a damaged paste are refused on the page with code and hint; state and history stay."""
        ctx = _context(browser, demo, viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        _login(page, demo.controller, *demo.controller_login)
        page.goto(demo.controller + "/settings/license")
        state, rows = page.inner_text("#license-state"), page.locator("#history tbody tr").count()
        hint_before = page.inner_text("#license-hint")

        _key, inst = test_installation()
        foreign = TestVendor().issue(inst)
        code, hint = self._activate(page, demo.controller, foreign)
        assert code and "key" in hint.lower(), (code, hint)
        shots(page, "09-controller-refused-foreign")

        genuine = demo.shared.get("license_text") or foreign
        lines = genuine.splitlines()
        i = max(range(len(lines)), key=lambda n: len(lines[n]))  # the token's longest line
        mid = len(lines[i]) // 2
        lines[i] = lines[i][:mid] + ("A" if lines[i][mid] != "A" else "B") + lines[i][mid + 1 :]
        code2, hint2 = self._activate(page, demo.controller, "\n".join(lines))
        assert code2 and hint2
        assert page.input_value("#f-key").strip() == "\n".join(lines).strip()  # the paste is kept to fix
        shots(page, "10-controller-refused-damaged")

        page.goto(demo.controller + "/settings/license")
        assert page.inner_text("#license-state") == state
        assert page.inner_text("#license-hint") == hint_before
        assert page.locator("#history tbody tr").count() == rows
        ctx.close()


class TestLayout:
    def test_phone_width(self, browser: Any, demo: Any, shots: Any) -> None:
        """At phone width (390 px) the pages do not scroll sideways and the navigation wraps."""
        ctx = _context(browser, demo, viewport={"width": 390, "height": 844}, is_mobile=True)
        page = ctx.new_page()
        _login(page, demo.controller, *demo.controller_login)
        for path in ("/", "/settings/license", "/nodes"):
            page.goto(demo.controller + path)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        shots(page, "11-controller-phone")
        iss = ctx.new_page()
        _login(iss, demo.issuer, *demo.issuer_login)
        for path in ("/issue", "/licenses", "/renewals?days=400", "/keys"):
            iss.goto(demo.issuer + path)
            assert iss.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
            _check(iss)
        shots(iss, "12-issuer-phone")
        ctx.close()

    def test_sessions_and_csrf(self, browser: Any, demo: Any) -> None:
        """Pages need a session; a form post without the page's CSRF token is refused; repeated wrong passwords are refused."""
        ctx = _context(browser, demo)
        page = ctx.new_page()
        for base in (demo.controller, demo.issuer):
            page.goto(base + "/licenses" if base == demo.issuer else base + "/settings/license")
            assert "/login" in page.url
        _login(page, demo.controller, *demo.controller_login)
        r = page.request.post(demo.controller + "/settings/license/activate", multipart={"key": "x", "csrf_token": "forged"})
        assert r.status == 403
        # Guessing the password is cut short (this runs last: it locks this address out of the controller's sign-in).
        guess = demo.controller + "/login"
        # The login limit: 5 failures of one user name within 15 minutes (docs/SECURITY.md, "Credential guessing").
        codes = [page.request.post(guess, form={"username": "admin", "password": f"guess-{i}"}).status for i in range(11)]
        assert codes[:5] == [401] * 5 and codes[5:] == [429] * 6
        ctx.close()


class TestMainJob:
    def test_ctrl_c_stops_everything(self, demo: Any) -> None:
        """Ctrl-C (SIGINT) stops the agents, the controller and the issuer; the demo exits 0 and the ports are free."""
        demo.proc.send_signal(signal.SIGINT)
        assert demo.proc.wait(timeout=30) == 0
        time.sleep(0.5)
        assert "licensor demo: stopped" in demo.output()
        for url in (demo.issuer, demo.controller):
            u = urlsplit(url)
            with socket.socket() as s:
                assert s.connect_ex((u.hostname, u.port)) != 0, f"{url} still answers"
