"""The issuer's license list in Debian's Chromium: search by cluster name, renewals due in 30/60/90 days, the CSV download."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from licensor.identity import InstallationKey, hash_factors
from licensor.request import Contact, make_request

from .test_consoles import _context, _login

pytestmark = pytest.mark.browser


def _issue(demo: Any, tmp: Path, cluster: str, customer: str, days: int) -> str:
    """A license expiring ``days`` days from today (midnight UTC), issued through the command on the demo's database."""
    key = InstallationKey.generate()
    factors = hash_factors(key.public_key, {"cluster": uuid.uuid4().hex, "machine": "m-1"})
    contact = Contact("Lin Clerk", "lin@example.com", customer)
    now = datetime.now(UTC)
    terms: dict[str, Any] = {"nodes": 3, "months": 12, "factors": factors, "cluster_name": cluster, "now": now}
    code = make_request(key, product="demo", version="1.0", contact=contact, **terms)
    request = tmp / f"{cluster}.txt"
    request.write_text(code)
    expires = (now + timedelta(days=days)).strftime("%Y-%m-%d")
    argv = [sys.executable, "-m", "licensor", "vendor", "issue", str(request), "--nodes", "3", "--type", "subscription"]
    argv += ["--customer", customer, "--expires", expires, "--out", str(tmp / f"{cluster}.lic"), "--data-dir", str(demo.data_dir)]
    ran = subprocess.run(argv, check=True, capture_output=True, text=True)
    found = re.search(r"Issued license (\S+)", ran.stderr)
    assert found, ran.stderr
    return found.group(1)


def test_search_renewals_due_and_csv(browser: Any, demo: Any, shots: Any, tmp_path: Path) -> None:
    """A clerk finds a license by part of its cluster name, sees it among the renewals due, and downloads the list as CSV."""
    run = uuid.uuid4().hex[:6]
    ids = {days: _issue(demo, tmp_path, f"listing-{run}-{days}", f"Listing {run} {days}", days) for days in (15, 45, 75, 120)}
    ctx = _context(browser, demo)
    page = ctx.new_page()
    _login(page, demo.issuer, *demo.issuer_login)

    page.click("nav[aria-label=Main] a[href='/licenses']")
    page.fill("#f-q", f"LISTING-{run}-4")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_selector("#found-h")
    assert page.inner_text("#found-h") == "1 license found"
    assert f"listing-{run}-45" in page.inner_text("table tbody")
    assert page.locator(f"table tbody a[href='/licenses/{ids[45]}']").count() == 1

    windows = {30: {15}, 60: {15, 45}, 90: {15, 45, 75}}
    page.click("nav[aria-label=Main] a[href='/renewals']")
    for days, due in windows.items():
        page.click(f"a[href='/renewals?days={days}']")
        page.wait_for_selector(f"a[href='/renewals?days={days}'][aria-current=page]")
        body = page.inner_text("table tbody")
        for d in ids:
            assert (f"listing-{run}-{d}" in body) == (d in due), (days, d, body)
        assert page.locator(f"a[href='/licenses/{ids[15]}#renew-h']").count() == 1
        row = page.locator("table tbody tr", has_text=f"listing-{run}-15").inner_text()
        assert re.search(r"\b1[45] days\b", row), row
    shots(page, "50-issuer-renewals-due", doc=True)

    with page.expect_download() as dl:
        page.click("a[href^='/licenses.csv']")
    download = dl.value
    assert re.fullmatch(r"renewals-due-90-days-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    mine = {r["license_id"] for r in rows if r["cluster_name"].startswith(f"listing-{run}-")}
    assert mine == {ids[15], ids[45], ids[75]}
    assert all(0 < int(r["days_left"]) <= 90 and r["state"] in ("current", "expiring soon") for r in rows)
    page.click(f"table tbody a[href='/licenses/{ids[15]}#renew-h']")
    page.wait_for_selector("#renew-h")
    assert ids[15] in page.url
    ctx.close()
