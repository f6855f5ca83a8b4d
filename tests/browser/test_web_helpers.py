"""Fast checks of the consoles' shared pieces (no browser): offline assets, signed sessions, redirects, QR codes, the sign-in gate."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.datastructures import FormData

from licensor.web import Pages, SignedSessions, csrf_ok, mailto, qr_svg, safe_next
from licensor.web.console import Console

PKG = Path(__file__).resolve().parents[2] / "src" / "licensor"


class TestOfflineAssets:
    def test_templates_css_and_js_name_no_outside_url(self) -> None:
        """No template, stylesheet or script refers to anything on the network: the consoles work air-gapped."""
        files = [p for p in PKG.rglob("*") if p.suffix in (".html", ".css", ".js") and "web" in p.parts]
        assert len(files) > 15
        for p in files:
            text = p.read_text()
            assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/|@import|url\(", text), p

    def test_qr_code_is_inline_svg_without_urls(self) -> None:
        """The request code's QR code is an inline SVG with a label and no xmlns URL."""
        svg = qr_svg("LR1-ABCDE-12345", "QR code")
        assert svg.startswith('<svg role="img" aria-label="QR code" ') and "http" not in svg


class TestSessions:
    def test_round_trip_expiry_tamper_and_generation(self) -> None:
        """A session checks out until it expires, is changed, or the admin password (generation) changes."""
        s = SignedSessions(b"k" * 32, ttl_seconds=60)
        cookie = s.issue("admin", "7", now=1000)
        sess = s.check(cookie, "7", now=1030)
        assert sess is not None and sess.user == "admin" and sess.csrf
        assert s.check(cookie, "7", now=1061) is None
        assert s.check(cookie, "8", now=1030) is None
        assert s.check(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"), "7", now=1030) is None
        assert SignedSessions(b"x" * 32, ttl_seconds=60).check(cookie, "7", now=1030) is None

    def test_csrf_tokens_differ_per_session(self) -> None:
        """Each session has its own CSRF token; an empty or foreign token is refused."""
        s = SignedSessions(b"k" * 32, ttl_seconds=60)
        a, b = s.check(s.issue("admin", "1"), "1"), s.check(s.issue("admin", "1"), "1")
        assert a and b and a.csrf != b.csrf
        assert csrf_ok(a.csrf, a.csrf) and not csrf_ok(b.csrf, a.csrf) and not csrf_ok("", a.csrf) and not csrf_ok(None, a.csrf)


class TestRedirects:
    def test_sign_in_returns_only_to_this_site(self) -> None:
        """After sign-in the browser goes to a path here, never to another site."""
        assert safe_next("/settings/license") == "/settings/license"
        for bad in ("https://evil.example/", "//evil.example/x", "/\\\\evil.example", "javascript:alert(1)", "", None):
            assert safe_next(bad) == "/"

    def test_mailto_encodes_everything(self) -> None:
        """Subject and body are percent-encoded, so a code with any character survives the mail client."""
        link = mailto("lic@vendor.example", "A & B", "line 1\nline 2?&=")
        assert link == "mailto:lic@vendor.example?subject=A%20%26%20B&body=line%201%0Aline%202%3F%26%3D"


@dataclass(frozen=True)
class _User:
    name: str
    csrf: str


SIGNED_IN = {"s": "ok"}


class TestConsoleGate:
    """The gate in front of every console view: sign-in first, then the form's CSRF token; the view's own parameters as declared."""

    @staticmethod
    def _app() -> FastAPI:
        async def who(request: Request) -> _User | None:
            return _User("ada", "tok") if request.cookies.get("s") == "ok" else None

        app = FastAPI()
        console = Console(Pages(PKG / "web" / "templates", title="t", nav=[]), user=who, cookie="s", home="/", hours=1, max_fields=5)

        async def page(request: Request, user: _User, n: int = 1) -> Response:
            return PlainTextResponse(f"{user.name} {n * 2}")

        async def form(request: Request, user: _User, form: FormData, item: str) -> Response:
            return PlainTextResponse(f"{user.name} {item} {form.get('x')}")

        app.add_api_route("/page", console.page(page), methods=["GET"])
        app.add_api_route("/items/{item}", console.form(form), methods=["POST"])
        return app

    @classmethod
    def _calls(cls, *calls: tuple[str, str, dict[str, str] | None, dict[str, str]]) -> list[httpx.Response]:
        """``(method, path, form, cookies)`` in turn against the app, in this thread."""

        async def run() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=cls._app())
            out = []
            for method, path, data, cookies in calls:
                async with httpx.AsyncClient(transport=transport, base_url="http://console", cookies=cookies) as c:
                    out.append(await c.request(method, path, data=data))
            return out

        return asyncio.run(run())

    def test_pages_need_a_session_and_keep_their_parameters(self) -> None:
        """Nobody signed in: off to the sign-in page and back; signed in: the view gets the user and its query parameters."""
        anon, ok, bad = self._calls(
            ("GET", "/page?n=3", None, {}), ("GET", "/page?n=3", None, SIGNED_IN), ("GET", "/page?n=x", None, SIGNED_IN)
        )
        assert anon.status_code == 303 and anon.headers["location"] == "/login?next=/page"
        assert ok.text == "ada 6"
        assert bad.status_code == 422  # still validated as the view declares it

    def test_forms_need_a_session_and_the_csrf_token(self) -> None:
        """A form without a session goes to sign-in; with a missing or wrong token it is refused (403); else the view runs."""
        anon, missing, forged, ok = self._calls(
            ("POST", "/items/a", {"x": "1", "csrf_token": "tok"}, {}),
            ("POST", "/items/a", {"x": "1"}, SIGNED_IN),
            ("POST", "/items/a", {"x": "1", "csrf_token": "forged"}, SIGNED_IN),
            ("POST", "/items/a", {"x": "1", "csrf_token": "tok"}, SIGNED_IN),
        )
        assert anon.status_code == 303 and anon.headers["location"] == "/login?next=/items/a"
        assert missing.status_code == forged.status_code == 403 and "CSRF" in missing.text and "CSRF" in forged.text
        assert ok.text == "ada a 1"
