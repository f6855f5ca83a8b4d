"""One renewal path in Debian's Chromium: a new request code from an installation with a live license offers to renew it
from the current end with its features carried over; renewing supersedes the old key.  The earlier licenses fit at
desktop width and scroll at phone width; choosing a plan sets the type on screen."""

from __future__ import annotations

import re
from typing import Any

import pytest

from licensor.identity import InstallationKey, hash_factors
from licensor.request import Contact, make_request
from licensor.testing import T0

from .test_consoles import _context, _login

pytestmark = pytest.mark.browser
PRODUCT = "renewal-demo"
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}


def _code(key: InstallationKey, nodes: int, months: int) -> str:
    factors = hash_factors(key.public_key, {"cluster": "c-7", "machine": "m-7"})
    contact = Contact("Rene Wal", "rene@example.com", "Renewal Ltd")
    return make_request(key, product=PRODUCT, version="1.0", contact=contact, nodes=nodes, months=months, factors=factors, now=T0)


def _preview(page: Any, base: str, code: str) -> None:
    page.goto(base + "/issue")
    page.fill("#f-request_code", code)
    page.click("#preview")
    page.wait_for_selector("#request-facts")


def _license_id(page: Any) -> str:
    page.wait_for_selector("#license-file")
    return str(page.url.split("/licenses/")[1].split("?")[0])


def _fits(page: Any, selector: str) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "s => { const e = document.querySelector(s); return {scroll: e.scrollWidth, client: e.clientWidth,"
            " overflow: getComputedStyle(e).overflowX, page: document.documentElement.scrollWidth}; }",
            selector,
        )
    )


class TestIssuerRenewal:
    def test_a_new_request_renews_the_live_license_from_its_end(self, browser: Any, demo: Any, shots: Any) -> None:
        ctx = _context(browser, demo, viewport=DESKTOP)
        page = ctx.new_page()
        _login(page, demo.issuer, *demo.issuer_login)
        key = InstallationKey.generate()
        _preview(page, demo.issuer, _code(key, 3, 12))
        assert page.is_visible("#no-earlier") and not page.is_visible("#renewal")
        page.fill("#f-features", "sso, multi-cluster")
        page.click("#issue")
        first = _license_id(page)
        end = re.search(r"Expires\s+(\S+ \S+ UTC)", page.inner_text("#license-facts"))
        assert end, page.inner_text("#license-facts")

        # The same installation asks again (other numbers): the preview offers renewal, carried over, from the end.
        _preview(page, demo.issuer, _code(key, 6, 3))
        assert page.inner_text("#renew-h") == f"3. Renew: extends from {end.group(1)}"
        assert page.input_value("#f-renew_features") == "multi-cluster, sso"
        assert (page.input_value("#f-renew_nodes"), page.input_value("#f-renew_remote_clusters")) == ("3", "0")
        assert "the request asks for 6 nodes, 3 months and 0 remote clusters" in page.inner_text("#renew-asks")
        diff = {r.split("\t")[0]: r.split("\t")[1:] for r in page.inner_text("#renew-diff tbody").splitlines()}
        assert diff["Features"] == ["multi-cluster, sso", "multi-cluster, sso", "Same"]
        assert diff["Expires"][0] == end.group(1) and diff["Expires"][2] == "Grows"
        # Desktop: every column of the earlier licenses is in view, none scrolled away.
        fit = _fits(page, "#earlier")
        assert fit["scroll"] <= fit["client"], fit
        assert page.is_visible("#earlier th:has-text('State')") and page.is_visible("#earlier th:has-text('Expires')")
        shots(page, "40-issuer-renewal-preview", doc=True)

        # The clerk looks at the request's numbers, then renews with them.
        page.click("#use-asked")
        page.wait_for_selector("#renew-diff")
        assert page.input_value("#f-renew_nodes") == "6"
        assert "Grows" in page.inner_text("#renew-diff tr:has-text('Nodes')")
        page.click("#renew")
        second = _license_id(page)
        facts = page.inner_text("#license-facts")
        assert "multi-cluster, sso" in facts and f"renew, supersedes {first[:8]}" in facts

        page.goto(demo.issuer + f"/licenses?q={key.id}")
        rows = {r.split("\t")[0].strip(): r for r in page.inner_text("table tbody").splitlines()}
        assert f"superseded by {second[:8]}" in rows[first[:8]]
        assert rows[second[:8]].rstrip().endswith("current")
        ctx.close()

        # At phone width the earlier licenses scroll inside their card, not the page.
        ctx = _context(browser, demo, viewport=PHONE)
        page = ctx.new_page()
        _login(page, demo.issuer, *demo.issuer_login)
        _preview(page, demo.issuer, _code(key, 6, 3))
        fit = _fits(page, "#earlier")
        assert fit["overflow"] == "auto" and fit["scroll"] > fit["client"] and fit["page"] <= PHONE["width"], fit
        page.eval_on_selector("#earlier", "e => e.scrollLeft = e.scrollWidth")
        state = page.locator("#earlier th:has-text('State')").bounding_box()
        assert state is not None and state["x"] + state["width"] <= PHONE["width"], state
        shots(page, "41-issuer-renewal-preview-phone")
        ctx.close()

    def test_choosing_a_plan_sets_the_type_and_its_defaults(self, browser: Any, demo: Any) -> None:
        ctx = _context(browser, demo, viewport=DESKTOP)
        page = ctx.new_page()
        _login(page, demo.issuer, *demo.issuer_login)
        _preview(page, demo.issuer, _code(InstallationKey.generate(), 3, 0))
        assert page.input_value("#f-type") == ""  # the plan's
        page.select_option("#f-plan", "perpetual")
        assert page.input_value("#f-type") == "perpetual"
        perpetual = page.eval_on_selector("#f-plan option[value=perpetual]", "o => o.dataset.months")
        assert page.input_value("#f-months") == perpetual
        page.fill("#f-nodes", "7")  # changed by the clerk: another plan leaves it
        page.select_option("#f-plan", "subscription")
        assert page.input_value("#f-type") == "subscription" and page.input_value("#f-nodes") == "7"
        page.select_option("#f-plan", "perpetual")
        page.click("#issue")
        page.wait_for_selector("#license-file")
        assert "perpetual (plan perpetual)" in page.inner_text("#license-facts")
        ctx.close()
