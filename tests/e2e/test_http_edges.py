"""Protocol edges both services share: ``Allow`` on every 405, error answers declared in OpenAPI, nothing loaded from outside.

Both services run in this process (``create_app`` through httpx's ASGI transport).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests.inprocess import PASSWORD, Running, controller, issuer

METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
PATH_VALUES = {"seat_id": "n1", "name": "x", "month": "2026-01", "license_id": "x", "installation_id": "x", "kid": "x"}
ERRORS = ("400", "401", "403", "404", "409", "413", "422", "429")


@pytest.fixture(scope="module", params=["issuer", "controller"])
def svc(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path_factory.mktemp(request.param) / 'db.sqlite'}"
    with (issuer if request.param == "issuer" else controller)(url) as run:
        run.extra["kind"] = request.param
        yield run


def fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def document(svc: Running) -> dict[str, Any]:
    with svc.client() as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


class TestMethodNotAllowed:
    def test_every_405_carries_allow_with_the_path_methods(self, svc: Running) -> None:
        """Defect 11: a method a path does not take is a 405 whose Allow lists every method the path takes."""
        doc = document(svc)
        seen = 0
        with svc.client("admin") as c:
            for path in doc["paths"]:
                url = fill(path)
                # Every documented path the URL matches (``/keys/public`` is also ``/keys/{kid}``).
                taken = {m.upper() for p, ops in doc["paths"].items() if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", p), url) for m in ops}
                for method in METHODS:
                    if method in taken:
                        continue
                    r = c.request(method, url)
                    assert r.status_code == 405, f"{method} {path}: {r.status_code}"
                    allow = {m.strip() for m in r.headers.get("allow", "").split(",") if m.strip()}
                    assert allow - {"HEAD"} == taken, f"{method} {path}: Allow {allow} != {taken}"
                    assert r.json()["code"] == "method_not_allowed" and r.json()["hint"][:1].isupper()
                    seen += 1
        assert seen >= 20


class TestDocument:
    def test_every_operation_declares_the_error_answers(self, svc: Running) -> None:
        """Defect 11: every API operation declares 400/401/403/404/409/413/422/429 with the {code, hint, details?} body."""
        doc = document(svc)
        error = doc["components"]["schemas"]["Error"]
        assert error["required"] == ["code", "hint"] and set(error["properties"]) == {"code", "hint", "details"}
        assert "HTTPValidationError" not in doc["components"]["schemas"]
        ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items() if p.startswith("/api/")]
        assert len(ops) >= 15
        for path, method, op in ops:
            for status in ERRORS:
                declared = op["responses"].get(status)
                assert declared, f"{method} {path} does not declare {status}"
                assert declared["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (method, path)

    @pytest.mark.parametrize("svc", ["controller"], indirect=True)
    def test_path_parameters_carry_their_patterns(self, svc: Running) -> None:
        """Defect 11: the heartbeat path's seat id pattern is in the document, as for leave (the seat routes are the controller's)."""
        doc = document(svc)
        for path in ("/api/v1/nodes/{seat_id}/heartbeat", "/api/v1/clusters/{seat_id}/heartbeat", "/api/v1/nodes/{seat_id}"):
            op = next(iter(doc["paths"][path].values()))
            (param,) = [p for p in op["parameters"] if p["name"] == "seat_id"]
            assert param["in"] == "path" and param["schema"].get("pattern"), (path, param)


_REFERENCE = re.compile(r"""(?:src|href|action|content)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)|@import\s+["']([^"']+)""", re.I)


def references(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _REFERENCE.finditer(text)]


class TestNothingFromOutside:
    def test_no_page_references_an_outside_host(self, svc: Running) -> None:
        """Defect 12: /docs, the consoles and their assets load nothing from another host (air-gapped installs work)."""
        with svc.client("admin", follow_redirects=True) as c:
            if svc.extra["kind"] == "issuer":
                c.post("/login", data={"username": "ada", "password": PASSWORD, "next": "/issue"})
            else:
                c.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/"})
            paths = ["/docs", "/login", "/", *_console_pages(svc.extra["kind"])]
            seen: set[str] = set()
            outside: list[str] = []
            while paths:
                path = paths.pop()
                if path in seen:
                    continue
                seen.add(path)
                r = c.get(path)
                assert r.status_code < 500, (path, r.status_code)
                ctype = r.headers.get("content-type", "")
                if r.status_code != 200 or not ctype.startswith(("text/html", "text/css")):
                    continue
                for ref in references(r.text):
                    target = urlsplit(urljoin(svc.base + path, ref))
                    if target.scheme in ("data", "mailto", "blob", "about", "javascript") or ref.startswith("#"):
                        continue
                    if target.scheme not in ("http", "https") or target.netloc != urlsplit(svc.base).netloc:
                        outside.append(f"{path} -> {ref}")
                    elif target.path not in seen:
                        paths.append(target.path)
            assert not outside, outside
            assert {"/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"} <= seen, seen
            assert any(p.startswith("/console-static/") for p in seen), seen  # the signed-in console pages were read
            for asset in ("/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"):
                assert c.get(asset).status_code == 200, asset
            assert '"validatorUrl": null' in c.get("/docs").text  # the document is not sent to an outside validator


def _console_pages(kind: str) -> list[str]:
    if kind == "issuer":
        return ["/issue", "/licenses", "/customers", "/installations", "/keys", "/usage", "/reminders"]
    return ["/nodes", "/clusters", "/settings/license", "/settings/configuration", "/about"]


def test_docs_page_is_self_contained(tmp_path: Path) -> None:
    """The /docs page's Content-Security-Policy lets the browser load nothing from another host."""
    with controller(f"sqlite:///{tmp_path / 'c.db'}") as run, run.client() as c:
        r = c.get("/docs")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "http" not in csp
        assert c.get("/redoc").status_code == 404
