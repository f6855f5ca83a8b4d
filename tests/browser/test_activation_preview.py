"""Issue 12, must show 1: in Debian's Chromium, a shrinking key needs confirmation and cancelling changes nothing.

A controller served on 127.0.0.1 with a test vendor's key in force (10 nodes, three years, multi-cluster);
the admin pastes a key ending in 10 days with 4 nodes and no multi-cluster: the console shows the
activation preview (current against new) instead of applying it.  Cancel leaves the license as it was;
"Activate anyway" applies it; a key that only grows activates at once.  The preview is
docs/screenshots/activation-preview.png (with LICENSOR_UPDATE_SCREENSHOTS=1).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.inprocess import PASSWORD, Running, controller

from .conftest import sign_in
from .test_accessibility import WIDTHS, Story, check_own_page

pytestmark = pytest.mark.browser


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Running]:
    with controller(f"sqlite:///{tmp_path / 'db.sqlite'}", socket=True) as run:
        yield run


def _key(run: Running, serial: int, **kw: Any) -> str:
    now = datetime.now(UTC) - timedelta(minutes=1)
    return str(run.extra["vendor"].issue(run.extra["installation"], serial=serial, now=now, **kw))


def _status(run: Running) -> dict[str, Any]:
    with run.client("admin") as c:
        doc = c.get("/api/v1/license").json()
    return {k: doc[k] for k in ("license_id", "nodes", "features", "expires", "maintenance_until")}


def _paste(page: Any, base: str, key: str) -> None:
    page.goto(base + "/settings/license")
    page.fill("#f-key", key)
    page.click("#activate")
    page.wait_for_load_state()


def _signed_in(browser: Any, ctl: Running) -> Any:
    """A page signed in as the admin, with a key in force: 10 nodes, 1 remote cluster, multi-cluster and sso, three years."""
    with ctl.client("admin") as c:
        first = _key(ctl, 1, nodes=10, remote_clusters=1, features=("multi-cluster", "sso"), months=36)
        assert c.post("/api/v1/license/activate", content=first, headers={"content-type": "text/plain"}).status_code == 200
    return sign_in(browser.new_context(viewport=WIDTHS["desktop"]).new_page(), ctl.base, "admin", PASSWORD)


def _short(ctl: Running) -> str:
    """A key ending in 10 days, with 4 nodes and without multi-cluster."""
    return _key(ctl, 2, nodes=4, remote_clusters=1, features=("sso",), expires=datetime.now(UTC) + timedelta(days=10))


def test_a_shrinking_key_needs_confirmation_and_cancel_changes_nothing(browser: Any, ctl: Running, shots: Any) -> None:
    """The preview shows current against new with what shrinks; Cancel changes nothing; Activate anyway applies it."""
    page = _signed_in(browser, ctl)
    before = _status(ctl)
    short = _short(ctl)
    _paste(page, ctl.base, short)
    assert page.locator("h1").inner_text() == "Settings → License → Activation preview"
    summary = page.locator("#preview-summary").inner_text()
    assert "this key lowers or shortens: nodes, features, expires, maintenance until." in summary
    trs = page.locator("#comparison tbody tr").all()
    rows = {r.locator("th").inner_text(): [td.inner_text() for td in r.locator("td").all()] for r in trs}
    assert rows["Nodes"] == ["10", "4", "Shrinks"]
    assert rows["Remote clusters"] == ["1", "1", "Same"]
    assert rows["Features"] == ["multi-cluster, sso", "sso", "Shrinks"]
    assert rows["Expires"][2] == "Shrinks" and rows["Maintenance until"][2] == "Shrinks"
    shots(page, "90-activation-preview", doc=True)
    assert _status(ctl) == before  # shown, not applied

    page.click("#cancel-activation")
    page.wait_for_url(ctl.base + "/settings/license")
    assert _status(ctl) == before
    assert page.locator("#history tbody tr").count() == 1

    _paste(page, ctl.base, short)
    page.click("#activate-anyway")
    page.wait_for_url("**/settings/license?activated=*")
    after = _status(ctl)
    assert after["nodes"] == 4 and after["features"] == ["sso"] and after["license_id"] != before["license_id"]

    _paste(page, ctl.base, _key(ctl, 3, nodes=6, remote_clusters=1, features=("sso",), months=24))  # only grows
    page.wait_for_url("**/settings/license?activated=*")
    assert _status(ctl)["nodes"] == 6
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_preview_has_no_serious_accessibility_violation(browser: Any, ctl: Running, axe: str, width: str) -> None:
    """axe-core on the activation preview (a page shown after a POST, so not in test_accessibility's tables)."""
    page = _signed_in(browser, ctl)
    state = page.context.storage_state()
    page.context.close()
    short = _short(ctl)

    def open_preview(p: Any, base: str, _: Story) -> None:
        _paste(p, base, short)
        p.wait_for_selector("#comparison")

    check_own_page(browser, axe, "controller-activation-preview", width, ctl.base, state, open_preview)
