"""What routes and views ask for, as ``Annotated`` dependencies: the services, the settings, the caller.

    @router.get("/api/v1/licenses/{license_id}")
    def get_license(license_id: str, p: Reader, svc: Issuer) -> dict[str, Any]: ...

Every ``/api/v1`` caller is an API token (``Authorization: Bearer lsr_…``, checked
against its scopes) or an admin session cookie (all scopes; unsafe methods must
echo the session's CSRF token in ``X-CSRF-Token`` or a ``csrf_token`` form field).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from ..errors import Forbidden, Unauthorized
from .accounts.service import Principal
from .service import IssuerService
from .settings import IssuerSettings

#: The session cookie of the API and the console (one session for both).
SESSION_COOKIE = "licensor_session"
_SAFE = ("GET", "HEAD", "OPTIONS")


def service_of(request: Request) -> IssuerService:
    svc: IssuerService = request.app.state.service
    return svc


def settings_of(request: Request) -> IssuerSettings:
    settings: IssuerSettings = request.app.state.settings
    return settings


Issuer = Annotated[IssuerService, Depends(service_of)]
Settings = Annotated[IssuerSettings, Depends(settings_of)]


async def _csrf_ok(request: Request, expected: str) -> bool:
    given = request.headers.get("x-csrf-token")
    form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
    if given is None and request.headers.get("content-type", "").startswith(form_types):
        given = str((await request.form()).get("csrf_token") or "")
    return bool(given) and secrets.compare_digest(given or "", expected)


async def _caller(request: Request, svc: IssuerService) -> Principal:
    """The token or session the request names; 401 for none, 403 for a session's missing CSRF token."""
    authz = request.headers.get("authorization", "")
    if authz:
        kind, _, token = authz.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise Unauthorized("Send an API token as 'Authorization: Bearer lsr_…'")
        p = svc.accounts.token_principal(token.strip())
        if p is None:
            raise Unauthorized("This API token is unknown or revoked: create one with 'licensor vendor token create'")
        return p
    cookie = request.cookies.get(SESSION_COOKIE)
    p = svc.accounts.session_principal(cookie) if cookie else None
    if p is None:
        raise Unauthorized("Log in (POST /api/v1/login) or send an API token as 'Authorization: Bearer lsr_…'")
    if request.method not in _SAFE and not await _csrf_ok(request, p.csrf or ""):
        raise Forbidden("The CSRF token is missing or wrong: send the session's token in X-CSRF-Token")
    return p


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """The dependency of a route that needs ``scope``."""

    async def dep(request: Request) -> Principal:
        svc = service_of(request)
        p = await _caller(request, svc)
        if not p.allows(scope):
            raise Forbidden(f"This token lacks the '{scope}' scope")
        if p.csrf is None and request.method in _SAFE:
            # Writes are audited by the operation itself, with the token as actor.
            svc.accounts.record_use(p, request.method, request.url.path)
        return p

    return dep


Reader = Annotated[Principal, Depends(require("licenses:read"))]
Writer = Annotated[Principal, Depends(require("licenses:write"))]
KeysAdmin = Annotated[Principal, Depends(require("keys:admin"))]
UsageWriter = Annotated[Principal, Depends(require("usage:write"))]
CatalogWriter = Annotated[Principal, Depends(require("catalog:write"))]
AuditReader = Annotated[Principal, Depends(require("audit:read"))]

__all__ = [
    "SESSION_COOKIE",
    "AuditReader",
    "CatalogWriter",
    "Issuer",
    "KeysAdmin",
    "Reader",
    "Settings",
    "UsageWriter",
    "Writer",
    "require",
    "service_of",
    "settings_of",
]
