"""The controller's HTTP service: ``create_app(settings)``, REST API v1, ``/metrics``.

Routes (all JSON; errors are ``{"code", "hint"}`` with the CLI's codes):

    GET  /healthz                               liveness, no auth
    GET  /metrics                               Prometheus text, no auth
    GET  /api/v1/license                        status            admin or agent
    POST /api/v1/license/request                request code      admin
    POST /api/v1/license/activate               activate a key    admin (raw text body or multipart file)
    GET  /api/v1/license/history                                  admin
    POST /api/v1/nodes/join                     {"node_id"}       agent (join token) or admin; answers the seat_secret
    POST /api/v1/nodes/{id}/heartbeat           X-Seat-Secret     agent or admin, with the seat's secret
    DELETE /api/v1/nodes/{id}                   leave             agent with the seat's secret; admin: release any seat
    GET  /api/v1/nodes                                            admin
    POST /api/v1/clusters/join                  {"cluster_id"}    agent or admin   (same for heartbeat, leave, list)
    GET  /api/v1/features/{name}                                  admin or agent
    GET  /api/v1/updates?version=V&released=D                     admin or agent
    GET  /api/v1/audit  /api/v1/audit/verify                      admin
    GET  /api/v1/usage/{YYYY-MM}                                  admin

Admin: ``Authorization: Bearer <admin token>`` or HTTP Basic ``admin:<password>``.
Agents: ``Authorization: Bearer <join token>``; a join token cannot call admin routes.
"""

import asyncio
import base64
import binascii
import json
import logging
import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..errors import Forbidden, Unauthorized, UsageError
from ..license import fmt_time
from ..policy import feature_enabled, update_allowed
from ..request import Contact
from ..server.errors import error_response, install_error_handlers
from ..server.inputs import EARLIEST, LATEST, Email, in_range, json_body
from ..server.openapi import document_errors, mount_docs
from .batch import Batcher
from .clock import clock_from_env
from .runtime import Controller, Op
from .seating import NOUN, Outcome
from .service import Clock, ControllerService, system_clock

log = logging.getLogger("licensor.controller")

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
MAX_KEY_BYTES = 64 * 1024


@dataclass
class ControllerSettings:
    """What ``create_app`` needs; ``from_env()`` reads ``LICENSOR_*`` variables (how ``serve`` passes them to workers)."""

    database_url: str
    heartbeat_ttl: float = 60.0
    max_body: int = 256 * 1024
    clock: Clock | None = None
    factors: dict[str, str] | None = None
    batch_max: int = 1000
    sweep_interval: float | None = None  # default: a third of the TTL
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "ControllerSettings":
        url = os.environ.get("LICENSOR_DATABASE_URL")
        if not url:
            raise UsageError("LICENSOR_DATABASE_URL is not set: start the service with 'licensor controller serve'")
        return cls(
            database_url=url,
            heartbeat_ttl=float(os.environ.get("LICENSOR_HEARTBEAT_TTL", "60")),
            clock=clock_from_env(),
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RequestIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: Email
    company: str = Field(min_length=1, max_length=200)
    nodes: int = Field(ge=1, le=10_000_000)
    months: int = Field(ge=1, le=1200)
    remote_clusters: int = Field(default=0, ge=0, le=100_000)


class NodeIn(_Strict):
    node_id: str = Field(pattern=ID_PATTERN, description="a stable id of the node, kept across restarts")
    address: str = Field(default="", max_length=200)


class ClusterIn(_Strict):
    cluster_id: str = Field(pattern=ID_PATTERN, description="a stable id of the remote controller cluster")
    address: str = Field(default="", max_length=200)


#: The header a seat's holder presents its seat secret in (join: optional, to rejoin; heartbeat and leave: required).
SEAT_SECRET_HEADER = "x-seat-secret"  # noqa: S105 (a header name, not a secret)


class Seated(BaseModel):
    admitted: bool
    status: str
    code: str
    hint: str
    heartbeat_ttl: int
    heartbeat_interval: float
    seat_secret: str | None = Field(
        default=None, description="a new seat's secret, answered once: send it in X-Seat-Secret with every heartbeat, leave and rejoin"
    )


class ActivateKey(_Strict):
    key: str = Field(min_length=1, max_length=MAX_KEY_BYTES)


class Auth:
    """Who is calling: ``admin``, ``join`` (an agent) or nobody.  ``role`` hashes a Basic password: call it in a thread."""

    def __init__(self, ctl: Controller):
        self.ctl = ctl

    def role(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        scheme, _, cred = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            return self.ctl.token_role(cred.strip())
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            # The console's sign-in limit holds here too: Basic is one more way to guess the same password.
            return "admin" if self.ctl.login(user, pw, request.client.host if request.client else "unknown") else None
        return None


def _unauthorized(what: str) -> Unauthorized:
    return Unauthorized(
        f"this endpoint needs {what}: send 'Authorization: Bearer <token>' "
        "(admins: create a token with 'licensor controller admin token'; agents: 'licensor controller join-token')"
    )


def create_app(settings: ControllerSettings) -> FastAPI:
    from .host import collect_factors
    from .store import Store

    clock = settings.clock or system_clock
    svc = ControllerService(Store(settings.database_url), factors=settings.factors or collect_factors(), clock=clock)
    svc.store.create_schema()
    ctl = Controller(svc, heartbeat_ttl=settings.heartbeat_ttl)
    batcher: Batcher[Op, Outcome] = Batcher(ctl.apply, settings.batch_max)
    auth = Auth(ctl)
    interval = settings.sweep_interval or max(0.5, settings.heartbeat_ttl / 3)

    async def sweeper() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(ctl.sweep)
            except Exception:  # the next round tries again; a DB hiccup must not stop the sweeper
                log.exception("sweeping silent seats failed")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        task = asyncio.get_running_loop().create_task(sweeper())
        try:
            yield
        finally:
            task.cancel()
            await batcher.stop()
            svc.store.close()

    app = FastAPI(
        title="licensor controller",
        version="1",
        description="Enforces the license at the customer: admits agent nodes and remote clusters within its limits.",
        lifespan=lifespan,
        docs_url=None,  # mount_docs serves Swagger UI from the installed package, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app, max_body=settings.max_body)
    document_errors(app, guarded=lambda path: path.startswith("/api/"))
    mount_docs(app)
    app.state.controller = ctl

    async def admin(request: Request) -> str:
        role = await asyncio.to_thread(auth.role, request)
        if role is None:
            raise _unauthorized("admin credentials")
        if role != "admin":
            raise Forbidden("a join token can only join, heartbeat and leave: admin endpoints need an admin token or the admin password")
        return role

    async def agent(request: Request) -> str:
        header = request.headers.get("authorization", "")
        role = ctl.cached_role(header[7:].strip()) if header[:7].lower() == "bearer " else None
        if role is None:
            role = await asyncio.to_thread(auth.role, request)
        if role is None:
            raise _unauthorized("a join token or admin credentials")
        return role

    async def fast_agent(request: Request) -> None:
        await agent(request)

    Admin = Annotated[str, Depends(admin)]
    Agent = Annotated[str, Depends(agent)]
    SeatId = Annotated[str, Path(pattern=ID_PATTERN, max_length=200)]

    # -- plain --------------------------------------------------------------

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, str]:
        """Liveness: answers without touching the database."""
        return {"status": "ok"}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus text format: license state, days left, seats used and limits, refusals by code."""
        return PlainTextResponse(render_metrics(ctl), media_type="text/plain; version=0.0.4")

    # -- license ------------------------------------------------------------

    @app.get("/api/v1/license", tags=["license"])
    def license_status(_: Agent) -> dict[str, Any]:
        """The license state with code, hint, warnings, terms and seats used."""
        return ctl.status()

    @app.post("/api/v1/license/request", tags=["license"])
    def license_request(body: RequestIn, _: Admin) -> dict[str, Any]:
        """Make a request code to send to the vendor."""
        code, text = svc.request(
            Contact(body.name, body.email, body.company), nodes=body.nodes, months=body.months, remote_clusters=body.remote_clusters
        )
        return {"code": code, "file": text}

    @app.post(
        "/api/v1/license/activate",
        tags=["license"],
        openapi_extra={
            "requestBody": {
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
                    "application/json": {"schema": ActivateKey.model_json_schema()},
                },
                "required": True,
            }
        },
    )
    async def license_activate(request: Request, _: Admin) -> dict[str, Any]:
        """Activate a license key or file: the raw text as the body, a multipart upload (field ``file``), or JSON ``{"key"}``."""
        text = await _key_from_request(request)
        act = await asyncio.to_thread(ctl.activate, text)
        status = await asyncio.to_thread(ctl.status)
        lic = act.verdict.license
        return {
            "activated": not act.unchanged,
            "unchanged": act.unchanged,
            "license_id": lic.license_id if lic else None,
            "replaced": act.replaced,
            "status": status,
        }

    @app.post(
        "/api/v1/license/clock/acknowledge",
        tags=["license"],
        responses={422: {"description": "refused: clock_not_behind (nothing to acknowledge) or clock_rollback (behind proven time)"}},
    )
    def clock_acknowledge(request: Request, _: Admin) -> dict[str, Any]:
        """Vouch that the system clock is right now, when only the controller's own earlier readings put it behind (audited)."""
        who = request.client.host if request.client else "?"
        return ctl.acknowledge_clock(f"admin via API from {who}")

    @app.get("/api/v1/license/history", tags=["license"])
    def license_history(_: Admin) -> list[dict[str, Any]]:
        """Every key activated here, newest first."""
        return svc.history()

    # -- seats --------------------------------------------------------------

    def seated(o: Outcome) -> Response:
        if not o.ok:
            status = {"not_joined": 409, "seat_taken": 409, "seat_secret": 403}.get(o.code, 422)
            return error_response(o.code, o.hint, status, {"status": o.status})
        ttl = ctl.ttl.total_seconds()
        body = {
            "admitted": True,
            "status": o.status,
            "code": o.code,
            "hint": o.hint,
            "heartbeat_ttl": int(ttl),
            "heartbeat_interval": max(0.2, ttl / 3),
        }
        if o.secret:
            body["seat_secret"] = o.secret
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": Seated},
        409: {"description": "not_joined: no seat held (heartbeat), join again; seat_taken: another agent holds this id's seat (join)"},
        422: {"description": "refused: code and hint (missing, expired, limit_reached, …)"},
    }

    for kind, model in (("node", NodeIn), ("cluster", ClusterIn)):
        _routes(app, kind, model, batcher, ctl, seated, responses, fast_agent, Admin, Agent, SeatId)

    # -- features and updates -------------------------------------------------

    @app.get("/api/v1/features/{name}", tags=["license"])
    def feature(name: Annotated[str, Path(max_length=100)], _: Agent) -> dict[str, Any]:
        """Is feature ``name`` on under the license in force?"""
        v = ctl.verdict()
        on = feature_enabled(v, name)
        hint = (
            f"feature '{name}' is licensed"
            if on
            else (f"feature '{name}' is not in this license: ask your vendor to add it" if v.keeps_seats else v.hint)
        )
        return {"feature": name, "enabled": on, "code": "valid" if on else ("not_licensed" if v.keeps_seats else v.code), "hint": hint}

    @app.get("/api/v1/updates", tags=["license"])
    def updates(
        _: Agent,
        version: Annotated[str, Query(min_length=1, max_length=100)],
        released: Annotated[str, Query(description="release date, YYYY-MM-DD or RFC 3339", max_length=40)],
    ) -> dict[str, Any]:
        """May the release ``version``, published on ``released``, be installed?"""
        when = _parse_date(released)
        v = ctl.verdict()
        if v.license is None:
            return {"version": version, "allowed": False, "code": v.code, "hint": v.hint}
        u = update_allowed(v.license, when)
        return {
            "version": version,
            "allowed": u.valid,
            "code": u.code,
            "hint": u.hint,
            "maintenance_until": fmt_time(v.license.maintenance_until),
        }

    # -- audit and usage ------------------------------------------------------

    @app.get("/api/v1/audit", tags=["audit"])
    def audit_list(
        _: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100, event: Annotated[str | None, Query(max_length=40)] = None
    ) -> list[dict[str, Any]]:
        """The newest audit entries."""
        return ctl.audit_entries(limit, event)

    @app.get("/api/v1/audit/verify", tags=["audit"])
    def audit_verify(_: Admin) -> dict[str, Any]:
        """Check the audit log's hash chain."""
        r = ctl.audit_verify()
        return {"ok": r.ok, "entries": r.entries, "problem": r.problem, "bad_id": r.bad_id}

    @app.get("/api/v1/usage/{month}", tags=["audit"], response_class=PlainTextResponse)
    def usage(month: Annotated[str, Path(pattern=MONTH_PATTERN)], _: Admin) -> PlainTextResponse:
        """The signed usage report of a month (peak nodes and clusters) for the vendor's true-up."""
        return PlainTextResponse(ctl.usage_report(month))

    from .web import mount_console  # the admin's web console: /, /settings/license, /nodes, …

    mount_console(app, ctl)
    return app


def _routes(
    app: FastAPI,
    kind: str,
    model: Any,
    batcher: Any,
    ctl: Controller,
    seated: Callable[[Outcome], Response],
    responses: Any,
    fast_agent: Callable[[Request], Awaitable[None]],
    Admin: Any,
    Agent: Any,
    SeatId: Any,
) -> None:
    plural = f"{kind}s"
    noun = NOUN[kind]
    id_field = f"{kind}_id"

    # Join and heartbeat are the hot path: no dependency injection, the body is
    # validated straight from bytes (same model, same 422 errors as elsewhere).
    async def join(request: Request) -> Response:
        await fast_agent(request)
        data = (await json_body(request, model)).model_dump()
        return seated(await batcher.submit(Op("join", kind, data[id_field], data["address"], request.headers.get(SEAT_SECRET_HEADER, ""))))

    async def heartbeat(request: Request, seat_id: SeatId) -> Response:
        await fast_agent(request)
        return seated(await batcher.submit(Op("heartbeat", kind, seat_id, secret=request.headers.get(SEAT_SECRET_HEADER, ""))))

    async def leave(
        seat_id: SeatId,
        role: Agent,
        x_seat_secret: Annotated[
            str, Header(alias="X-Seat-Secret", description="the seat's secret; an admin may leave it out to release any seat")
        ] = "",
    ) -> Any:
        o = await batcher.submit(Op("leave", kind, seat_id, secret=x_seat_secret, admin=role == "admin"))
        if not o.ok:
            return error_response(o.code, o.hint, 403, {"status": o.status})
        return {"left": o.status == "left", "code": o.code, "hint": o.hint}

    def listing(_: Admin) -> dict[str, Any]:
        v = ctl.verdict()
        items = ctl.seats(kind)
        from .seating import limit_of

        return {
            "items": items,
            "used": sum(1 for i in items if i["alive"]) if v.keeps_seats else 0,
            "limit": limit_of(v, kind),
            "state": v.code,
        }

    def route(path: str, endpoint: Callable[..., Any], method: str, summary: str, **extra: Any) -> None:
        app.add_api_route(f"/api/v1/{plural}{path}", endpoint, methods=[method], tags=[plural], summary=summary, **extra)

    def secret_doc(required: bool, what: str) -> dict[str, Any]:
        return {"name": "X-Seat-Secret", "in": "header", "required": required, "schema": {"type": "string"}, "description": what}

    body_doc = {
        "requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}, "required": True},
        "parameters": [secret_doc(False, "the seat's secret, to rejoin a seat this agent holds")],
    }
    beat_doc = {"parameters": [secret_doc(True, "the seat's secret, answered by the join")]}
    route("/join", join, "POST", f"a {noun} asks for a seat", responses=responses, openapi_extra=body_doc)
    beat_responses = {**responses, 403: {"description": "seat_secret: the heartbeat did not present the seat's secret (X-Seat-Secret)"}}
    route("/{seat_id}/heartbeat", heartbeat, "POST", f"a {noun} keeps its seat", responses=beat_responses, openapi_extra=beat_doc)
    route(
        "/{seat_id}",
        leave,
        "DELETE",
        f"a {noun} leaves and frees its seat (an admin: releases it)",
        responses={403: {"description": "seat_secret: the leave did not present the seat's secret"}},
    )
    route("", listing, "GET", f"{noun}s holding seats")


def _parse_date(text: str) -> datetime:
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"'{text[:40]}' is not a date: use YYYY-MM-DD") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    if not in_range(t):
        raise UsageError(f"'{text[:40]}' is not a plausible release date: give one from {EARLIEST.year} to {LATEST.year - 1}")
    return t


async def _key_from_request(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:
            raise UsageError("the upload is not a valid multipart form: send the license file in a field named 'file'") from None
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise UsageError("the upload has no file: send the license file in a field named 'file'")
        raw = await item.read(MAX_KEY_BYTES + 1)
    elif ctype == "application/json":
        try:
            doc = ActivateKey.model_validate_json(await request.body())
        except ValueError:
            raise UsageError('the JSON body must be {"key": "<license key or file text>"}') from None
        raw = doc.key.encode()
    else:
        raw = await request.body()
    if not raw.strip():
        raise UsageError("no license key was sent: send the key or license file as the request body")
    if len(raw) > MAX_KEY_BYTES:
        raise UsageError(f"the upload is over {MAX_KEY_BYTES} bytes; a license file is far smaller")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from ..errors import MalformedError

        raise MalformedError("the input is not text (it is not valid UTF-8): send the license file itself, not a binary file") from None


def render_metrics(ctl: Controller) -> str:
    v = ctl.verdict()
    now = ctl.clock()
    used = ctl.used(v)
    from .seating import limit_of

    out: list[str] = []

    def metric(name: str, help: str, kind: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else repr(float(value)))
            out.append(f"{name}{labels} {text}")

    states = (
        "valid",
        "grace",
        "expired",
        "missing",
        "clock_rollback",
        "not_yet_valid",
        "wrong_installation",
        "wrong_product",
        "superseded",
    )
    shown = [*states, v.code] if v.code not in states else list(states)
    metric(
        "licensor_license_state",
        "1 for the current license state",
        "gauge",
        [(f'{{state="{s}"}}', 1.0 if s == v.code else 0.0) for s in shown],
    )
    metric("licensor_license_valid", "1 when new nodes may join", "gauge", [("", 1.0 if v.valid else 0.0)])
    lic = v.license
    if lic is not None:
        if lic.expires is not None:
            metric(
                "licensor_license_days_to_expiry",
                "days until the license expires (negative: since)",
                "gauge",
                [("", (lic.expires - now).total_seconds() / 86400)],
            )
        metric(
            "licensor_license_days_to_maintenance_end",
            "days until maintenance ends (negative: since)",
            "gauge",
            [("", (lic.maintenance_until - now).total_seconds() / 86400)],
        )
    metric("licensor_nodes_used", "agent nodes holding a seat", "gauge", [("", used["node"])])
    metric("licensor_nodes_limit", "agent nodes the license allows", "gauge", [("", limit_of(v, "node"))])
    metric("licensor_clusters_used", "remote clusters holding a seat", "gauge", [("", used["cluster"])])
    metric("licensor_clusters_limit", "remote clusters the license allows", "gauge", [("", limit_of(v, "cluster"))])
    metric(
        "licensor_refusals_total",
        "joins refused by this process, by code",
        "counter",
        [(f'{{code="{c}"}}', n) for c, n in sorted(ctl.refusals.items())] or [('{code="limit_reached"}', 0)],
    )
    return "\n".join(out) + "\n"


def app_from_env() -> FastAPI:
    """The ASGI app factory ``serve`` points uvicorn at (settings from ``LICENSOR_*``)."""
    return create_app(ControllerSettings.from_env())


__all__ = ["ControllerSettings", "app_from_env", "create_app", "render_metrics"]
