"""The console's sign-in and sign-out: ``/login``, ``/logout`` (and ``/``, which goes to ``/issue``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...errors import LicensorError, RateLimited, Unauthorized
from ...server.logins import WRONG_CREDENTIALS, in_thread
from ...web import redirect, refusal
from ..web import console, console_for, issuer, settings_of

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_page(request: Request, next: str = "/issue") -> Response:
    note = "Admin users are made on the issuer's host by whoever installed it (Operations guide, issuer, first start)."
    if settings_of(request).cookie_secure and request.url.scheme != "https":
        note += (
            " This issuer sends its session cookie over HTTPS only: open it through HTTPS"
            " (or set LICENSOR_COOKIE_SECURE=0 for plain-HTTP development), or signing in will not stick."
        )
    return console.login_page(request, next=next, username="", note=note)


@router.post("/login")
async def login(request: Request) -> Response:
    f = await console.login_form(request, username_limit=100)
    settings = settings_of(request)
    try:
        if not isinstance(f.password, str) or not f.password or len(f.password) > 1000:
            raise Unauthorized(WRONG_CREDENTIALS)
        cookie, _csrf = await in_thread(issuer(request).accounts.login, f.username, f.password, f.ip)
    except RateLimited as e:
        return console.refused(request, e, next=f.next, username=f.username)
    except LicensorError as e:
        return console.login_page(request, 401, next=f.next, username=f.username, error=refusal(e, "Not signed in"))
    return console_for(settings.session_hours).signed_in(f.next, cookie, secure=settings.cookie_secure)


@router.post("/logout")
async def logout(request: Request) -> Response:
    return await console.sign_out(request, lambda p, cookie: issuer(request).accounts.logout(cookie, p.actor))


@router.get("/")
async def home(request: Request) -> Response:
    return redirect("/issue")
