"""The console's sign-in and sign-out pages (the password is set on the host: ``licensor controller admin set-password``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...errors import LicensorError
from ...server.logins import WRONG_CREDENTIALS, in_thread
from ...web import redirect, set_session_cookie
from ..web.shell import COOKIE, console, shell
from .service import Accounts

router = APIRouter(include_in_schema=False)


def login_note(accounts: Accounts) -> str | None:
    if accounts.password_generation() is None:
        return (
            "No admin password is set yet. Whoever installed the controller sets it on the controller's host "
            "(Operations guide, controller, first start); then sign in here."
        )
    return None


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    note = await run_in_threadpool(login_note, shell(request).ctl.accounts)
    return console.login_page(request, next=next, username="admin", note=note)


@router.post("/login")
async def login(request: Request) -> Response:
    here = shell(request)
    accounts = here.ctl.accounts
    f = await console.login_form(request, username_limit=200)
    pw = f.password if isinstance(f.password, str) else ""
    try:
        # The same limit as HTTP Basic, kept in the database (shared by workers and replicas, kept over restarts).
        ok = await in_thread(accounts.login, f.username, pw, f.ip)
    except LicensorError as e:
        if e.code != "rate_limited":
            raise
        return console.refused(request, e, next=f.next, username=f.username)
    gen = await run_in_threadpool(accounts.password_generation)
    if not ok or gen is None:
        error = {"title": "Not signed in", "code": "unauthorized", "hint": WRONG_CREDENTIALS}
        note = await run_in_threadpool(login_note, accounts)
        return console.login_page(request, 401, next=f.next, username=f.username, note=note, error=error)
    cookie = await run_in_threadpool(here.sessions().issue, "admin", gen)
    resp = redirect(f.next)
    set_session_cookie(resp, COOKIE, cookie, hours=here.hours, secure=request.url.scheme == "https")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    accounts = shell(request).ctl.accounts
    return await console.sign_out(request, lambda _sess, _cookie: accounts.end_sessions())
