"""Fast checks of the consoles' shared pieces (no browser): offline assets, signed sessions, redirects, QR codes."""

from __future__ import annotations

import re
from pathlib import Path

from licensor.web import SignedSessions, csrf_ok, mailto, qr_svg, safe_next

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
