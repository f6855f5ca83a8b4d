"""The issuer's HTTP API (REST v1, OpenAPI at ``/openapi.json``): ``create_app(settings)``.

Every ``/api/v1`` route except ``POST /api/v1/login`` needs a caller: an API
token (``Authorization: Bearer lsr_…``, checked against its scopes) or an admin
session cookie (all scopes; unsafe methods must echo the session's CSRF token
in ``X-CSRF-Token`` or a ``csrf_token`` form field).  Errors are JSON with
``code`` and ``hint``.  The app keeps no state of its own: replicas share the
database.
"""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import Forbidden, Unauthorized
from ..license import LicenseType
from ..server.errors import install_error_handlers
from ..server.inputs import Clusters, GraceDays, Moment, Months, Nodes, Offset, form_body, json_body
from ..server.logins import in_thread
from ..server.openapi import document_errors, mount_docs
from ..web import set_session_cookie
from .service import IssuerService, Principal
from .settings import IssuerSettings, load_settings
from .store import Store

SESSION_COOKIE = "licensor_session"
_SAFE = ("GET", "HEAD", "OPTIONS")


# -- request bodies -------------------------------------------------------------

Features = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)]


class Terms(BaseModel):
    nodes: Nodes | None = None
    months: Months | None = None
    expires: Moment | None = None
    maintenance_until: Moment | None = None
    remote_clusters: Clusters | None = None
    features: Features | None = None


class IssueBody(Terms):
    request_code: str = Field(..., max_length=16384, description="the request code or request file text")
    plan: str | None = Field(None, max_length=100)
    type: LicenseType | None = None
    customer: str | None = Field(None, max_length=200)
    grace_days: GraceDays | None = None


class RenewBody(Terms):
    grace_days: GraceDays | None = None


class RehostBody(BaseModel):
    request_code: str = Field(..., max_length=16384)
    nodes: Nodes | None = None
    expires: Moment | None = None
    maintenance_until: Moment | None = None
    remote_clusters: Clusters | None = None
    features: Features | None = None


class InspectBody(BaseModel):
    request_code: str = Field(..., max_length=16384)


class SendBody(BaseModel):
    to: str | None = Field(None, max_length=320, description="one plain e-mail address; default: the contact e-mail of the request code")


class UsageBody(BaseModel):
    report: str = Field(..., max_length=65536, description="the armoured usage report a controller made")


class PlanBody(BaseModel):
    type: LicenseType
    months: Months | None = None
    maintenance_months: Months | None = None
    nodes: Nodes | None = None
    features: Features = []
    grace_days: GraceDays = 0


class ProductBody(BaseModel):
    features: Features = []


class LoginBody(BaseModel):
    username: str = Field(..., max_length=100)
    password: str = Field(..., max_length=1000)


_TERMS = ("nodes", "months", "expires", "maintenance_until", "remote_clusters", "features")


def _terms(body: BaseModel) -> dict[str, Any]:
    """The license terms a body can set (those of ``_TERMS`` its model has), as the service's keyword arguments."""
    return {name: getattr(body, name) for name in _TERMS if name in type(body).model_fields}


# -- app ------------------------------------------------------------------------------


def create_app_from_env() -> FastAPI:
    """The app as ``licensor vendor serve`` runs it (settings from the data dir and environment)."""
    data_dir = Path(os.environ.get("LICENSOR_DATA_DIR") or ".licensor")
    return create_app(load_settings(data_dir / "vendor"))


def create_app(settings: IssuerSettings, service: IssuerService | None = None) -> FastAPI:
    svc = service or IssuerService(
        Store(settings.database_url),
        login_limit=settings.login_limit,
        login_window=timedelta(minutes=settings.login_window_minutes),
        login_address_limit=settings.login_address_limit,
        session_ttl=timedelta(hours=settings.session_hours),
        group_commit=True,
    )
    app = FastAPI(
        title="licensor issuer",
        version=__version__,
        description="The vendor's license issuer: request codes in, signed license keys out.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, max_body=settings.max_body)
    document_errors(app, guarded=lambda path: path.startswith("/api/"))
    mount_docs(app)
    app.state.service = svc
    app.state.settings = settings

    async def _csrf_ok(request: Request, expected: str) -> bool:
        given = request.headers.get("x-csrf-token")
        form_types = ("application/x-www-form-urlencoded", "multipart/form-data")
        if given is None and request.headers.get("content-type", "").startswith(form_types):
            given = str((await request.form()).get("csrf_token") or "")
        return bool(given) and secrets.compare_digest(given or "", expected)

    def require(scope: str) -> Any:
        async def dep(request: Request) -> Principal:
            authz = request.headers.get("authorization", "")
            if authz:
                kind, _, token = authz.partition(" ")
                if kind.lower() != "bearer" or not token.strip():
                    raise Unauthorized("send an API token as 'Authorization: Bearer lsr_…'")
                p = svc.token_principal(token.strip())
                if p is None:
                    raise Unauthorized("this API token is unknown or revoked: create one with 'licensor vendor token create'")
            else:
                cookie = request.cookies.get(SESSION_COOKIE)
                p = svc.session_principal(cookie) if cookie else None
                if p is None:
                    raise Unauthorized("log in (POST /api/v1/login) or send an API token as 'Authorization: Bearer lsr_…'")
                if request.method not in _SAFE and not await _csrf_ok(request, p.csrf or ""):
                    raise Forbidden("the CSRF token is missing or wrong: send the session's token in X-CSRF-Token")
            if not p.allows(scope):
                raise Forbidden(f"this token lacks the '{scope}' scope")
            if p.csrf is None and request.method in _SAFE:
                # Writes are audited by the operation itself, with the token as actor.
                svc.record_use(p, request.method, request.url.path)
            return p

        return Depends(dep)

    read, write = require("licenses:read"), require("licenses:write")
    keys_admin, usage_write = require("keys:admin"), require("usage:write")
    catalog_write, audit_read = require("catalog:write"), require("audit:read")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, bool]:
        # For load balancers: says nothing but "up".  On the event loop: no thread hop, nothing a login flood queues.
        return {"ok": True}

    # -- session ------------------------------------------------------------

    @app.post("/api/v1/login", tags=["auth"], summary="log in as an admin user; sets the session cookie")
    async def login(request: Request) -> JSONResponse:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = await json_body(request, LoginBody)
        else:
            body = await form_body(request, LoginBody)
        ip = request.client.host if request.client else "unknown"
        # argon2 and the bookkeeping block: off the event loop, in the login threads.
        cookie, csrf = await in_thread(svc.login, body.username, body.password, ip)
        resp = JSONResponse({"user": body.username, "csrf_token": csrf})
        set_session_cookie(resp, SESSION_COOKIE, cookie, hours=settings.session_hours, secure=settings.cookie_secure)
        return resp

    @app.post("/api/v1/logout", tags=["auth"], summary="end this session", status_code=204)
    def logout(request: Request, p: Annotated[Principal, read]) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            svc.logout(cookie, p.actor)
        resp = Response(status_code=204)
        resp.delete_cookie(SESSION_COOKIE, path="/")
        return resp

    @app.get("/api/v1/session", tags=["auth"], summary="who is calling, with which scopes (and the session's CSRF token)")
    def session(p: Annotated[Principal, read]) -> dict[str, Any]:
        return {"actor": p.actor, "scopes": sorted(p.scopes), "csrf_token": p.csrf}

    # -- licenses ---------------------------------------------------------------

    @app.post("/api/v1/requests/inspect", tags=["licenses"], summary="check and decode a request code (nothing is stored)")
    def inspect(body: InspectBody, p: Annotated[Principal, read]) -> dict[str, Any]:
        return svc.inspect(body.request_code).summary()

    def _issued(issued: Any, status: int = 201) -> JSONResponse:
        data = issued.as_dict()
        data["file"] = issued.file
        data["token"] = issued.token
        return JSONResponse(data, status_code=status)

    @app.post("/api/v1/licenses", tags=["licenses"], status_code=201, summary="issue a license from a request code")
    def issue(body: IssueBody, p: Annotated[Principal, write]) -> JSONResponse:
        return _issued(
            svc.issue(
                body.request_code,
                actor=p.actor,
                plan=body.plan,
                type=body.type,
                customer=body.customer,
                grace_days=body.grace_days,
                **_terms(body),
            )
        )

    @app.get("/api/v1/licenses", tags=["licenses"], summary="list and search licenses, newest first")
    def list_licenses(
        p: Annotated[Principal, read],
        q: str | None = None,
        installation_id: str | None = None,
        customer: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[Offset, Query()] = 0,
    ) -> list[dict[str, Any]]:
        return svc.search(q, installation_id=installation_id, customer=customer, limit=limit, offset=offset)

    @app.get("/api/v1/licenses/{license_id}", tags=["licenses"], summary="one license")
    def get_license(license_id: str, p: Annotated[Principal, read]) -> dict[str, Any]:
        return svc.get(license_id)

    @app.get("/api/v1/licenses/{license_id}/file", tags=["licenses"], summary="download the license file", response_class=PlainTextResponse)
    def license_file(license_id: str, p: Annotated[Principal, read]) -> PlainTextResponse:
        issued = svc.issued(license_id)
        return PlainTextResponse(issued.file, headers={"Content-Disposition": f'attachment; filename="license-{license_id}.txt"'})

    @app.post("/api/v1/licenses/{license_id}/renew", tags=["licenses"], status_code=201, summary="renew: next serial, term extended")
    def renew(license_id: str, body: RenewBody, p: Annotated[Principal, write]) -> JSONResponse:
        return _issued(svc.renew(license_id, actor=p.actor, grace_days=body.grace_days, **_terms(body)))

    @app.post("/api/v1/licenses/{license_id}/rehost", tags=["licenses"], status_code=201, summary="move to a new installation")
    def rehost(license_id: str, body: RehostBody, p: Annotated[Principal, write]) -> JSONResponse:
        return _issued(svc.rehost(license_id, body.request_code, actor=p.actor, **_terms(body)))

    @app.post("/api/v1/licenses/{license_id}/send", tags=["licenses"], summary="e-mail the license file")
    def send(license_id: str, body: SendBody, p: Annotated[Principal, write]) -> dict[str, Any]:
        from .mail import check_address, license_message
        from .mail import send as smtp_send

        issued = svc.issued(license_id)
        to = check_address(body.to or svc.contact_email(license_id))
        smtp_send(settings.smtp, license_message(issued, sender=settings.smtp.sender, to=to))
        svc.record_sent(license_id, to, p.actor)
        return {"sent": True, "to": to, "license_id": license_id}

    @app.get("/api/v1/installations", tags=["customers"], summary="installations learned from request codes")
    def installations(p: Annotated[Principal, read], customer: str | None = None) -> list[dict[str, Any]]:
        return svc.installations(customer)

    @app.get("/api/v1/installations/{installation_id}", tags=["customers"], summary="one installation")
    def installation(installation_id: str, p: Annotated[Principal, read]) -> dict[str, Any]:
        return svc.installation(installation_id)

    @app.get("/api/v1/customers", tags=["customers"], summary="customers")
    def customers(p: Annotated[Principal, read]) -> list[dict[str, Any]]:
        return svc.customers()

    # -- catalogue --------------------------------------------------------------

    @app.get("/api/v1/products", tags=["catalogue"], summary="products and their feature catalogues")
    def products(p: Annotated[Principal, read]) -> list[dict[str, Any]]:
        return svc.products()

    @app.put("/api/v1/products/{name}", tags=["catalogue"], summary="create a product or set its feature catalogue")
    def put_product(name: str, body: ProductBody, p: Annotated[Principal, catalog_write]) -> dict[str, Any]:
        return svc.set_product(name, body.features, actor=p.actor)

    @app.get("/api/v1/plans", tags=["catalogue"], summary="plans (defaults for issuing)")
    def plans(p: Annotated[Principal, read]) -> list[dict[str, Any]]:
        return svc.plans()

    @app.put("/api/v1/plans/{name}", tags=["catalogue"], summary="create or change a plan")
    def put_plan(name: str, body: PlanBody, p: Annotated[Principal, catalog_write]) -> dict[str, Any]:
        return svc.set_plan(
            name,
            actor=p.actor,
            type=body.type,
            months=body.months,
            maintenance_months=body.maintenance_months,
            nodes=body.nodes,
            features=body.features,
            grace_days=body.grace_days,
        )

    # -- signing keys -------------------------------------------------------------

    @app.get("/api/v1/keys/public", tags=["keys"], summary="the public key set products trust", response_class=PlainTextResponse)
    def public_keys(p: Annotated[Principal, read]) -> PlainTextResponse:
        return PlainTextResponse(svc.public_set().to_text())

    @app.get("/api/v1/keys", tags=["keys"], summary="signing keys and their states")
    def keys(p: Annotated[Principal, keys_admin]) -> list[dict[str, Any]]:
        return svc.keys()

    @app.post("/api/v1/keys/rotate", tags=["keys"], summary="a new active signing key; the old one is retired but still published")
    def rotate(p: Annotated[Principal, keys_admin]) -> dict[str, Any]:
        return svc.rotate_key(p.actor)

    @app.delete("/api/v1/keys/{kid}", tags=["keys"], summary="remove a retired key from the published set", status_code=204)
    def remove_key(kid: str, p: Annotated[Principal, keys_admin]) -> Response:
        svc.remove_key(kid, p.actor)
        return Response(status_code=204)

    # -- usage, audit ---------------------------------------------------------------

    @app.post("/api/v1/usage-reports", tags=["usage"], summary="import a controller's usage report; shows overage")
    def import_usage(body: UsageBody, p: Annotated[Principal, usage_write]) -> dict[str, Any]:
        return svc.import_usage(body.report, actor=p.actor)

    @app.get("/api/v1/usage-reports", tags=["usage"], summary="imported usage reports with overage")
    def usage_reports(p: Annotated[Principal, read], installation_id: str | None = None) -> list[dict[str, Any]]:
        return svc.usage(installation_id)

    @app.get("/api/v1/audit", tags=["audit"], summary="the audit log, newest first")
    def audit(
        p: Annotated[Principal, audit_read], limit: Annotated[int, Query(ge=1, le=10000)] = 100, action: str | None = None
    ) -> list[dict[str, Any]]:
        return svc.audit_log(limit, action)

    from .web import mount_console  # the vendor's web console: /issue, /licenses, /keys, …

    mount_console(app, svc, settings)
    return app
