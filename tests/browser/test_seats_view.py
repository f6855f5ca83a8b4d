"""Issue 12, the Seats page in Debian's Chromium: who was refused, in words, and the link that asks for more.

A controller served on 127.0.0.1 with a key for 5 nodes; 8 agents join through the HTTP API.  The Seats page lists
the 3 refused, each once, with the plain reason before the code; "Ask for 3 more nodes" opens the Request code
dialog with nodes=8.  After a node leaves and a refused one joins, that one is no longer listed.  axe-core checks the
page with refusals and a chart on it, at desktop and phone width.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.inprocess import PASSWORD, Running, controller

from .conftest import sign_in
from .test_accessibility import WIDTHS, Story, check_own_page

pytestmark = pytest.mark.browser


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Running]:
    """A controller with a key for 5 nodes in force, and 8 agents that tried to join: n0 … n4 hold seats."""
    with controller(f"sqlite:///{tmp_path / 'db.sqlite'}", socket=True) as run:
        key = run.extra["vendor"].issue(run.extra["installation"], nodes=5, serial=1, now=datetime.now(UTC) - timedelta(minutes=1))
        secrets: dict[str, str] = {}
        with run.client("admin") as c:
            assert c.post("/api/v1/license/activate", content=key, headers={"content-type": "text/plain"}).status_code == 200
        with run.client("agent") as c:
            for i in range(8):
                r = c.post("/api/v1/nodes/join", json={"node_id": f"n{i}"})
                assert r.status_code == (200 if i < 5 else 422), r.text
                if r.status_code == 200:
                    secrets[f"n{i}"] = r.json()["seat_secret"]
        run.extra["secrets"] = secrets
        yield run


def _signed_in(browser: Any, ctl: Running, width: str = "desktop") -> Any:
    page = browser.new_context(viewport=WIDTHS[width]).new_page()
    page.set_default_timeout(15_000)
    return sign_in(page, ctl.base, "admin", PASSWORD)


def _refused(page: Any) -> dict[str, str]:
    """The refused table: id -> the Why cell."""
    rows = page.locator("#refused tbody tr").all()
    return {r.locator("td").nth(0).inner_text(): r.locator("td").nth(2).inner_text() for r in rows}


def test_the_refused_are_listed_in_words_and_the_link_asks_for_them(browser: Any, ctl: Running, shots: Any) -> None:
    """3 of 8 refused at 5: listed once each with the reason, the ask link carries nodes=8, a seated one leaves the list."""
    page = _signed_in(browser, ctl)
    page.click("nav[aria-label=Main] >> text=Seats")
    page.wait_for_selector("#refused")
    assert page.locator("#refusal-groups li").all_inner_texts() == [
        "3 nodes were refused because the license allows 5 nodes (limit_reached)."
    ]
    assert _refused(page) == dict.fromkeys(("n7", "n6", "n5"), "The license allows 5 nodes and 5 were in use (limit_reached)")
    assert page.locator("#refused-count").inner_text() == "3"
    assert page.locator("#chart-node > title").text_content() == "Nodes used against the limit, by month"
    shots(page, "95-seats-view", doc=True)

    link = page.locator("#ask-more")
    assert link.inner_text() == "Ask for 3 more nodes"
    href = link.get_attribute("href")
    assert urlsplit(href).path == "/settings/license/request" and parse_qs(urlsplit(href).query)["nodes"] == ["8"]
    link.click()
    page.wait_for_selector("#request-form")
    assert parse_qs(urlsplit(page.url).query)["nodes"] == ["8"]
    assert page.input_value("#f-nodes") == "8"  # the request page is prefilled with what the refused nodes need

    with ctl.client("agent") as c:
        assert c.delete("/api/v1/nodes/n0", headers={"x-seat-secret": ctl.extra["secrets"]["n0"]}).status_code == 200
        assert c.post("/api/v1/nodes/join", json={"node_id": "n6"}).status_code == 200
    page.goto(ctl.base + "/seats")
    assert set(_refused(page)) == {"n5", "n7"}
    assert page.locator("#ask-more").inner_text() == "Ask for 2 more nodes"
    page.goto(ctl.base + "/")
    assert page.locator("#refusal-groups li").all_inner_texts() == [
        "2 nodes were refused because the license allows 5 nodes (limit_reached)."
    ]
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_seats_page_with_refusals_has_no_serious_accessibility_violation(browser: Any, ctl: Running, axe: str, width: str) -> None:
    """axe-core on the Seats page with refused nodes, the ask link and the chart (the demo's page in test_accessibility has none)."""
    page = _signed_in(browser, ctl)
    state = page.context.storage_state()
    page.context.close()

    def open_seats(p: Any, base: str, _: Story) -> None:
        p.goto(base + "/seats")
        p.wait_for_selector("#refused")

    check_own_page(browser, axe, "controller-seats-refused", width, ctl.base, state, open_seats)
