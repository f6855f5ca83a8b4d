"""The access matrix: every route of both services, tried by every kind of caller.

The routes come from the apps' own route tables (``app.routes`` of ``create_app``), so
a route added later has no row in ``CONTROLLER`` / ``ISSUER`` below and fails the test
by name until someone decides, in review, who may call it.

Each row names a *policy*; ``CONTROLLER_POLICIES`` and ``ISSUER_POLICIES`` write out, for
every caller, what that policy answers: ``ok`` (the call is made for real and must
succeed with the recipe's status), ``401``, ``403`` (JSON with that code) or ``login`` (a
console page sends the browser to the sign-in page).  A refused call must change
nothing: every table of the database is read before and after it and compared.

Callers, controller: nobody, a join token, a revoked join token, a revoked admin token,
an admin token, HTTP Basic with the admin password, a console session with its CSRF
token and the same session without it (wrong passwords are the guessing suite's).
Issuer: nobody, one API token per scope, a token with every scope, a revoked token with
every scope, HTTP Basic with an admin user's password (not a way in), an admin session
with its CSRF token and the same session without it.
"""

from __future__ import annotations

import base64
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine, MetaData, select, update
from starlette.routing import Mount, Route

from licensor.identity import InstallationKey
from licensor.testing import TestVendor, request_code
from licensor.usage import make_usage_report

from .conftest import LONG, record

with warnings.catch_warnings():
    # Starlette would rather have httpx2; the httpx this project installs serves the test client as well.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

PASSWORD = "correct horse battery staple"
FACTORS = {"cluster": "cluster-under-test", "machine": "machine-under-test"}


def cheap_hash() -> str:
    """The password as argon2 hashes it, at the lowest cost: several hundred sign-ins stay quick on a busy machine."""
    from argon2 import PasswordHasher

    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


# -- what each policy answers, per caller --------------------------------------------------

OK, R401, R403, LOGIN = "ok", "401", "403", "login"

CONTROLLER_CALLERS = ("anonymous", "join", "revoked_join", "revoked_admin", "admin_token", "admin_basic", "session", "session_no_csrf")
SCOPES = ("licenses:read", "licenses:write", "keys:admin", "usage:write", "catalog:write", "audit:read")
ISSUER_CALLERS = ("anonymous", *(f"token:{s}" for s in SCOPES), "token:all", "revoked_token", "basic", "session", "session_no_csrf")


def _everyone(callers: tuple[str, ...], answer: str = OK) -> dict[str, str]:
    return dict.fromkeys(callers, answer)


def _console_page(callers: tuple[str, ...]) -> dict[str, str]:
    return {**_everyone(callers, LOGIN), "session": OK, "session_no_csrf": OK}


def _console_form(callers: tuple[str, ...]) -> dict[str, str]:
    return {**_everyone(callers, LOGIN), "session": OK, "session_no_csrf": R403}


def _controller_api(*, join: str) -> dict[str, str]:
    """The admin token and password may; the join token answers ``join``; anyone else (revoked, a console session) 401."""
    return {**_everyone(CONTROLLER_CALLERS, R401), "join": join, "admin_token": OK, "admin_basic": OK}


CONTROLLER_POLICIES: dict[str, dict[str, str]] = {
    # Liveness, metrics, the API description, the sign-in page and the console's assets.
    "public": _everyone(CONTROLLER_CALLERS),
    # Agents and admins; the console's cookie is no way into the API (no CSRF there).
    "agent": _controller_api(join=OK),
    "admin": _controller_api(join=R403),
    # The web console takes its signed session cookie only; forms also need its CSRF token.
    "page": _console_page(CONTROLLER_CALLERS),
    "form": _console_form(CONTROLLER_CALLERS),
}


def _scoped(scope: str, *, unsafe: bool) -> dict[str, str]:
    row = {c: (OK if c in (f"token:{scope}", "token:all") else R403) for c in ISSUER_CALLERS if c.startswith("token:")}
    return {
        **row,
        "anonymous": R401,
        "revoked_token": R401,
        "basic": R401,
        "session": OK,
        "session_no_csrf": R403 if unsafe else OK,
    }


ISSUER_POLICIES: dict[str, dict[str, str]] = {
    "public": _everyone(ISSUER_CALLERS),
    **{f"{s}": _scoped(s, unsafe=False) for s in SCOPES},
    **{f"{s} unsafe": _scoped(s, unsafe=True) for s in SCOPES},
    "page": _console_page(ISSUER_CALLERS),
    "form": _console_form(ISSUER_CALLERS),
}

# -- the tables: every route and its policy ----------------------------------------------------

#: Both services serve these to anyone: liveness, the API description and its pages, the consoles' assets.
PUBLIC: dict[tuple[str, str], str] = dict.fromkeys(
    [("GET", "/healthz"), ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/{name}"), ("GET", "/console-static/{name}")], "public"
)

CONTROLLER: dict[tuple[str, str], str] = {
    **PUBLIC,
    ("GET", "/metrics"): "public",
    ("GET", "/api/v1/license"): "agent",
    ("POST", "/api/v1/license/request"): "admin",
    ("POST", "/api/v1/license/activate"): "admin",
    ("GET", "/api/v1/license/history"): "admin",
    ("POST", "/api/v1/license/clock/acknowledge"): "admin",
    ("POST", "/api/v1/nodes/join"): "agent",
    ("POST", "/api/v1/nodes/{seat_id}/heartbeat"): "agent",
    ("DELETE", "/api/v1/nodes/{seat_id}"): "agent",
    ("GET", "/api/v1/nodes"): "admin",
    ("POST", "/api/v1/clusters/join"): "agent",
    ("POST", "/api/v1/clusters/{seat_id}/heartbeat"): "agent",
    ("DELETE", "/api/v1/clusters/{seat_id}"): "agent",
    ("GET", "/api/v1/clusters"): "admin",
    ("GET", "/api/v1/features/{name}"): "agent",
    ("GET", "/api/v1/updates"): "agent",
    ("GET", "/api/v1/audit"): "admin",
    ("GET", "/api/v1/audit/verify"): "admin",
    ("GET", "/api/v1/usage/{month}"): "admin",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "form",
    ("GET", "/"): "page",
    ("GET", "/settings/license"): "page",
    ("GET", "/settings/license/request"): "page",
    ("POST", "/settings/license/request"): "form",
    ("POST", "/settings/license/request/download"): "form",
    ("POST", "/settings/license/activate"): "form",
    ("POST", "/settings/license/clock/acknowledge"): "form",
    ("GET", "/settings/configuration"): "page",
    ("POST", "/settings/configuration"): "form",
    ("GET", "/nodes"): "page",
    ("GET", "/clusters"): "page",
    ("GET", "/seats"): "page",
    ("GET", "/about"): "page",
}

ISSUER: dict[tuple[str, str], str] = {
    **PUBLIC,
    ("POST", "/api/v1/login"): "public",
    ("POST", "/api/v1/logout"): "licenses:read unsafe",
    ("GET", "/api/v1/session"): "licenses:read",
    ("POST", "/api/v1/requests/inspect"): "licenses:read unsafe",
    ("POST", "/api/v1/licenses"): "licenses:write unsafe",
    ("GET", "/api/v1/licenses"): "licenses:read",
    ("GET", "/api/v1/licenses.csv"): "licenses:read",
    ("GET", "/api/v1/renewals"): "licenses:read",
    ("GET", "/api/v1/licenses/{license_id}"): "licenses:read",
    ("GET", "/api/v1/licenses/{license_id}/file"): "licenses:read",
    ("POST", "/api/v1/licenses/{license_id}/renew"): "licenses:write unsafe",
    ("POST", "/api/v1/licenses/{license_id}/rehost"): "licenses:write unsafe",
    ("POST", "/api/v1/licenses/{license_id}/send"): "licenses:write unsafe",
    ("GET", "/api/v1/installations"): "licenses:read",
    ("GET", "/api/v1/installations/{installation_id}"): "licenses:read",
    ("GET", "/api/v1/customers"): "licenses:read",
    ("PUT", "/api/v1/customers/{customer_id}/reminders"): "licenses:write unsafe",
    ("GET", "/api/v1/reminders"): "licenses:read",
    ("POST", "/api/v1/reminders/sweep"): "licenses:write unsafe",
    ("GET", "/api/v1/products"): "licenses:read",
    ("PUT", "/api/v1/products/{name}"): "catalog:write unsafe",
    ("GET", "/api/v1/plans"): "licenses:read",
    ("PUT", "/api/v1/plans/{name}"): "catalog:write unsafe",
    ("GET", "/api/v1/keys/public"): "licenses:read",
    ("GET", "/api/v1/keys"): "keys:admin",
    ("POST", "/api/v1/keys/rotate"): "keys:admin unsafe",
    ("DELETE", "/api/v1/keys/{kid}"): "keys:admin unsafe",
    ("POST", "/api/v1/usage-reports"): "usage:write unsafe",
    ("GET", "/api/v1/usage-reports"): "licenses:read",
    ("GET", "/api/v1/audit"): "audit:read",
    ("GET", "/login"): "public",
    ("POST", "/login"): "public",
    ("POST", "/logout"): "form",
    ("GET", "/"): "public",  # a redirect to /issue, which is a page
    ("GET", "/issue"): "page",
    ("POST", "/issue/preview"): "form",
    ("POST", "/issue"): "form",
    ("GET", "/licenses"): "page",
    ("GET", "/licenses.csv"): "page",
    ("GET", "/renewals"): "page",
    ("GET", "/licenses/{license_id}"): "page",
    ("GET", "/licenses/{license_id}/download"): "page",
    ("POST", "/licenses/{license_id}/renew"): "form",
    ("POST", "/licenses/{license_id}/rehost"): "form",
    ("POST", "/licenses/{license_id}/send"): "form",
    ("GET", "/customers"): "page",
    ("POST", "/customers/{customer_id}/reminders"): "form",
    ("GET", "/reminders"): "page",
    ("POST", "/reminders/run"): "form",
    ("GET", "/installations"): "page",
    ("GET", "/installations/{installation_id}"): "page",
    ("GET", "/keys"): "page",
    ("GET", "/keys/public.txt"): "page",
    ("POST", "/keys/rotate"): "form",
    ("POST", "/keys/{kid}/remove"): "form",
    ("GET", "/usage"): "page",
    ("POST", "/usage"): "form",
}


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, path) the app answers, from its own routes; HEAD rides on GET (same endpoint)."""
    out: set[tuple[str, str]] = set()
    for r in app.routes:
        if isinstance(r, APIRoute | Route):
            for m in r.methods or ():
                if m != "HEAD":
                    out.add((m, r.path))
        elif isinstance(r, Mount):
            out.add(("GET", r.path))
        else:
            raise AssertionError(f"{r!r}: a route of a kind this test does not know: add it to route_table()")
    return sorted(out)


# -- a call, and how the answer is judged ----------------------------------------------------------


@dataclass
class Call:
    """One request: what an allowed caller gets (``status``), and how to prepare for it."""

    path: str
    status: int = 200
    json: Any = None
    form: dict[str, str] | None = None
    content: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    #: run with admin rights before the call (and before the database is read for a refused one)
    prepare: Callable[[Any], None] | None = None
    #: the session caller uses a session of its own (the call ends it)
    own_session: bool = False
    #: for an allowed call, a check of the body beyond its status
    check: Callable[[httpx.Response], bool] | None = None


_TABLES: dict[int, MetaData] = {}


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the schema is read once per engine)."""
    md = _TABLES.get(id(engine))
    if md is None:
        md = _TABLES[id(engine)] = MetaData()
        md.reflect(engine)
    with engine.connect() as c:
        return {
            name: sorted((tuple(row) for row in c.execute(select(t))), key=repr)
            for name, t in sorted(md.tables.items())
            if name != "alembic_version"
        }


class Matrix:
    """Runs every (route, caller) of one app and counts cases and holes."""

    def __init__(
        self,
        name: str,
        table: dict[tuple[str, str], str],
        policies: dict[str, dict[str, str]],
        send: Callable[[str, str, Call], httpx.Response],
        engine: Engine,
    ):
        self.name, self.table, self.policies, self.send, self.engine = name, table, policies, send, engine
        self.cases = 0
        self.holes: list[str] = []

    def check_coverage(self, routes: list[tuple[str, str]], recipes: dict[tuple[str, str], Call]) -> None:
        missing = [f"{m} {p}" for m, p in routes if (m, p) not in self.table]
        assert not missing, (
            f"{self.name}: routes with no row in the access table: {', '.join(missing)}: "
            "decide who may call each and add it to the table in tests/attack/test_access.py"
        )
        gone = [f"{m} {p}" for m, p in self.table if (m, p) not in routes]
        assert not gone, f"{self.name}: the access table names routes the app no longer has: {', '.join(gone)}"
        assert set(recipes) == set(self.table), f"{self.name}: recipes and table differ: {set(recipes) ^ set(self.table)}"
        for policy in set(self.table.values()):
            assert set(self.policies[policy]) == set(self.callers), f"{self.name}: policy {policy} does not name every caller"

    @property
    def callers(self) -> tuple[str, ...]:
        return tuple(next(iter(self.policies.values())))

    def judge(self, method: str, call: Call, caller: str, expected: str, r: httpx.Response) -> str | None:
        """None when the answer is the expected one, else what is wrong."""
        if expected == OK:
            if r.status_code != call.status:
                return f"allowed, but answered {r.status_code} (want {call.status}): {r.text[:300]}"
            if call.check is not None and not call.check(r):
                return f"allowed, but the answer is not right: {r.text[:300]}"
            return None
        if expected == LOGIN:
            loc = r.headers.get("location", "")
            if r.status_code not in (302, 303, 307) or not loc.startswith("/login"):
                return f"should go to the sign-in page, answered {r.status_code} {loc} {r.text[:200]}"
            return None
        want = int(expected)
        if r.status_code != want:
            return f"should be refused with {want}, answered {r.status_code}: {r.text[:300]}"
        if r.headers.get("content-type", "").startswith("application/json"):
            body = r.json()
            code = {401: "unauthorized", 403: "forbidden"}[want]
            if body.get("code") != code or not body.get("hint"):
                return f"refused without code {code} and a hint: {body}"
        return None

    def run(self, method: str, path: str, call: Call) -> None:
        policy = self.policies[self.table[(method, path)]]
        for caller in self.callers:
            expected = policy[caller]
            if call.prepare is not None:
                call.prepare(caller)
            before = snapshot(self.engine) if expected != OK else None
            r = self.send(method, caller, call)
            self.cases += 1
            problem = self.judge(method, call, caller, expected, r)
            if problem is None and before is not None:
                after = snapshot(self.engine)
                if after != before:
                    changed = [t for t in before if before[t] != after.get(t)]
                    problem = f"refused, but the database changed (tables {', '.join(changed)})"
            if problem is not None:
                self.holes.append(f"{self.name} {method} {path} as {caller}: {problem}")


# -- controller ---------------------------------------------------------------------------------


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def _controller(url: str) -> Iterator[tuple[Matrix, dict[tuple[str, str], Call], FastAPI, TestClient]]:
    from licensor.controller import store as cs
    from licensor.controller.app import ControllerSettings, create_app
    from licensor.controller.license.service import ControllerService
    from licensor.controller.runtime import Controller
    from licensor.controller.store import Store

    vendor = TestVendor()
    svc = ControllerService(Store(url), factors=FACTORS)
    svc.init(vendor.keyring, product="demo")
    ctl = Controller(svc)
    tokens = {
        "join": ctl.create_token("join_token", "agents"),
        "admin_token": ctl.create_token("admin_token", "ops"),
        "revoked_join": ctl.create_token("join_token", "old agents"),
        "revoked_admin": ctl.create_token("admin_token", "old ops"),
    }
    ctl.set_admin_password(PASSWORD)
    with svc.store.tx() as c:
        c.execute(update(cs.credentials).where(cs.credentials.c.kind == "admin_password").values(secret_hash=cheap_hash()))
    for cred in ctl.list_credentials():
        if cred["name"].startswith("old"):
            ctl.revoke(int(cred["id"]))
    with svc.store.tx() as c:
        installation = svc.installation(c)
    key = vendor.issue(installation, nodes=1000, remote_clusters=100, features=("sso",), now=datetime.now(UTC) - timedelta(minutes=1))
    svc.store.close()

    # A long TTL: no sweep frees seats (and changes the database) while a refused call is watched.
    app = create_app(ControllerSettings(database_url=url, factors=FACTORS, heartbeat_ttl=3600))
    with TestClient(app, follow_redirects=False) as client:
        admin_h = {"authorization": f"Bearer {tokens['admin_token']}"}
        r = client.post("/api/v1/license/activate", content=key, headers={**admin_h, "content-type": "text/plain"})
        assert r.status_code == 200, r.text
        session = _signed_in(client, "licensor_controller_session", "admin")
        fresh: dict[str, tuple[str, str]] = {}

        def own_session(_caller: str) -> None:
            """A session for this call alone, made before the database is read (a sign-out ends every session: run last)."""
            fresh["session"] = _signed_in(client, "licensor_controller_session", "admin")

        made = client.post("/api/v1/license/request", json=REQUEST_BODY, headers=admin_h)
        assert made.status_code == 200, made.text
        request_code = made.json()["code"]

        basic = {
            "admin_basic": "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode(),
        }

        def headers(caller: str) -> dict[str, str]:
            if caller in tokens:
                return {"authorization": f"Bearer {tokens[caller]}"}
            if caller in basic:
                return {"authorization": basic[caller]}
            return {}

        def send(method: str, caller: str, call: Call) -> httpx.Response:
            client.cookies.clear()
            h = headers(caller)
            parts = call.path.split("/")
            seat = None
            if parts[3:4] in (["nodes"], ["clusters"]) and len(parts) > 4:
                seat = parts[4] if parts[4] != "join" else (call.json or {}).get(f"{parts[3][:-1]}_id")
            if seat in seat_secrets:
                h["X-Seat-Secret"] = seat_secrets[seat]
            form = dict(call.form) if call.form is not None else None
            if caller.startswith("session"):
                cookie, csrf = fresh.pop("session") if call.own_session else session
                h["cookie"] = f"licensor_controller_session={cookie}"
                if form is not None and caller == "session":
                    form["csrf_token"] = csrf
            r = client.request(method, call.path, headers=h, json=call.json, data=form, content=call.content, params=call.query)
            if seat is not None and r.status_code == 200 and "seat_secret" in r.json():
                seat_secrets[seat] = r.json()["seat_secret"]
            return r

        # Heartbeats and leaves present the seat's secret: what is tested here is who may call, not who holds the seat.
        seat_secrets: dict[str, str] = {}

        def join(kind: str, seat: str) -> Callable[[str], None]:
            def prepare(_caller: str) -> None:
                held = {"X-Seat-Secret": seat_secrets[seat]} if seat in seat_secrets else {}
                r = client.post(f"/api/v1/{kind}s/join", json={f"{kind}_id": seat}, headers={**admin_h, **held})
                assert r.status_code == 200, r.text
                if "seat_secret" in r.json():
                    seat_secrets[seat] = r.json()["seat_secret"]

            return prepare

        seated = lambda r: r.json().get("admitted") is True  # noqa: E731

        def seat_calls(kind: str) -> dict[tuple[str, str], Call]:
            """Join, heartbeat, leave and list for ``node`` or ``cluster`` seats, each call on a seat of its own (``n-joins``, ...)."""
            api, k = f"/api/v1/{kind}s", kind[0]
            return {
                ("POST", f"{api}/join"): Call(f"{api}/join", json={f"{kind}_id": f"{k}-joins"}, check=seated),
                ("POST", f"{api}/{{seat_id}}/heartbeat"): Call(
                    f"{api}/{k}-beats/heartbeat", prepare=join(kind, f"{k}-beats"), check=seated
                ),
                ("DELETE", f"{api}/{{seat_id}}"): Call(
                    f"{api}/{k}-leaves", prepare=join(kind, f"{k}-leaves"), check=lambda r: r.json()["left"] is True
                ),
                ("GET", api): Call(api),
            }

        month = datetime.now(UTC).strftime("%Y-%m")
        recipes: dict[tuple[str, str], Call] = {
            ("GET", "/healthz"): Call("/healthz"),
            ("GET", "/metrics"): Call("/metrics", check=lambda r: "licensor_license_valid 1.0" in r.text),
            ("GET", "/openapi.json"): Call("/openapi.json"),
            ("GET", "/docs"): Call("/docs"),
            ("GET", "/docs/{name}"): Call("/docs/swagger-ui.css"),
            ("GET", "/console-static/{name}"): Call("/console-static/console.css"),
            ("GET", "/api/v1/license"): Call("/api/v1/license", check=lambda r: r.json()["state"] == "valid"),
            ("POST", "/api/v1/license/request"): Call("/api/v1/license/request", json=REQUEST_BODY),
            ("POST", "/api/v1/license/activate"): Call(
                "/api/v1/license/activate", content=key, check=lambda r: r.json()["unchanged"] is True
            ),
            ("GET", "/api/v1/license/history"): Call("/api/v1/license/history"),
            # The clock is right, so there is nothing to acknowledge: an allowed caller hears why.
            ("POST", "/api/v1/license/clock/acknowledge"): Call(
                "/api/v1/license/clock/acknowledge", 422, check=lambda r: r.json()["code"] == "clock_not_behind"
            ),
            **seat_calls("node"),
            **seat_calls("cluster"),
            ("GET", "/api/v1/features/{name}"): Call("/api/v1/features/sso", check=lambda r: r.json()["enabled"] is True),
            ("GET", "/api/v1/updates"): Call("/api/v1/updates", query={"version": "1.2", "released": "2026-01-01"}),
            ("GET", "/api/v1/audit"): Call("/api/v1/audit"),
            ("GET", "/api/v1/audit/verify"): Call("/api/v1/audit/verify", check=lambda r: r.json()["ok"] is True),
            ("GET", "/api/v1/usage/{month}"): Call(f"/api/v1/usage/{month}"),
            ("GET", "/login"): Call("/login"),
            ("POST", "/login"): Call("/login", 303, form={"username": "admin", "password": PASSWORD, "next": "/nodes"}),
            ("POST", "/logout"): Call("/logout", 303, form={}, own_session=True, prepare=own_session),
            ("GET", "/"): Call("/"),
            ("GET", "/settings/license"): Call("/settings/license"),
            ("GET", "/settings/license/request"): Call("/settings/license/request"),
            ("POST", "/settings/license/request"): Call(
                "/settings/license/request", form={k: str(v) for k, v in REQUEST_BODY.items()}, check=lambda r: "QR code" in r.text
            ),
            ("POST", "/settings/license/request/download"): Call("/settings/license/request/download", form={"code": request_code}),
            ("POST", "/settings/license/activate"): Call("/settings/license/activate", 303, form={"key": key}),
            ("POST", "/settings/license/clock/acknowledge"): Call(
                "/settings/license/clock/acknowledge", 422, form={}, check=lambda r: "Not acknowledged" in r.text
            ),
            ("GET", "/settings/configuration"): Call("/settings/configuration"),
            ("POST", "/settings/configuration"): Call(
                "/settings/configuration", 303, form={"cluster_name": "prod", "vendor_email": "licensing@vendor.example"}
            ),
            ("GET", "/nodes"): Call("/nodes"),
            ("GET", "/clusters"): Call("/clusters"),
            ("GET", "/seats"): Call("/seats"),
            ("GET", "/about"): Call("/about"),
        }
        yield Matrix("controller", CONTROLLER, CONTROLLER_POLICIES, send, app.state.controller.svc.store.engine), recipes, app, client


REQUEST_BODY = {"name": "Ada Admin", "email": "ada@example.com", "company": "ACME", "nodes": 5, "months": 12}


# -- issuer -------------------------------------------------------------------------------------


def _request_code(key: InstallationKey) -> str:
    return request_code(key, factors=FACTORS, now=datetime.now(UTC) - timedelta(minutes=5))[1]


class Inbox:
    """An SMTP server on loopback that keeps what it is sent."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(envelope)
        return "250 OK"


@contextmanager
def _issuer(url: str, smtp_port: int) -> Iterator[tuple[Matrix, dict[tuple[str, str], Call], FastAPI, TestClient]]:
    from licensor.issuer import store as iss
    from licensor.issuer.app import create_app
    from licensor.issuer.migrate import upgrade
    from licensor.issuer.service import IssuerService
    from licensor.issuer.settings import IssuerSettings, SmtpSettings
    from licensor.issuer.store import Store

    store = Store(url)
    upgrade(store)
    svc = IssuerService(store)
    svc.init("test")
    svc.create_user("ada", PASSWORD, actor="test")
    with store.tx() as c:
        c.execute(update(iss.users).values(password_hash=cheap_hash()))
    tokens = {f"token:{s}": svc.create_token(f"only {s}", [s], actor="test") for s in SCOPES}
    tokens["token:all"] = svc.create_token("all", SCOPES, actor="test")
    tokens["revoked_token"] = svc.create_token("revoked", SCOPES, actor="test")
    svc.revoke_token(next(t["id"] for t in svc.tokens() if t["name"] == "revoked"), actor="test")
    inst = InstallationKey.generate()
    issued = svc.issue(_request_code(inst), actor="test")
    lid = issued.license.license_id
    customer_id = svc.customers.customers()[0]["id"]
    report = make_usage_report(inst, month="2026-01", peak_nodes=3, peak_clusters=0, now=datetime.now(UTC), license_id=lid, serial=1)
    store.close()

    settings = IssuerSettings(
        database_url=url, cookie_secure=False, smtp=SmtpSettings(host="127.0.0.1", port=smtp_port, sender="licensing@vendor.example")
    )
    app = create_app(settings)
    service = app.state.service
    with TestClient(app, follow_redirects=False) as client:

        def login() -> tuple[str, str]:
            r = client.post("/api/v1/login", json={"username": "ada", "password": PASSWORD})
            assert r.status_code == 200, r.text
            cookie = r.cookies["licensor_session"]
            client.cookies.clear()
            return cookie, str(r.json()["csrf_token"])

        session = login()
        fresh: dict[str, tuple[str, str]] = {}

        def own_session(_caller: str) -> None:
            """A session for this call alone (it ends it), made before the database is read."""
            fresh["session"] = login()

        basic = "Basic " + base64.b64encode(f"ada:{PASSWORD}".encode()).decode()

        def send(method: str, caller: str, call: Call) -> httpx.Response:
            client.cookies.clear()
            headers: dict[str, str] = {}
            form = dict(call.form) if call.form is not None else None
            if caller in tokens:
                headers["authorization"] = f"Bearer {tokens[caller]}"
            elif caller == "basic":
                headers["authorization"] = basic
            elif caller.startswith("session"):
                cookie, csrf = fresh.pop("session") if call.own_session else session
                headers["cookie"] = f"licensor_session={cookie}"
                if caller == "session":
                    if form is not None:
                        form["csrf_token"] = csrf
                    else:
                        headers["x-csrf-token"] = csrf
            return client.request(method, call.path, headers=headers, json=call.json, data=form, content=call.content, params=call.query)

        def retired_key(path: str) -> Callable[[str], None]:
            """Rotate, so that there is a retired key to remove; point the call at it."""

            def prepare(_caller: str) -> None:
                out = service.rotate_key("test")
                call = recipes[("DELETE", "/api/v1/keys/{kid}")] if path == "api" else recipes[("POST", "/keys/{kid}/remove")]
                kid = out["retired"][0]
                call.path = f"/api/v1/keys/{kid}" if path == "api" else f"/keys/{kid}/remove"

            return prepare

        def new_license(key: tuple[str, str], template: str) -> Callable[[str], None]:
            """A license no call has renewed or rehosted yet (each may be once); rehosts go to a new installation."""

            def prepare(_caller: str) -> None:
                call = recipes[key]
                call.path = template.format(service.issue(_request_code(InstallationKey.generate()), actor="test").license.license_id)
                if call.json is not None and "request_code" in call.json:
                    call.json = {"request_code": _request_code(InstallationKey.generate())}
                if call.form is not None and "request_code" in call.form:
                    call.form = {"request_code": _request_code(InstallationKey.generate())}

            return prepare

        other = _request_code(InstallationKey.generate())
        recipes: dict[tuple[str, str], Call] = {
            ("GET", "/healthz"): Call("/healthz"),
            ("GET", "/openapi.json"): Call("/openapi.json"),
            ("GET", "/docs"): Call("/docs"),
            ("GET", "/docs/{name}"): Call("/docs/swagger-ui.css"),
            ("GET", "/console-static/{name}"): Call("/console-static/console.js"),
            ("POST", "/api/v1/login"): Call("/api/v1/login", json={"username": "ada", "password": PASSWORD}),
            ("POST", "/api/v1/logout"): Call("/api/v1/logout", 204, own_session=True, prepare=own_session),
            ("GET", "/api/v1/session"): Call("/api/v1/session"),
            ("POST", "/api/v1/requests/inspect"): Call("/api/v1/requests/inspect", json={"request_code": other}),
            ("POST", "/api/v1/licenses"): Call("/api/v1/licenses", 201, json={"request_code": other}),
            ("GET", "/api/v1/licenses"): Call("/api/v1/licenses", check=lambda r: len(r.json()) >= 1),
            ("GET", "/api/v1/licenses.csv"): Call("/api/v1/licenses.csv", check=lambda r: lid in r.text),
            ("GET", "/api/v1/renewals"): Call("/api/v1/renewals", query={"days": "400"}, check=lambda r: lid in r.text),
            ("GET", "/api/v1/licenses/{license_id}"): Call(f"/api/v1/licenses/{lid}"),
            ("GET", "/api/v1/licenses/{license_id}/file"): Call(f"/api/v1/licenses/{lid}/file"),
            ("POST", "/api/v1/licenses/{license_id}/renew"): Call(
                "", 201, json={}, prepare=new_license(("POST", "/api/v1/licenses/{license_id}/renew"), "/api/v1/licenses/{}/renew")
            ),
            ("POST", "/api/v1/licenses/{license_id}/rehost"): Call(
                "",
                201,
                json={"request_code": other},
                prepare=new_license(("POST", "/api/v1/licenses/{license_id}/rehost"), "/api/v1/licenses/{}/rehost"),
            ),
            ("POST", "/api/v1/licenses/{license_id}/send"): Call(
                f"/api/v1/licenses/{lid}/send", json={"to": "ada@example.com"}, check=lambda r: r.json()["sent"] is True
            ),
            ("GET", "/api/v1/installations"): Call("/api/v1/installations"),
            ("GET", "/api/v1/installations/{installation_id}"): Call(f"/api/v1/installations/{inst.id}"),
            ("GET", "/api/v1/customers"): Call("/api/v1/customers"),
            ("PUT", "/api/v1/customers/{customer_id}/reminders"): Call(
                f"/api/v1/customers/{customer_id}/reminders", json={"enabled": False}, check=lambda r: r.json()["reminders"] is False
            ),
            ("GET", "/api/v1/reminders"): Call("/api/v1/reminders", check=lambda r: r.json()["window_days"] == 30),
            ("POST", "/api/v1/reminders/sweep"): Call("/api/v1/reminders/sweep", json={}, check=lambda r: r.json()["dry_run"] is False),
            ("GET", "/api/v1/products"): Call("/api/v1/products"),
            ("PUT", "/api/v1/products/{name}"): Call("/api/v1/products/demo", json={"features": ["sso"]}),
            ("GET", "/api/v1/plans"): Call("/api/v1/plans"),
            ("PUT", "/api/v1/plans/{name}"): Call("/api/v1/plans/gold", json={"type": "subscription", "months": 12}),
            ("GET", "/api/v1/keys/public"): Call("/api/v1/keys/public"),
            ("GET", "/api/v1/keys"): Call("/api/v1/keys"),
            ("POST", "/api/v1/keys/rotate"): Call("/api/v1/keys/rotate"),
            ("DELETE", "/api/v1/keys/{kid}"): Call("/api/v1/keys/x", 204, prepare=retired_key("api")),
            ("POST", "/api/v1/usage-reports"): Call("/api/v1/usage-reports", json={"report": report}),
            ("GET", "/api/v1/usage-reports"): Call("/api/v1/usage-reports"),
            ("GET", "/api/v1/audit"): Call("/api/v1/audit"),
            ("GET", "/login"): Call("/login"),
            ("POST", "/login"): Call("/login", 303, form={"username": "ada", "password": PASSWORD, "next": "/licenses"}),
            ("POST", "/logout"): Call("/logout", 303, form={}, own_session=True, prepare=own_session),
            ("GET", "/"): Call("/", 303),
            ("GET", "/issue"): Call("/issue"),
            ("POST", "/issue/preview"): Call("/issue/preview", form={"request_code": other}),
            ("POST", "/issue"): Call("/issue", 303, form={"request_code": other}),
            ("GET", "/licenses"): Call("/licenses"),
            ("GET", "/licenses.csv"): Call("/licenses.csv", check=lambda r: lid in r.text),
            ("GET", "/renewals"): Call("/renewals", query={"days": "400"}, check=lambda r: lid[:8] in r.text),
            ("GET", "/licenses/{license_id}"): Call(f"/licenses/{lid}"),
            ("GET", "/licenses/{license_id}/download"): Call(f"/licenses/{lid}/download"),
            ("POST", "/licenses/{license_id}/renew"): Call(
                "", 303, form={}, prepare=new_license(("POST", "/licenses/{license_id}/renew"), "/licenses/{}/renew")
            ),
            ("POST", "/licenses/{license_id}/rehost"): Call(
                "", 303, form={"request_code": other}, prepare=new_license(("POST", "/licenses/{license_id}/rehost"), "/licenses/{}/rehost")
            ),
            ("POST", "/licenses/{license_id}/send"): Call(f"/licenses/{lid}/send", 303, form={"to": "ada@example.com"}),
            ("GET", "/customers"): Call("/customers"),
            ("POST", "/customers/{customer_id}/reminders"): Call(f"/customers/{customer_id}/reminders", 303, form={"enabled": "0"}),
            ("GET", "/reminders"): Call("/reminders"),
            ("POST", "/reminders/run"): Call("/reminders/run", 303, form={}),
            ("GET", "/installations"): Call("/installations"),
            ("GET", "/installations/{installation_id}"): Call(f"/installations/{inst.id}"),
            ("GET", "/keys"): Call("/keys"),
            ("GET", "/keys/public.txt"): Call("/keys/public.txt"),
            ("POST", "/keys/rotate"): Call("/keys/rotate", 303, form={}),
            ("POST", "/keys/{kid}/remove"): Call("/keys/x/remove", 303, form={}, prepare=retired_key("console")),
            ("GET", "/usage"): Call("/usage"),
            ("POST", "/usage"): Call("/usage", form={"report": report}),
        }
        yield Matrix("issuer", ISSUER, ISSUER_POLICIES, send, service.store.engine), recipes, app, client


# -- the tests ------------------------------------------------------------------------------------


def _run(matrix: Matrix, recipes: dict[tuple[str, str], Call], app: FastAPI) -> None:
    routes = route_table(app)
    matrix.check_coverage(routes, recipes)
    # Sign-outs last: the controller's ends every console session, the one the other rows use too.
    for method, path in sorted(routes, key=lambda route: route[1].endswith("/logout")):
        matrix.run(method, path, recipes[(method, path)])
    record("access", cases=matrix.cases, holes=len(matrix.holes))
    assert not matrix.holes, f"{len(matrix.holes)} of {matrix.cases} cases are wrong:\n" + "\n".join(matrix.holes)


@pytest.fixture(params=["sqlite", "postgres"] if LONG else ["sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite on every run; PostgreSQL too in the long run (the routes' guards do not touch SQL, the stores do)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'access.db'}"
    return str(request.getfixturevalue("fresh_pg")("access"))


@pytest.fixture
def inbox(free_port: int) -> Iterator[Inbox]:
    from aiosmtpd.controller import Controller as SMTPController

    box = Inbox(free_port)
    smtpd = SMTPController(box, hostname="127.0.0.1", port=free_port)
    smtpd.start()
    yield box
    smtpd.stop()


class TestAccessMatrix:
    def test_controller_every_route_every_caller(self, backend: str) -> None:
        """Every controller route answers each caller as its row says; refused calls change nothing."""
        with _controller(backend) as (matrix, recipes, app, _client):
            _run(matrix, recipes, app)

    def test_issuer_every_route_every_caller(self, backend: str, inbox: Inbox) -> None:
        """Every issuer route answers each caller (each token scope, sessions with and without CSRF) as its row says."""
        with _issuer(backend, inbox.port) as (matrix, recipes, app, _client):
            _run(matrix, recipes, app)
        sends = [route for route in ISSUER if route[0] == "POST" and route[1].endswith("/send")]
        allowed = sum(1 for route in sends for answer in ISSUER_POLICIES[ISSUER[route]].values() if answer == OK)
        assert len(inbox.messages) == allowed, f"{len(inbox.messages)} licenses mailed, {allowed} sends allowed"


def _signed_in(client: TestClient, cookie_name: str, username: str) -> tuple[str, str]:
    """Sign in on the console's form; the session cookie and the CSRF token its pages carry."""
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/licenses" if username != "admin" else "/"})
    assert r.status_code == 303, r.text
    cookie = r.cookies[cookie_name]
    client.cookies.clear()
    page = client.get(r.headers["location"], headers={"cookie": f"{cookie_name}={cookie}"})
    found = CSRF_RE.search(page.text)
    assert page.status_code == 200 and found is not None, page.text[:300]
    return cookie, found.group(1)


class TestSignOut:
    @pytest.mark.parametrize("side", ["controller", "issuer"])
    def test_a_signed_out_session_is_no_way_in(self, side: str, backend: str, inbox: Inbox) -> None:
        """After signing out, the old session cookie (kept, copied or stolen) opens no page and posts no form."""
        cookie_name, user = ("licensor_controller_session", "admin") if side == "controller" else ("licensor_session", "ada")
        with _controller(backend) if side == "controller" else _issuer(backend, inbox.port) as (_m, _r, _app, client):
            cookie, csrf = _signed_in(client, cookie_name, user)
            jar = {"cookie": f"{cookie_name}={cookie}"}
            r = client.post("/logout", data={"csrf_token": csrf}, headers=jar)
            assert r.status_code == 303 and r.headers["location"] == "/login", r.text
            client.cookies.clear()
            for path in ("/settings/license", "/") if side == "controller" else ("/licenses", "/keys"):
                r = client.get(path, headers=jar)
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), f"{path} after sign-out: {r.status_code}"
            form = "/settings/configuration" if side == "controller" else "/keys/rotate"
            r = client.post(form, data={"csrf_token": csrf, "cluster_name": "x"}, headers=jar)
            assert r.status_code == 303 and r.headers["location"].startswith("/login"), f"{form} after sign-out: {r.status_code}"
