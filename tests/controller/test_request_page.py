"""The console's Request code page: prefilled for a renewal and from the link's query, checked, and its result.

In process on SQLite (the renewal also on PostgreSQL): the form as a page of its own (/settings/license/request),
what it starts from (the license in force, the last contact, ``?nodes=&remote_clusters=&months=``), the refusals it
shows inline, the result page (what was asked, one row of actions, the QR code), the download's name, the CSRF
check, and About's maintenance coverage.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.request import decode_request
from tests.inprocess import PASSWORD, Running, controller

GOOD = {"name": "Ada Admin", "email": "ada@example.com", "company": "ACME", "nodes": "5", "months": "12", "remote_clusters": "1"}


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Running]:
    with controller(f"sqlite:///{tmp_path / 'c.db'}") as r:
        yield r


@pytest.fixture
def run_both(database_url: str) -> Iterator[Running]:
    """A controller on SQLite, then on PostgreSQL (where the page stores something)."""
    with controller(database_url) as r:
        yield r


def _signed_in(run: Running) -> Iterator[tuple[httpx.Client, str]]:
    c = run.client()
    assert c.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/"}).status_code == 303
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/settings/license").text)
    assert m
    yield c, m.group(1)
    c.close()


@pytest.fixture
def console(run: Running) -> Iterator[tuple[httpx.Client, str]]:
    yield from _signed_in(run)


@pytest.fixture
def console_both(run_both: Running) -> Iterator[tuple[httpx.Client, str]]:
    yield from _signed_in(run_both)


def _values(html: str) -> dict[str, str]:
    """The request form's field values as the page shows them."""
    names = ("name", "email", "company", "nodes", "months", "remote_clusters")
    out = {}
    for n in names:
        m = re.search(rf'<input id="f-{n}" name="{n}" type="[a-z]+" value="([^"]*)"', html)
        assert m, n
        out[n] = unescape(m.group(1))
    return out


def _activate(run: Running, **kw: Any) -> None:
    key = str(run.extra["vendor"].issue(run.extra["installation"], now=datetime.now(UTC) - timedelta(minutes=1), **kw))
    with run.client("admin") as api:
        assert api.post("/api/v1/license/activate", content=key, headers={"content-type": "text/plain"}).status_code == 200


def test_the_form_is_a_page_and_takes_the_query(console: tuple[httpx.Client, str]) -> None:
    c, _ = console
    r = c.get("/settings/license/request")
    assert r.status_code == 200 and "<h1>Settings → License → Request code</h1>" in r.text
    assert _values(r.text) == {"name": "", "email": "", "company": "", "nodes": "", "months": "12", "remote_clusters": "0"}
    assert "Request a license" in r.text and "request-prefilled" not in r.text
    r = c.get("/settings/license/request?nodes=15&remote_clusters=2&months=24")
    assert {k: _values(r.text)[k] for k in ("nodes", "remote_clusters", "months")} == {
        "nodes": "15",
        "remote_clusters": "2",
        "months": "24",
    }
    r = c.get("/settings/license/request?nodes=0&months=12")
    assert r.status_code == 200 and 'id="form-error"' in r.text and "Nodes must be a whole number from 1" in unescape(r.text)
    assert _values(r.text)["nodes"] == ""  # not prefilled from a link out of bounds


def test_a_renewal_starts_from_the_license_and_the_last_contact(run_both: Running, console_both: tuple[httpx.Client, str]) -> None:
    c, csrf = console_both
    _activate(run_both, nodes=7, remote_clusters=2, months=36, customer="Globex")
    r = c.get("/settings/license/request")
    assert "Request a renewal" in r.text and 'id="request-prefilled"' in r.text
    assert _values(r.text) == {"name": "", "email": "", "company": "Globex", "nodes": "7", "months": "36", "remote_clusters": "2"}
    assert c.post("/settings/license/request", data={"csrf_token": csrf, **GOOD, "company": "Globex"}).status_code == 200
    r = c.get("/settings/license/request?nodes=12")  # "Ask for 5 more nodes"
    assert _values(r.text) == {
        "name": "Ada Admin",
        "email": "ada@example.com",
        "company": "Globex",
        "nodes": "12",
        "months": "36",
        "remote_clusters": "2",
    }
    dialog = c.get("/settings/license").text  # the License page's dialog starts from the same
    assert _values(dialog)["nodes"] == "7" and _values(dialog)["email"] == "ada@example.com"


def test_the_result_says_what_was_asked_with_one_row_of_actions(run: Running, console: tuple[httpx.Client, str]) -> None:
    c, csrf = console
    r = c.post("/settings/license/request", data={"csrf_token": csrf, **GOOD})
    assert r.status_code == 200, r.text[:300]
    code = unescape(re.search(r'<textarea id="request-code-text"[^>]*>([^<]+)</textarea>', r.text).group(1))  # type: ignore[union-attr]
    asked = decode_request(code)
    summary = unescape(re.search(r'<dl class="facts" id="request-summary">(.*?)</dl>', r.text, re.S).group(1))  # type: ignore[union-attr]
    for fact in ("Ada Admin <ada@example.com>", "ACME", "<dd>5</dd>", "<dd>1</dd>", "<dd>12</dd>", asked.installation_id):
        assert fact in summary, fact
    actions = re.search(r'<div class="actions" id="request-actions">(.*?)</div>', r.text, re.S).group(1)  # type: ignore[union-attr]
    assert all(x in actions for x in ('data-copy="request-code-text"', 'id="download-request"', 'id="mail-request" href="mailto:'))
    day = asked.created_at.strftime("%Y-%m-%d")
    name = f"{asked.installation_id.lower()}-request-{day}.txt"
    assert name in actions  # no cluster name set: the installation names it
    assert re.search(r'<div class="qr" id="request-qr"><svg role="img" aria-label="QR code of the request code"[^>]* viewBox=', r.text)
    d = c.post("/settings/license/request/download", data={"csrf_token": csrf, "code": code})
    assert d.status_code == 200 and d.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert code.split("-")[1] in d.text


def test_the_download_is_named_after_the_cluster(run: Running, console: tuple[httpx.Client, str]) -> None:
    c, csrf = console
    form = {"csrf_token": csrf, "cluster_name": "prod eu/1", "vendor_email": "licensing@vendor.example"}
    assert c.post("/settings/configuration", data=form).status_code == 303
    r = c.post("/settings/license/request", data={"csrf_token": csrf, **GOOD})
    code = unescape(re.search(r'<textarea id="request-code-text"[^>]*>([^<]+)</textarea>', r.text).group(1))  # type: ignore[union-attr]
    day = decode_request(code).created_at.strftime("%Y-%m-%d")
    d = c.post("/settings/license/request/download", data={"csrf_token": csrf, "code": code})
    assert d.headers["content-disposition"] == f'attachment; filename="prod-eu-1-request-{day}.txt"'
    assert 'href="mailto:licensing@vendor.example?' in r.text


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("nodes", "0", "Nodes must be a whole number from 1 to"),
        ("nodes", "", "fill them in"),
        ("months", "1201", "Months must be a whole number from 1 to 1,200"),
        ("months", "0", "Months must be a whole number from 1 to 1,200"),
        ("remote_clusters", "-1", "Remote clusters must be a whole number from 0 to"),
        ("email", "not an address", "The e-mail must be one plain address"),
        ("name", "", "The contact name is empty"),
    ],
)
def test_refusals_are_shown_inline_with_what_was_typed(console: tuple[httpx.Client, str], field: str, value: str, says: str) -> None:
    c, csrf = console
    r = c.post("/settings/license/request", data={"csrf_token": csrf, **GOOD, field: value})
    assert r.status_code == 422 and 'id="form-error"' in r.text and says in unescape(r.text), unescape(r.text)[:2000]
    assert "request-code-text" not in r.text
    assert _values(r.text)[field] == value and _values(r.text)["company"] == "ACME"


def test_a_post_without_the_csrf_token_makes_nothing(console: tuple[httpx.Client, str]) -> None:
    c, csrf = console
    for form in (GOOD, {**GOOD, "csrf_token": csrf[:-2] + "xx"}):
        r = c.post("/settings/license/request", data=form)
        assert r.status_code == 403 and "request-code-text" not in r.text


@pytest.mark.parametrize(
    ("built", "says"),
    [
        ("2026-01-02", "is covered by maintenance until"),
        ("2999-01-01", "was built after maintenance ended on"),
    ],
)
def test_about_says_whether_this_build_is_covered(
    run: Running, console: tuple[httpx.Client, str], monkeypatch: pytest.MonkeyPatch, built: str, says: str
) -> None:
    c, _ = console
    monkeypatch.setenv("LICENSOR_BUILD_DATE", built)
    r = c.get("/about")
    assert "is not covered by maintenance: no license is activated here." in unescape(r.text)
    _activate(run, months=12)
    text = unescape(c.get("/about").text)
    from licensor import __version__

    assert f"This build (licensor {__version__}, built {built}) {says}" in text
    assert ("Request a renewal" in text) == (built > "2100")
