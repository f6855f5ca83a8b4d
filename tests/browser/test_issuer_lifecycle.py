"""The issuer's lifecycle in Debian's Chromium: a new key from a new request supersedes the old one; bad issue forms are refused."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from licensor.identity import InstallationKey, hash_factors
from licensor.request import Contact, make_request
from licensor.testing import T0

from .test_consoles import _context, _login

pytestmark = pytest.mark.browser
PRODUCT = "lifecycle-demo"


def _code(key: InstallationKey, nodes: int = 3) -> str:
    factors = hash_factors(key.public_key, {"cluster": "c-9", "machine": "m-9"})
    contact = Contact("Lin Clerk", "lin@example.com", "Lifecycle Ltd")
    return make_request(key, product=PRODUCT, version="1.0", contact=contact, nodes=nodes, months=12, factors=factors, now=T0)


def _preview(page: Any, base: str, code: str) -> None:
    page.goto(base + "/issue")
    page.fill("#f-request_code", code)
    page.click("#preview")
    page.wait_for_selector("#request-facts")


def _issue(page: Any, base: str, code: str) -> str:
    _preview(page, base, code)
    page.click("#issue")
    page.wait_for_selector("#license-file")
    return str(page.url.split("/licenses/")[1].split("?")[0])


def _refused(page: Any, words: str) -> None:
    page.click("#issue")
    page.wait_for_selector("#form-error")
    assert words in page.content(), page.content()[:3000]
    assert "/issue" in page.url


class TestIssuerLifecycle:
    def test_new_request_supersedes_the_old_key_in_the_list(self, browser: Any, demo: Any, shots: Any) -> None:
        """Issuing for an installation that has a live key marks that key superseded in the console's list."""
        ctx = _context(browser, demo)
        page = ctx.new_page()
        _login(page, demo.issuer, *demo.issuer_login)
        key = InstallationKey.generate()
        first = _issue(page, demo.issuer, _code(key, 3))
        assert page.inner_text("#license-state") == "current"
        second = _issue(page, demo.issuer, _code(key, 6))
        page.goto(demo.issuer + f"/licenses?q={key.id}")
        rows = {r.split("\t")[0].strip(): r for r in page.inner_text("table tbody").splitlines()}
        assert f"superseded by {second[:8]}" in rows[first[:8]]
        assert rows[second[:8]].rstrip().endswith("current")
        shots(page, "30-issuer-superseded")
        page.goto(demo.issuer + f"/licenses/{first}")
        assert page.inner_text("#license-state") == f"superseded by {second[:8]}"
        ctx.close()

    def test_invalid_issue_forms_are_refused(self, browser: Any, demo: Any, shots: Any) -> None:
        """0 nodes, an unknown feature without confirmation, plan perpetual with type subscription and a past expiry."""
        argv = [sys.executable, "-m", "licensor", "vendor", "product-set", PRODUCT, "--feature", "multi-cluster"]
        subprocess.run([*argv, "--data-dir", str(demo.data_dir)], check=True, capture_output=True)
        ctx = _context(browser, demo)
        page = ctx.new_page()
        _login(page, demo.issuer, *demo.issuer_login)
        code = _code(InstallationKey.generate())
        _preview(page, demo.issuer, code)
        page.fill("#f-nodes", "0")
        assert page.evaluate("document.querySelector('#f-nodes').validity.rangeUnderflow")  # the browser says so first
        page.evaluate("document.querySelector('#f-nodes').removeAttribute('min')")  # and the server refuses too
        _refused(page, "A license needs at least 1 node")
        page.fill("#f-nodes", "3")
        page.fill("#f-features", "multi-clustr")
        _refused(page, "has no feature multi-clustr: its catalogue is multi-cluster")
        shots(page, "31-issuer-unknown-feature")
        page.fill("#f-features", "")
        page.select_option("#f-plan", "perpetual")
        page.select_option("#f-type", "subscription")
        _refused(page, "The plan perpetual is perpetual, not subscription")
        page.select_option("#f-plan", "subscription")
        page.fill("#f-expires", "2020-01-01")
        _refused(page, "is already past")
        # With the explicit confirmation the unknown feature is issued.
        page.fill("#f-expires", "")
        page.fill("#f-features", "multi-clustr")
        page.check("#f-allow-unknown")
        page.click("#issue")
        page.wait_for_selector("#license-file")
        assert "multi-clustr" in page.inner_text("#license-facts")
        ctx.close()
