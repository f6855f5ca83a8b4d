"""Bad input to every endpoint of the OpenAPI document: 4xx with code and hint, never 5xx."""

from __future__ import annotations

import os
from typing import Any

import httpx

from .conftest import Server

PATH_VALUES = {"seat_id": "n1", "name": "sso", "month": "2026-01"}
BAD_IDS = ["a b", "..", "x" * 500, "%00", "é", "-leading-dash", "%2F%2F"]
BODIES: list[tuple[str, bytes | None]] = [
    ("application/json", None),
    ("application/json", b""),
    ("application/json", b"{}"),
    ("application/json", b"[]"),
    ("application/json", b'"text"'),
    ("application/json", b"{not json"),
    ("application/json", b'{"node_id": 5, "cluster_id": [1], "key": {}}'),
    ("application/json", b'{"node_id": null, "cluster_id": null, "name": 1, "nodes": "many", "months": -1}'),
    ("application/json", b'{"node_id": "ok", "extra": "field"}'),
    ("application/json", b'{"name": "x", "email": "a@b.c", "company": "c", "nodes": 1e400, "months": true}'),
    ("application/json", b"\xff\xfe\x00binary\x00" * 10),
    ("application/json", b"[" * 50_000),
    ("application/octet-stream", os.urandom(2048)),
    ("text/plain", b"\x00\x01\x02 not a key"),
    ("text/plain", "v4.public.\u00e9\u200b".encode()),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; name=other\r\n\r\nv\r\n--xyz--\r\n"),
    ("multipart/form-data; boundary=xyz", b"garbage"),
    ("application/x-www-form-urlencoded", b"node_id=a&node_id=b"),
]
HUGE = b"{" + b'"a":"' + b"x" * (1024 * 1024) + b'"}'


def endpoints(server: Server) -> list[tuple[str, str]]:
    doc = server.http.get("/openapi.json").json()
    out = []
    for path, methods in doc["paths"].items():
        for method in methods:
            out.append((method.upper(), path))
    return out


def fill(path: str, **override: str) -> str:
    for name, value in {**PATH_VALUES, **override}.items():
        path = path.replace("{" + name + "}", value)
    return path


def assert_clean(r: httpx.Response, where: str) -> dict[str, Any]:
    assert r.status_code < 500, f"{where}: {r.status_code} {r.text[:300]}"
    if r.status_code >= 400:
        body = r.json()
        assert isinstance(body.get("code"), str) and body["code"], f"{where}: {body}"
        assert isinstance(body.get("hint"), str) and len(body["hint"]) > 10, f"{where}: {body}"
        return dict(body)
    return {}


class TestBadInput:
    def test_every_endpoint_refuses_bad_input_with_code_and_hint(self, server: Server) -> None:
        """Wrong types, huge bodies, binary, missing fields, bad ids and queries: always 4xx JSON with code and hint."""
        server.activate(server.key(nodes=3, remote_clusters=1))
        eps = endpoints(server)
        assert ("POST", "/api/v1/nodes/join") in eps and ("GET", "/api/v1/updates") in eps and len(eps) >= 17
        with server.client() as c:
            for method, path in eps:
                url = fill(path)
                api = path.startswith("/api/")
                if api:
                    r = c.request(method, url)
                    assert r.status_code == 401 and assert_clean(r, f"{method} {path} no auth")["code"] == "unauthorized"
                    r = c.request(method, url, headers={"authorization": "Bearer lca_not-a-real-token"})
                    assert r.status_code == 401, f"{method} {path} forged token"
                    r = c.request(method, url, headers={"authorization": "Basic !!!notbase64"})
                    assert r.status_code == 401, f"{method} {path} broken basic"
                for ctype, body in BODIES:
                    r = c.request(method, url, content=body, headers={**server.admin, "content-type": ctype})
                    assert_clean(r, f"{method} {path} {ctype} {body[:30] if body else body!r}")
                r = c.request(method, url, content=HUGE, headers={**server.admin, "content-type": "application/json"})
                assert r.status_code == 413 and assert_clean(r, f"{method} {path} huge")["code"] == "too_large"
                if "{seat_id}" in path or "{month}" in path or "{name}" in path:
                    for bad in BAD_IDS:
                        p = fill(path, seat_id=bad, month=bad, name=bad * 50)
                        r = c.request(method, p, headers=server.admin)
                        assert_clean(r, f"{method} {p}")
                        if "{seat_id}" in path and bad in ("a b", "x" * 500):
                            assert r.status_code == 422, f"{method} {p}: {r.status_code}"
            for query in ["", "?version=1", "?released=2026-01-01", "?version=1&released=yesterday", "?version=&released=", "?limit=abc"]:
                r = c.get("/api/v1/updates" + query, headers=server.agent)
                assert r.status_code in (400, 422) and assert_clean(r, f"updates {query}")
            for query in ["?limit=abc", "?limit=-1", "?limit=100000"]:
                assert_clean(c.get("/api/v1/audit" + query, headers=server.admin), f"audit {query}")

    def test_agent_token_cannot_call_admin_endpoints(self, server: Server) -> None:
        """A join token is refused (403 forbidden) on every admin endpoint and works on the agent ones."""
        admin_only = [
            ("POST", "/api/v1/license/activate"),
            ("POST", "/api/v1/license/request"),
            ("GET", "/api/v1/license/history"),
            ("GET", "/api/v1/nodes"),
            ("GET", "/api/v1/clusters"),
            ("GET", "/api/v1/audit"),
            ("GET", "/api/v1/audit/verify"),
            ("GET", "/api/v1/usage/2026-01"),
        ]
        for method, path in admin_only:
            r = server.http.request(method, path, headers=server.agent, content=b"x")
            assert r.status_code == 403 and assert_clean(r, path)["code"] == "forbidden", path
        assert server.get("/api/v1/license", admin=False).status_code == 200
        assert server.join("n1").json()["code"] == "missing"

    def test_activation_refusals_are_clean(self, server: Server) -> None:
        """Activation of junk, a key from another vendor, an empty body or a multipart without a file: 4xx with the CLI's codes."""
        from licensor.testing import TestVendor

        def act(content: bytes, ctype: str = "text/plain") -> dict[str, Any]:
            r = server.http.post("/api/v1/license/activate", content=content, headers={**server.admin, "content-type": ctype})
            assert 400 <= r.status_code < 500, r.text
            return assert_clean(r, "activate")

        assert act(b"hello")["code"] == "malformed"
        assert act(b"")["code"] == "usage"
        assert act(b"\xff\xfe\xfa")["code"] == "malformed"
        foreign = TestVendor().issue(server.installation, serial=1)
        assert act(foreign.encode())["code"] == "unknown_key"
        r = server.http.post("/api/v1/license/activate", files={"other": ("x.txt", b"abc")}, headers=server.admin)
        assert r.status_code == 400 and assert_clean(r, "multipart")["code"] == "usage"
        good = server.key(nodes=2)
        r = server.http.post("/api/v1/license/activate", files={"file": ("license.txt", good.encode())}, headers=server.admin)
        assert r.status_code == 200 and r.json()["status"]["nodes_limit"] == 2
        refused = server.get("/api/v1/audit?event=activation_refused").json()
        assert {e["code"] for e in refused} >= {"malformed", "unknown_key"}


class TestEdgesInProcess:
    """The controller in this process (``create_app``, ASGI transport): e-mail and number refusals at the API and console."""

    @staticmethod
    def signed_in(run: Any) -> tuple[httpx.Client, str]:
        import re

        from tests.inprocess import PASSWORD

        c = run.client()  # the caller closes it
        assert c.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/"}).status_code == 303
        m = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/settings/license").text)
        assert m
        return c, m.group(1)

    def test_request_refuses_header_injection_and_huge_numbers(self, tmp_path: Any) -> None:
        """Defects 6 and 7: a contact e-mail with a line break or a second address, or months past a century,
        is refused (422 naming the field) at the API and inline in the console, and no request code is made."""
        from tests.inprocess import controller

        good = {"name": "Ada", "email": "ada@example.com", "company": "ACME", "nodes": 3, "months": 12}
        with controller(f"sqlite:///{tmp_path / 'c.db'}") as run, run.client("admin") as api:
            for email in ("a@b.c\nBcc: x@y.z", "a@b.c, x@y.z", "Ada <a@b.c>"):
                r = api.post("/api/v1/license/request", json={**good, "email": email})
                assert r.status_code == 422 and "email" in assert_clean(r, email)["hint"], r.text
            r = api.post("/api/v1/license/request", json={**good, "months": 10**10})
            assert r.status_code == 422 and "months" in assert_clean(r, "months")["hint"]
            assert api.post("/api/v1/license/request", json=good).status_code == 200
            for released in ("9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"):
                r = api.get("/api/v1/updates", params={"version": "2.0", "released": released})
                assert r.status_code == 400 and assert_clean(r, released)["code"] == "usage", r.text
            c, csrf = self.signed_in(run)
            try:
                form = {"csrf_token": csrf, **{k: str(v) for k, v in good.items()}, "remote_clusters": "0"}
                for field, value in (("email", "a@b.c\nBcc: x@y.z"), ("months", "10000000000"), ("nodes", "9" * 40)):
                    r = c.post("/settings/license/request", data={**form, field: value})
                    assert r.status_code == 422 and "text/html" in r.headers["content-type"], (field, r.status_code, r.text[:200])
                assert c.post("/settings/license/request", data=form).status_code == 200
            finally:
                c.close()
