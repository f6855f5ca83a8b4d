"""What both web consoles share: templates, static files, signed sessions, CSRF, QR codes, ``mailto:`` links.

The consoles are server-rendered pages served by the app itself (no CDN, no
outside fonts or scripts: they must work air-gapped).  Views parse the form,
call the service and render; this module holds only presentation helpers, and
``licensor.web.console`` the sign-in gate (sessions, CSRF-checked forms) both
consoles put in front of their views.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import __version__
from ..codec import b64decode, b64encode
from ..errors import InvalidInput, LicensorError, MalformedError, TooLarge
from ..filenames import content_disposition
from ..words import plural, sentence

HERE = Path(__file__).parent
STATIC = HERE / "static"
STATIC_PREFIX = "/console-static"
_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}

#: Pages may load only what the app itself serves.
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def environment(console_templates: Path) -> Any:
    """A Jinja2 environment: the console's own templates first, then the shared ones."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(
        loader=FileSystemLoader([str(console_templates), str(HERE / "templates")]),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(static=STATIC_PREFIX, version=__version__)
    env.filters["when"] = when
    env.filters["days_left"] = days_left
    env.filters["plural"] = plural
    return env


def when(value: Any, seconds: bool = False) -> str:
    """``2027-06-30T00:00:00Z`` -> ``2027-06-30 00:00 UTC`` (``seconds``: ``00:00:00``); empty stays empty."""
    if not value:
        return ""
    text = str(value)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def days_left(value: Any, now: datetime | None = None) -> int | None:
    if not value:
        return None
    try:
        t = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    left = t - (now or datetime.now(UTC))
    return int(left.total_seconds() // 86400)


class Pages:
    """Renders a console's templates with the security headers every page carries."""

    def __init__(self, console_templates: Path, *, title: str, nav: Iterable[tuple[str, str]]):
        self.env = environment(console_templates)
        self.env.globals.update(console_title=title, nav=list(nav))

    def render(self, request: Request, name: str, status_code: int = 200, /, **ctx: Any) -> HTMLResponse:
        ctx.setdefault("path", request.url.path)
        html = self.env.get_template(name).render(request=request, **ctx)
        return HTMLResponse(html, status_code=status_code, headers=security_headers())


def security_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})


def plain(text: str, status_code: int) -> Response:
    """A short plain-text answer (a refusal outside any page), with the security headers."""
    return Response(text, status_code=status_code, media_type="text/plain", headers=security_headers())


def attachment(text: str, filename: str) -> Response:
    """A text file the browser downloads as ``filename``."""
    headers = {**security_headers(), "Content-Disposition": content_disposition(filename)}
    return Response(text, media_type="text/plain; charset=utf-8", headers=headers)


def set_session_cookie(resp: Response, name: str, value: str, *, hours: float, secure: bool) -> None:
    """The session cookie of a sign-in: whole site, HTTP only, same site only, gone after ``hours``."""
    resp.set_cookie(name, value, max_age=int(hours * 3600), httponly=True, secure=secure, samesite="strict", path="/")


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: a sign-in must not bounce the browser elsewhere."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def mount_static(app: FastAPI) -> None:
    """Serve the shared CSS and JS under ``/console-static/`` (once per app)."""
    if getattr(app.state, "console_static", False):
        return
    app.state.console_static = True
    files = {p.name: p for p in STATIC.iterdir() if p.suffix in _TYPES}

    @app.get(STATIC_PREFIX + "/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        p = files.get(name)
        if p is None:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(p.read_bytes(), media_type=_TYPES[p.suffix], headers={"Cache-Control": "max-age=300"})


# -- sessions and CSRF ---------------------------------------------------------------


@dataclass(frozen=True)
class Session:
    user: str
    expires: int
    csrf: str


class SignedSessions:
    """Stateless session cookies: ``payload.mac`` with HMAC-SHA256 under a secret the app keeps in its database.

    A session names its user, an absolute expiry and a ``generation`` (for the
    controller: the id of the admin password in force), so changing the password
    ends every session.  The CSRF token is derived from the session, so forms
    can carry it without server-side state.
    """

    def __init__(self, secret: bytes, *, ttl_seconds: float):
        if len(secret) < 32:
            raise ValueError("the session secret must have at least 32 bytes")
        self.secret = secret
        self.ttl = ttl_seconds

    def _mac(self, payload: str) -> str:
        return b64encode(hmac.new(self.secret, payload.encode(), hashlib.sha256).digest())

    def issue(self, user: str, generation: str, now: float | None = None) -> str:
        doc = {"u": user, "g": generation, "x": int((now or time.time()) + self.ttl), "n": secrets.token_urlsafe(12)}
        payload = b64encode(json.dumps(doc, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def check(self, cookie: str | None, generation: str, now: float | None = None) -> Session | None:
        if not cookie or len(cookie) > 1000 or "." not in cookie:
            return None
        payload, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac, self._mac(payload)):
            return None
        try:
            doc = json.loads(b64decode(payload))
        except (ValueError, MalformedError):
            return None
        if not isinstance(doc, dict) or doc.get("g") != generation or int(doc.get("x", 0)) < (now or time.time()):
            return None
        csrf = b64encode(hmac.new(self.secret, b"csrf|" + payload.encode(), hashlib.sha256).digest())
        return Session(str(doc.get("u")), int(doc["x"]), csrf)


def csrf_ok(given: Any, expected: str | None) -> bool:
    return isinstance(given, str) and bool(given) and bool(expected) and hmac.compare_digest(given, expected or "")


# -- codes people copy, download, scan and mail -------------------------------------------


def qr_svg(text: str, label: str) -> str:
    """The text as an inline SVG QR code (no outside image, no xmlns URL).

    It has a viewBox and no size of its own, so the page's CSS sizes it (``.qr svg``) and it stays sharp at any size;
    the quiet zone is the four modules scanners expect."""
    import segno

    svg = str(segno.make(text, error="l").svg_inline(border=4, omitsize=True))
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" shape-rendering="crispEdges" ', 1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def mailto(to: str, subject: str, body: str) -> str:
    return f"mailto:{quote(to, safe='@,')}?subject={quote(subject, safe='')}&body={quote(body, safe='')}"


def form_text(form: Mapping[str, Any], name: str, limit: int = 200) -> str:
    v = form.get(name)
    return v.strip()[:limit] if isinstance(v, str) else ""


def form_int(form: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    v = form.get(name)
    if not isinstance(v, str) or not v.strip():
        return default
    try:
        return int(v.strip())
    except ValueError:
        return default


def form_number(form: Mapping[str, Any], name: str, label: str, *, lo: int, hi: int, default: int | None = None) -> int | None:
    """A whole number from ``lo`` to ``hi`` in field ``name`` (empty: ``default``); else an ``InvalidInput`` naming ``label``."""
    v = form.get(name)
    if not isinstance(v, str) or not v.strip():
        return default
    text = v.strip()
    if not (text.isascii() and text.lstrip("-").isdigit()) or len(text) > 12 or not lo <= int(text) <= hi:
        raise InvalidInput(f"{sentence(label)} must be a whole number from {lo} to {hi:,}: '{text[:20]}' is not")
    return int(text)


def refusal(e: LicensorError | RecursionError, title: str) -> dict[str, str]:
    """An error as the ``error_box`` macro shows it: a title, the error's code and its hint.

    A ``RecursionError`` is what a parser meets in crafted, absurdly nested input: shown as the malformed input it is."""
    if isinstance(e, RecursionError):
        from ..server.inputs import too_deep

        e = too_deep()
    return {"title": title, "code": e.code, "hint": e.hint}


async def upload_or_text(form: Any, file_field: str, text_field: str, limit: int = 64 * 1024) -> str:
    """An uploaded file if one was chosen, else the pasted text."""
    item = form.get(file_field)
    if item is not None and not isinstance(item, str) and bool(getattr(item, "filename", None)):
        raw = await item.read(limit + 1)
        if len(raw) > limit:
            raise TooLarge(f"The file is over {limit // 1024} KiB: choose the text file you received, not something else")
        if raw.strip():
            try:
                return str(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise MalformedError("The file is not text (not UTF-8): choose the text file you received") from None
    text = form.get(text_field)
    return text[:limit] if isinstance(text, str) else ""


__all__ = [
    "CSP",
    "STATIC_PREFIX",
    "Pages",
    "Session",
    "SignedSessions",
    "attachment",
    "csrf_ok",
    "days_left",
    "form_int",
    "form_number",
    "form_text",
    "mailto",
    "mount_static",
    "plain",
    "qr_svg",
    "redirect",
    "refusal",
    "safe_next",
    "security_headers",
    "set_session_cookie",
    "upload_or_text",
    "when",
]
