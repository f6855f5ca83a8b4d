"""``/api/v1/login``, ``/logout``, ``/session`` and ``/api/v1/audit``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ...server.inputs import form_body, json_body
from ...server.logins import in_thread
from ...web import set_session_cookie
from ..deps import SESSION_COOKIE, AuditReader, Issuer, Reader, Settings

router = APIRouter(prefix="/api/v1")


class LoginBody(BaseModel):
    username: str = Field(..., max_length=100)
    password: str = Field(..., max_length=1000)


@router.post("/login", tags=["auth"], summary="log in as an admin user; sets the session cookie")
async def login(request: Request, svc: Issuer, settings: Settings) -> JSONResponse:
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await json_body(request, LoginBody)
    else:
        body = await form_body(request, LoginBody)
    ip = request.client.host if request.client else "unknown"
    # argon2 and the bookkeeping block: off the event loop, in the login threads.
    cookie, csrf = await in_thread(svc.accounts.login, body.username, body.password, ip)
    resp = JSONResponse({"user": body.username, "csrf_token": csrf})
    set_session_cookie(resp, SESSION_COOKIE, cookie, hours=settings.session_hours, secure=settings.cookie_secure)
    return resp


@router.post("/logout", tags=["auth"], summary="end this session", status_code=204)
def logout(request: Request, p: Reader, svc: Issuer) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        svc.accounts.logout(cookie, p.actor)
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/")
    return resp


@router.get("/session", tags=["auth"], summary="who is calling, with which scopes (and the session's CSRF token)")
def session(p: Reader) -> dict[str, Any]:
    return {"actor": p.actor, "scopes": sorted(p.scopes), "csrf_token": p.csrf}


@router.get("/audit", tags=["audit"], summary="the audit log, newest first")
def audit(
    p: AuditReader, svc: Issuer, limit: Annotated[int, Query(ge=1, le=10000)] = 100, action: str | None = None
) -> list[dict[str, Any]]:
    return svc.accounts.audit_log(limit, action)
