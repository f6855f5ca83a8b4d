"""Both services in this process: made by ``create_app``, served by a real uvicorn on 127.0.0.1 in a thread (lifespan running).

``issuer(url)`` and ``controller(url)`` give a ``Running`` service with the callers the
attack and bad-input suites need: an admin token, one token per issuer scope, a signed-in
console session with its CSRF token.  ``serve(app)`` runs any ASGI app the same way.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn

from licensor.issuer.app import create_app as issuer_app
from licensor.issuer.migrate import upgrade
from licensor.issuer.service import SCOPES, IssuerService
from licensor.issuer.settings import IssuerSettings
from licensor.issuer.store import Store as IssuerStore

PASSWORD = "correct horse battery staple"  # a test user's password
FACTORS = {"cluster": "cluster-under-test", "machine": "machine-under-test"}


@dataclass
class Running:
    """A service under test: its base URL, its callers' headers and cookies, and what it was made from."""

    base: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # caller name -> headers
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # caller name -> cookies
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, caller: str = "anonymous", **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.headers.get(caller, {}), cookies=self.cookies.get(caller), timeout=30, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served on a free port of 127.0.0.1 by uvicorn in a thread of this process; yields the base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the in-process server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@contextmanager
def issuer(database_url: str, **settings: Any) -> Iterator[Running]:
    """An issuer with a signing key, an admin user signed in, and one API token per scope (plus ``admin`` with all)."""
    store = IssuerStore(database_url)
    upgrade(store)
    svc = IssuerService(store)
    svc.init("tests")
    svc.create_user("ada", PASSWORD, actor="tests")
    tokens = {"admin": svc.create_token("admin", SCOPES, actor="tests")}
    for scope in SCOPES:
        tokens[scope] = svc.create_token(scope.replace(":", "-"), [scope], actor="tests")
    app = issuer_app(IssuerSettings(database_url=database_url, cookie_secure=False, **settings), service=svc)
    try:
        with serve(app) as base:
            run = Running(base, extra={"service": svc, "tokens": tokens})
            run.headers["anonymous"] = {}
            for name, token in tokens.items():
                run.headers[name] = {"authorization": f"Bearer {token}"}
            r = httpx.post(base + "/api/v1/login", json={"username": "ada", "password": PASSWORD}, timeout=30)
            assert r.status_code == 200, r.text
            run.cookies["session"] = dict(r.cookies)
            run.headers["session"] = {"x-csrf-token": r.json()["csrf_token"]}
            yield run
    finally:
        store.close()


@contextmanager
def controller(database_url: str) -> Iterator[Running]:
    """A controller trusting a test vendor, with an admin token, a join token and the admin password set."""
    from licensor.controller.app import ControllerSettings
    from licensor.controller.app import create_app as controller_app
    from licensor.controller.runtime import Controller
    from licensor.controller.service import ControllerService
    from licensor.controller.store import Store
    from licensor.testing import TestVendor

    vendor = TestVendor()
    svc = ControllerService(Store(database_url), factors=FACTORS)
    svc.init(vendor.keyring, product="demo")
    ctl = Controller(svc)
    admin, join = ctl.create_token("admin_token", "tests"), ctl.create_token("join_token", "tests")
    ctl.set_admin_password(PASSWORD)
    with svc.store.tx() as c:
        installation = svc.installation(c)
    svc.store.close()
    app = controller_app(ControllerSettings(database_url=database_url, factors=FACTORS))
    with serve(app) as base:
        run = Running(base, extra={"vendor": vendor, "installation": installation})
        run.headers.update(anonymous={}, admin={"authorization": f"Bearer {admin}"}, agent={"authorization": f"Bearer {join}"})
        yield run
