"""Bad input at the issuer's HTTP edges (API and console): a 4xx with code and hint, never a 500.

The issuer runs in this process (``create_app`` through httpx's ASGI transport, lifespan running);
the login bodies go to it under uvicorn on 127.0.0.1, since they check the connection stays open.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.inprocess import PASSWORD, Running, issuer

from licensor.codec import armour, b64encode
from licensor.testing import request_code

DEEP = 40_000  # far past any parser's recursion limit, well inside the body limit


def refused(r: httpx.Response, status: int | tuple[int, ...], code: str | None = None, field: str | None = None) -> dict[str, Any]:
    """``r`` is a refusal with ``status``, a code and a hint (naming ``field`` if given)."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    body = r.json()
    assert isinstance(body.get("code"), str) and body["code"], body
    assert isinstance(body.get("hint"), str) and len(body["hint"]) > 10 and body["hint"][:1].isupper(), body
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in body["hint"], body
    return dict(body)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with issuer(f"sqlite:///{tmp_path_factory.mktemp('issuer') / 'issuer.db'}") as run:
        yield run


@pytest.fixture(scope="module")
def srv_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """The issuer served by uvicorn on 127.0.0.1: keep-alive connections are the server's."""
    with issuer(f"sqlite:///{tmp_path_factory.mktemp('issuer') / 'issuer.db'}", socket=True) as run:
        yield run


@pytest.fixture(scope="module")
def license_id(srv: Running) -> str:
    _, code = request_code()
    with srv.client("admin") as c:
        r = c.post("/api/v1/licenses", json={"request_code": code, "nodes": 3})
        assert r.status_code == 201, r.text
        return str(r.json()["license_id"])


@contextmanager
def console(srv: Running) -> Iterator[tuple[httpx.Client, str]]:
    """A signed-in console browser and the CSRF token its forms carry."""
    with srv.client() as c:
        r = c.post("/login", data={"username": "ada", "password": PASSWORD, "next": "/issue"})
        assert r.status_code == 303, r.text
        page = c.get("/issue").text
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert m, page[:500]
        yield c, m.group(1)


class TestLogin:
    BAD = (
        b"{not json",
        b"[]",
        b"null",
        b'"ada"',
        b"\xff\xfe\x00\x81 not utf-8",
        b"[" * DEEP,
        b'{"a":' * DEEP,
        b'{"username": ["ada"], "password": {"x": 1}}',
        b'{"username": "ada"}',
        b"",
    )

    def test_malformed_login_bodies_are_refused_and_the_connection_stays(self, srv_socket: Running) -> None:
        """Defect 5: malformed JSON, [], null, non-UTF-8, deep JSON: 400/422 with code and hint; the next login on the
        same keep-alive connection works."""
        with srv_socket.client() as c:
            for body in self.BAD:
                r = c.post("/api/v1/login", content=body, headers={"content-type": "application/json"})
                refused(r, (400, 422))
            r = c.post("/api/v1/login", content=b"username=ada", headers={"content-type": "application/x-www-form-urlencoded"})
            refused(r, 422, field="password")
            r = c.post("/api/v1/login", json={"username": "ada", "password": PASSWORD})
            assert r.status_code == 200, r.text
            assert r.headers.get("connection", "").lower() != "close"


class TestNumbersAndDates:
    def test_huge_offset_is_a_field_error(self, tmp_path: Path, database_url: str) -> None:
        """Defect 6: offset 2^63 and beyond: 422 naming offset, not an OverflowError from the database (both backends)."""
        with issuer(database_url) as run, run.client("licenses:read") as c:
            for offset in (2**63, 2**64, 10**30):
                refused(c.get("/api/v1/licenses", params={"offset": offset}), 422, "invalid_request", "offset")
            assert c.get("/api/v1/licenses", params={"offset": 10}).status_code == 200

    @pytest.mark.parametrize(
        ("terms", "field"),
        [
            ({"months": 10**6}, "months"),
            ({"months": 10**10}, "months"),
            ({"nodes": 2**63}, "nodes"),
            ({"remote_clusters": 2**64}, "remote_clusters"),
            ({"expires": "2030-01-01T00:00:00"}, "expires"),
            ({"expires": "9999-12-31T00:00:00Z"}, "expires"),
            ({"expires": "9999-12-31T23:59:59-01:00"}, "expires"),
            ({"maintenance_until": "0001-01-01T00:00:00+01:00"}, "maintenance_until"),
            ({"maintenance_until": "2030-01-01"}, "maintenance_until"),
            ({"grace_days": False}, "grace_days"),
            ({"grace_days": 10**9}, "grace_days"),
            ({"nodes": "5"}, "nodes"),
            ({"nodes": True}, "nodes"),
        ],
    )
    def test_issue_and_renew_refuse_out_of_range_terms(self, srv: Running, license_id: str, terms: dict[str, Any], field: str) -> None:
        """Defects 6 and 11: months of 10^6 or 10^10, 2^63 nodes, a date without a time zone or past year 9000,
        grace_days false: 422 naming the field on issue and renew."""
        _, code = request_code()
        with srv.client("licenses:write") as c:
            refused(c.post("/api/v1/licenses", json={"request_code": code, **terms}), 422, "invalid_request", field)
            refused(c.post(f"/api/v1/licenses/{license_id}/renew", json=terms), 422, "invalid_request", field)

    def test_plans_refuse_bool_and_huge_numbers(self, srv: Running) -> None:
        """Defect 11: a plan's grace_days false is not 0; months past a century are refused."""
        with srv.client("catalog:write") as c:
            refused(c.put("/api/v1/plans/p", json={"type": "subscription", "grace_days": False}), 422, field="grace_days")
            refused(c.put("/api/v1/plans/p", json={"type": "subscription", "months": 10**10}), 422, field="months")
            assert c.put("/api/v1/plans/p", json={"type": "subscription", "grace_days": 7}).status_code == 200

    def test_console_forms_refuse_huge_numbers_inline(self, srv: Running, license_id: str) -> None:
        """Defect 6: the console's issue and renew forms show a form error (422 page), not a 500."""
        _, code = request_code()
        with console(srv) as (c, csrf):
            for field, value in (("months", "10000000000"), ("months", "1000000"), ("nodes", "9" * 30), ("grace_days", "x")):
                form = {"csrf_token": csrf, "request_code": code, "type": "subscription", field: value}
                r = c.post("/issue", data=form)
                assert r.status_code == 422 and "text/html" in r.headers["content-type"], (field, value, r.status_code, r.text[:300])
            for expires in ("9999-12-31", "not a date"):
                r = c.post("/issue", data={"csrf_token": csrf, "request_code": code, "type": "subscription", "expires": expires})
                assert r.status_code == 422 and "text/html" in r.headers["content-type"], (expires, r.status_code)
            r = c.post(f"/licenses/{license_id}/renew", data={"csrf_token": csrf, "months": "10000000000"})
            assert r.status_code == 422 and "Months" in r.text, r.status_code


class TestMail:
    INJECTIONS = ("a@b.c\nBcc: x@y.z", "a@b.c\r\nBcc: x@y.z", "a@b.c, x@y.z", "Ada <a@b.c>", "a@b.c\n", "not an address")

    def test_header_injection_in_the_address_is_a_400(self, srv: Running, license_id: str) -> None:
        """Defect 7: a line break, a second address or a display name in 'to' is a 400 invalid_email, nothing sent."""
        with srv.client("licenses:write") as c:
            for to in self.INJECTIONS:
                refused(c.post(f"/api/v1/licenses/{license_id}/send", json={"to": to}), 400, "invalid_email")

    def test_console_send_refuses_injection_inline(self, srv: Running, license_id: str) -> None:
        """Defect 7: the console's Send form shows the refusal on the license page, not a 500."""
        with console(srv) as (c, csrf):
            r = c.post(f"/licenses/{license_id}/send", data={"csrf_token": csrf, "to": "a@b.c\nBcc: x@y.z"})
            assert r.status_code == 422 and "invalid_email" in r.text, (r.status_code, r.text[:300])


def deep_report() -> str:
    """An armoured usage report whose JSON nests far past any parser's recursion limit."""
    return armour("LICENSOR USAGE REPORT", b64encode(b"[" * DEEP) + "." + b64encode(b"s" * 64), {"Month": "2026-10"})


class TestUsage:
    def test_deeply_nested_report_is_refused_not_a_500(self, srv: Running) -> None:
        """Defect 8: a usage report with absurdly nested JSON: 400 malformed from the API."""
        with srv.client("usage:write") as c:
            refused(c.post("/api/v1/usage-reports", json={"report": deep_report()}), 400, "malformed")

    def test_console_usage_upload_refuses_inline(self, srv: Running) -> None:
        """Defect 8: the console's usage import shows the refusal on the page."""
        with console(srv) as (c, csrf):
            r = c.post("/usage", data={"csrf_token": csrf, "report": deep_report()})
            assert r.status_code == 422 and "malformed" in r.text, (r.status_code, r.text[:300])
