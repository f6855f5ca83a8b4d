"""Both services in this process: made by ``create_app``, called through httpx's ASGI transport, lifespan running.

``App(app)`` runs an app's lifespan on an event loop in a thread of its own (so the
controller's batcher and sweeper keep working between a test's calls) and gives sync
and async httpx clients whose requests go to that loop through ``httpx.ASGITransport``:
no socket, no server process.

``issuer(url)`` and ``controller(url)`` set a service up the way an operator does,
through the ``licensor`` command (run in process by ``cli``), and give a ``Running``
service with the callers the suites need: an admin token, one token per issuer scope, a
signed-in console session with its CSRF token.

``serve(app)`` runs an app under a real uvicorn on 127.0.0.1 in a thread instead, for
what needs a socket: browsers, agent processes, keep-alive connections.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import uvicorn

from licensor.cli import main as licensor_main
from licensor.issuer.app import create_app as issuer_app
from licensor.issuer.settings import IssuerSettings
from licensor.policy import Installation
from licensor.request import decode_request
from licensor.testing import TestVendor

from .helpers import free_port

if TYPE_CHECKING:
    from licensor.controller.runtime import Controller

PASSWORD = "correct horse battery staple"  # a test user's password
FACTORS = {"cluster": "cluster-under-test", "machine": "machine-under-test"}
FACTOR_ENV = {"LICENSOR_CLUSTER_ID": FACTORS["cluster"], "LICENSOR_MACHINE_ID": FACTORS["machine"]}
# The issuer API's token scopes (its HTTP contract; the access suite checks every route against them).
ISSUER_SCOPES = ("licenses:read", "licenses:write", "keys:admin", "usage:write", "catalog:write", "audit:read")
BASE = "http://licensor.test"  # the in-process services' base URL (no socket behind it)

T = TypeVar("T")


# -- the licensor command, in process ---------------------------------------------------


@dataclass
class Ran:
    """What a ``licensor`` command did: its exit code and what it wrote."""

    code: int
    out: str
    err: str

    @property
    def returncode(self) -> int:  # the name subprocess.CompletedProcess gives it
        return self.code

    @property
    def stdout(self) -> str:
        return self.out

    @property
    def stderr(self) -> str:
        return self.err


_CLI_LOCK = threading.Lock()  # the command swaps the process's stdio and environment while it runs


def cli(*args: str | Path, stdin: str = "", env: Mapping[str, str] | None = None) -> Ran:
    """``licensor *args`` run by ``licensor.cli.main`` in this process, with ``env`` added to the environment.

    Every ``LICENSOR_*`` variable of the caller is hidden from it (the command sees only ``env``)."""
    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    fake_in = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    with _CLI_LOCK, _environment(dict(env or {})), redirect_stdout(out), redirect_stderr(err), _stdin(fake_in):
        try:
            code = licensor_main([str(a) for a in args])
        except SystemExit as e:  # argparse refusing the arguments
            code = e.code if isinstance(e.code, int) else 2
    return Ran(code, _text(out), _text(err))


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return raw.getvalue().decode("utf-8", "replace")


@contextmanager
def _stdin(new: io.TextIOWrapper) -> Iterator[None]:
    old, sys.stdin = sys.stdin, new
    try:
        yield
    finally:
        sys.stdin = old


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("LICENSOR_")]:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def ok(ran: Ran) -> Ran:
    assert ran.code == 0, f"exit {ran.code}\nstdout: {ran.out}\nstderr: {ran.err}"
    return ran


# -- an ASGI app with its lifespan, on a loop in a thread ------------------------------------


class App:
    """``app`` with its lifespan running on an event loop in a thread; ``client()`` calls it through the ASGI transport."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asgi = httpx.ASGITransport(app, raise_app_exceptions=False)  # a bug is a 500, as under a real server
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="asgi-app", daemon=True)
        self._lifespan: Any = None

    def __enter__(self) -> App:
        self.thread.start()
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.run(self._lifespan.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self._lifespan.__aexit__(None, None, None))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
            self.loop.close()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the app's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(120)

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` run on the app's loop (from another loop)."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    async def send(self, method: str, url: httpx.URL, headers: httpx.Headers, body: bytes) -> httpx.Response:
        """One request through the ASGI transport; the answer read whole, its bytes as sent (not decoded)."""
        r = await self.asgi.handle_async_request(httpx.Request(method, url, headers=headers, content=body))
        raw = b"".join([chunk async for chunk in r.stream])  # type: ignore[union-attr]
        return httpx.Response(r.status_code, headers=r.headers, content=raw, extensions=r.extensions)

    def client(self, **kw: Any) -> httpx.Client:
        kw.setdefault("base_url", BASE)
        kw.setdefault("timeout", 30)
        return httpx.Client(transport=_SyncTransport(self), **kw)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        kw.setdefault("base_url", BASE)
        kw.setdefault("timeout", 30)
        return httpx.AsyncClient(transport=_AsyncTransport(self), **kw)


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, app: App) -> None:
        self.app = app

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.app.run(self.app.send(request.method, request.url, request.headers, request.read()))


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: App) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        return await self.app.run_async(self.app.send(request.method, request.url, request.headers, body))


# -- a real server in a thread, for what needs a socket ----------------------------------------


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """``app`` served on a free port of 127.0.0.1 by uvicorn in a thread of this process; yields the base URL."""
    port = free_port()
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


# -- the two services, set up as an operator would ------------------------------------------


@dataclass
class Running:
    """A service under test: how to call it, its callers' headers and cookies, and what it was made from."""

    app: App | None  # None when it is served on a socket (``base``) instead
    base: str = BASE
    headers: dict[str, dict[str, str]] = field(default_factory=dict)  # caller name -> headers
    cookies: dict[str, dict[str, str]] = field(default_factory=dict)  # caller name -> cookies
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, caller: str = "anonymous", **kw: Any) -> httpx.Client:
        kw.update(headers=self.headers.get(caller, {}), cookies=self.cookies.get(caller))
        if self.app is None:
            return httpx.Client(base_url=self.base, timeout=30, **kw)
        return self.app.client(**kw)

    def _callers(self, tokens: Mapping[str, str]) -> None:
        self.headers["anonymous"] = {}
        for name, token in tokens.items():
            self.headers[name] = {"authorization": f"Bearer {token}"}


@contextmanager
def running(app: Any, *, socket: bool = False) -> Iterator[Running]:
    """``app`` running in process: through the ASGI transport, or (``socket``) under uvicorn on 127.0.0.1."""
    if socket:
        with serve(app) as base:
            yield Running(None, base)
    else:
        with App(app) as asgi:
            yield Running(asgi)


def make_issuer(database_url: str, data_dir: Path) -> dict[str, str]:
    """A new issuer database with a signing key, the admin user ``ada`` and one API token per scope (``admin``: all).

    Made through ``licensor vendor``; returns the tokens by caller name."""
    where = ("--data-dir", str(data_dir), "--database-url", database_url)
    ok(cli("vendor", "init", *where))
    ok(cli("vendor", "admin", "create-user", "ada", "--password-stdin", *where, stdin=PASSWORD + "\n"))
    every = [a for s in ISSUER_SCOPES for a in ("--scope", s)]
    tokens = {"admin": ok(cli("vendor", "token", "create", "--name", "admin", *every, *where)).out.strip()}
    for scope in ISSUER_SCOPES:
        name = scope.replace(":", "-")
        tokens[scope] = ok(cli("vendor", "token", "create", "--name", name, "--scope", scope, *where)).out.strip()
    return tokens


@contextmanager
def issuer(database_url: str, *, socket: bool = False, **settings: Any) -> Iterator[Running]:
    """An issuer (see ``make_issuer``) in process, with ``ada`` signed in as the ``session`` caller.

    ``socket=True`` serves it under uvicorn on 127.0.0.1 instead of the ASGI transport."""
    with tempfile.TemporaryDirectory(prefix="issuer-") as tmp:
        tokens = make_issuer(database_url, Path(tmp))
        app = issuer_app(IssuerSettings(database_url=database_url, cookie_secure=False, **settings))
        with running(app, socket=socket) as run:
            run.extra["tokens"] = tokens
            run._callers(tokens)
            with run.client() as c:
                r = c.post("/api/v1/login", json={"username": "ada", "password": PASSWORD})
            assert r.status_code == 200, r.text
            run.cookies["session"] = dict(r.cookies)
            run.headers["session"] = {"x-csrf-token": r.json()["csrf_token"]}
            yield run


@dataclass
class ControllerSetup:
    """A controller database made by ``licensor controller``: its vendor, installation and credentials."""

    database_url: str
    vendor: TestVendor
    installation: Installation
    admin_token: str
    join_token: str


def licensed_controller(database_url: str, nodes: int = 5, **terms: Any) -> Controller:
    """A controller in this process, no server: initialised for a new test vendor and licensed for ``nodes`` (and
    ``terms``, as ``TestVendor.issue`` takes them); the caller closes ``ctl.svc.store``."""
    from licensor.controller.host import collect_factors
    from licensor.controller.license.service import ControllerService
    from licensor.controller.runtime import Controller
    from licensor.controller.store import Store

    vendor = TestVendor()
    svc = ControllerService(Store(database_url), factors=collect_factors())
    svc.init(vendor.keyring, product="demo")
    with svc.store.tx() as c:
        inst = svc.installation(c)
    svc.activate(vendor.issue(inst, nodes=nodes, now=svc.clock(), **terms))
    return Controller(svc)


def make_controller(database_url: str, data_dir: Path, vendor: TestVendor | None = None) -> ControllerSetup:
    """A controller trusting a test vendor, with an admin token, a join token and the admin password set.

    Made through ``licensor controller`` on the ``FACTORS`` host; the installation is read
    back from a request code, as the vendor sees it."""
    vendor = vendor or TestVendor()
    data_dir.mkdir(parents=True, exist_ok=True)
    pub = data_dir / "vendor.pub"
    pub.write_text(vendor.keyring.to_text())
    where = ("--data-dir", str(data_dir), "--database-url", database_url)

    def run(*args: str, stdin: str = "") -> str:
        return ok(cli("controller", *args, *where, stdin=stdin, env=FACTOR_ENV)).out

    run("init", "--trust", str(pub), "--product", "demo")
    admin, join = run("admin", "token", "--name", "tests").strip(), run("join-token", "--name", "tests").strip()
    run("admin", "set-password", "--password-stdin", stdin=PASSWORD + "\n")
    contact = ("--name", "Tess Tester", "--email", "tess@example.com", "--company", "Tests")
    req = decode_request(run("request", *contact, "--nodes", "1", "--months", "1"))
    installation = Installation(id=req.installation_id, product=req.product, factors=dict(req.factors))
    return ControllerSetup(database_url, vendor, installation, admin, join)


@contextmanager
def controller(database_url: str, *, socket: bool = False, **settings: Any) -> Iterator[Running]:
    """A controller (see ``make_controller``) in process: callers ``anonymous``, ``admin`` and ``agent``."""
    from licensor.controller.app import ControllerSettings
    from licensor.controller.app import create_app as controller_app

    with tempfile.TemporaryDirectory(prefix="controller-") as tmp:
        setup = make_controller(database_url, Path(tmp))
        app = controller_app(ControllerSettings(database_url=database_url, factors=FACTORS, **settings))
        with running(app, socket=socket) as run:
            run.extra.update(vendor=setup.vendor, installation=setup.installation, setup=setup)
            run._callers({"admin": setup.admin_token, "agent": setup.join_token})
            yield run
