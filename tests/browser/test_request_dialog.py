"""Issue 12: the Request code dialog and About's maintenance coverage, in Debian's Chromium.

A controller served on 127.0.0.1 with a test vendor's key in force (10 nodes, 1 remote cluster, three years).
About says whether this build is covered by maintenance (the build date is ``$LICENSOR_BUILD_DATE``, read per
page); the Request code flow works without JavaScript (a link to its own page, a form POST, a result page); it is
prefilled from the license in force and from the link's query; the result lists what was asked and has one row of
actions; its QR code is at least 300 px wide; Escape leaves the code on screen.  Screenshots: test-artifacts/browser/9[12]-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from licensor import __version__
from licensor.request import decode_request
from tests.inprocess import PASSWORD, Running, controller

from .conftest import sign_in
from .test_accessibility import WIDTHS

pytestmark = pytest.mark.browser


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Running]:
    with controller(f"sqlite:///{tmp_path / 'db.sqlite'}", socket=True) as run:
        yield run


def _activate(run: Running) -> dict[str, Any]:
    """A key in force: 10 nodes, 1 remote cluster, 36 months; its status document."""
    key = run.extra["vendor"].issue(
        run.extra["installation"], now=datetime.now(UTC) - timedelta(minutes=1), nodes=10, remote_clusters=1, months=36
    )
    with run.client("admin") as c:
        assert c.post("/api/v1/license/activate", content=str(key), headers={"content-type": "text/plain"}).status_code == 200
        doc: dict[str, Any] = c.get("/api/v1/license").json()
    return doc


def _page(browser: Any, run: Running, width: str = "desktop", **kw: Any) -> Any:
    """A page signed in as the admin (``java_script_enabled=False`` and the like go to the context)."""
    page = browser.new_context(viewport=WIDTHS[width], is_mobile=width == "phone", **kw).new_page()
    page.set_default_timeout(15_000)
    return sign_in(page, run.base, "admin", PASSWORD)


def _fields(page: Any) -> dict[str, str]:
    return {n: page.input_value(f"#f-{n}") for n in ("name", "email", "company", "nodes", "remote_clusters", "months")}


def _qr_width(page: Any) -> float:
    box = page.locator("#request-qr svg").bounding_box()
    assert box is not None
    return float(box["width"])


def test_about_states_whether_this_build_is_covered(browser: Any, ctl: Running, monkeypatch: pytest.MonkeyPatch, shots: Any) -> None:
    """No license: About says so; a build made before maintenance ends is covered; one made after it is not, and About says
    to request a renewal (the link opens the Request code page)."""
    monkeypatch.setenv("LICENSOR_BUILD_DATE", "2026-05-01")
    page = _page(browser, ctl)
    page.goto(ctl.base + "/about")
    assert "is not covered by maintenance: no license is activated here." in page.inner_text("#coverage")

    doc = _activate(ctl)
    until = doc["maintenance_until"][:10]
    built = datetime.now(UTC).strftime("%Y-%m-%d")
    monkeypatch.setenv("LICENSOR_BUILD_DATE", built)
    page.goto(ctl.base + "/about")
    text = page.inner_text("#coverage")
    assert f"This build (licensor {__version__}, built {built}) is covered by maintenance until {until}." in text
    assert page.locator("#coverage a").count() == 0

    late = (datetime.fromisoformat(until) + timedelta(days=1)).strftime("%Y-%m-%d")
    monkeypatch.setenv("LICENSOR_BUILD_DATE", late)
    page.goto(ctl.base + "/about")
    text = page.inner_text("#coverage")
    assert f"This build (licensor {__version__}, built {late}) was built after maintenance ended on {until}: it keeps running" in text
    assert "Request a renewal of maintenance from your vendor" in text
    shots(page, "91-about-not-covered")
    page.click("#coverage >> text=Request a renewal")
    page.wait_for_url(ctl.base + "/settings/license/request")
    assert _fields(page)["nodes"] == "10"
    page.context.close()


def test_the_request_flow_works_without_javascript(browser: Any, ctl: Running, shots: Any) -> None:
    """JavaScript off: Request code is a link to the form's page, prefilled from the license; Generate posts it and the
    result page shows the code, what was asked, Download and a QR code at least 300 px wide."""
    _activate(ctl)
    page = _page(browser, ctl, java_script_enabled=False)
    page.goto(ctl.base + "/settings/license")
    page.click("#request-code")
    page.wait_for_url(ctl.base + "/settings/license/request")
    assert page.is_visible("#request-prefilled")
    assert _fields(page) == {"name": "", "email": "", "company": "Test Customer", "nodes": "10", "remote_clusters": "1", "months": "36"}
    page.fill("#f-name", "Ada Admin")
    page.fill("#f-email", "ada@example.com")
    page.fill("#f-nodes", "12")
    page.click("#generate")
    page.wait_for_selector("#request-code-text")
    code = page.input_value("#request-code-text")
    asked = decode_request(code)
    assert (asked.nodes, asked.remote_clusters, asked.months, asked.contact.company) == (12, 1, 36, "Test Customer")
    summary = page.inner_text("#request-summary")
    assert "Ada Admin <ada@example.com>" in summary and asked.installation_id in summary
    actions = page.locator("#request-actions")
    tops = {round(actions.locator(s).bounding_box()["y"]) for s in ("[data-copy]", "#download-request", "#mail-request")}
    assert len(tops) == 1, "copy, download and e-mail are one row"
    assert _qr_width(page) >= 300
    shots(page, "92-request-code", doc=True)
    with page.expect_download() as dl:
        page.click("#download-request")
    assert dl.value.suggested_filename == f"{asked.installation_id.lower()}-request-{asked.created_at:%Y-%m-%d}.txt"
    assert code.split("-")[1] in dl.value.path().read_text()

    page.goto(ctl.base + "/settings/license/request")  # the contact is remembered for the next request
    assert _fields(page)["email"] == "ada@example.com"
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_dialog_is_prefilled_and_escape_keeps_the_code(browser: Any, ctl: Running, width: str) -> None:
    """JavaScript on: the dialog opens on the License page, prefilled; Escape closes it before a code is made; the code is a
    page of its own, so Escape afterwards leaves it on screen; the QR code is at least 300 px wide at both widths."""
    _activate(ctl)
    page = _page(browser, ctl, width)
    page.goto(ctl.base + "/settings/license")
    page.click("#request-code")
    page.wait_for_selector("#request-dialog[open]")
    assert page.url == ctl.base + "/settings/license"  # opened in place
    assert _fields(page)["nodes"] == "10" and _fields(page)["months"] == "36"
    page.keyboard.press("Escape")
    page.wait_for_selector("#request-dialog:not([open])", state="attached")
    page.click("#request-code")
    page.fill("#f-name", "Ada Admin")
    page.fill("#f-email", "ada@example.com")
    page.click("#generate")
    page.wait_for_selector("#request-code-text")
    code = page.input_value("#request-code-text")
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert page.is_visible("#request-code-text") and page.input_value("#request-code-text") == code
    assert page.is_visible("#request-qr svg") and _qr_width(page) >= 300
    page.click("#copy-request")
    page.wait_for_selector("#request-actions .copied:text('Copied')")
    page.context.close()


def test_the_link_prefills_what_it_asks_for(browser: Any, ctl: Running) -> None:
    """ "Ask for N more nodes" links here with ?nodes=N (and remote_clusters, months); a number out of bounds is named."""
    _activate(ctl)
    page = _page(browser, ctl)
    page.goto(ctl.base + "/settings/license/request?nodes=15&remote_clusters=3&months=24")
    assert {k: v for k, v in _fields(page).items() if k in ("nodes", "remote_clusters", "months")} == {
        "nodes": "15",
        "remote_clusters": "3",
        "months": "24",
    }
    page.goto(ctl.base + "/settings/license/request?months=5000")
    assert "Months must be a whole number from 1 to 1,200" in page.inner_text("#form-error")
    assert _fields(page)["months"] == "36"
    page.context.close()
