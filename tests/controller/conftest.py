"""A controller per test, on SQLite or PostgreSQL: in this process by default, a real server process where the process is under test.

``server`` is ``create_app`` called through httpx's ASGI transport (``tests.inprocess.App``),
its clock shifted by an offset the test sets.  Tests marked ``socket`` get the same app
under uvicorn on 127.0.0.1 (an agent process needs an address to call).
``make_server(workers=2)`` or ``make_server(process=True)`` starts ``licensor controller
serve`` in a subprocess, with its clock shifted through the test-only fake clock
(``LICENSOR_UNSAFE_FAKE_CLOCK_FILE`` + ``LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK=1``); the
machine's clock is never touched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.controller.app import ControllerSettings, create_app

from ..helpers import run_licensor, terminate, wait_healthy
from ..inprocess import FACTOR_ENV, FACTORS, App, Ran, cli, make_controller, serve

ENV = FACTOR_ENV


def licensor(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real ``licensor`` command in a subprocess, on this host's factors."""
    return run_licensor(*args, env={**os.environ, **ENV, **(env or {})}, input=stdin, timeout=timeout)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "socket: the controller is served on 127.0.0.1 (an agent process calls it)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name == "test_agent.py" and item.path.parent.name == "controller":
            item.add_marker(pytest.mark.socket)  # its agents are ``licensor agent run`` processes


class Server:
    """One controller database and the service in front of it: in process, on a socket, or a ``serve`` process."""

    def __init__(self, url: str, port: int, tmp: Path, *, ttl: float = 60.0, workers: int = 1, process: bool = False, socket: bool = False):
        self.url, self.port, self.tmp, self.ttl, self.workers = url, port, tmp, ttl, workers
        self.process = process or workers > 1
        self.socket = socket
        self.offset = timedelta(0)
        self.clock_file = tmp / "clock-offset"  # the server process's fake clock
        self.clock_file.write_text("0")
        setup = make_controller(url, tmp / "controller-cli")
        self.vendor, self.installation = setup.vendor, setup.installation
        self.admin_token, self.join_token = setup.admin_token, setup.join_token
        self.base = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "server.log"
        self._running: ExitStack | None = None
        self._app: App | None = None
        self.http = httpx.Client()
        self.serial = 0
        self.seat_secrets: dict[tuple[str, str], str] = {}  # (kind, id) -> the seat secret its last join answered
        self.admin = {"authorization": f"Bearer {self.admin_token}"}
        self.agent = {"authorization": f"Bearer {self.join_token}"}

    # -- the service ---------------------------------------------------------------

    def start(self) -> Server:
        if self.process:
            self._start_process()
            self.http = httpx.Client(base_url=self.base, timeout=30)
            return self
        settings = ControllerSettings(database_url=self.url, heartbeat_ttl=self.ttl, clock=self.now, factors=FACTORS)
        self._running = ExitStack()
        if self.socket:
            self.base = self._running.enter_context(serve(create_app(settings)))
            self.http = self._running.enter_context(httpx.Client(base_url=self.base, timeout=30))
        else:
            self._app = self._running.enter_context(App(create_app(settings)))
            self.http = self._running.enter_context(self._app.client())
            self.base = str(self.http.base_url).rstrip("/")
        return self

    def _start_process(self) -> None:
        env = {**os.environ, **ENV, "LICENSOR_UNSAFE_FAKE_CLOCK_FILE": str(self.clock_file), "LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK": "1"}
        args = ["controller", "serve", "--port", str(self.port), "--database-url", self.url, "--heartbeat-ttl", str(self.ttl)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licensor", *args], env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_healthy(self.proc, self.base, self.log, "server")

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None
        if self._running is not None:
            self._running.close()
            self._running, self._app = None, None
        self.http.close()

    def restart(self) -> None:
        self.stop()
        self.start()

    def client(self, **kw: Any) -> httpx.Client:
        """A new client of the service (the caller closes it)."""
        if self._app is not None:
            return self._app.client(**kw)
        return httpx.Client(base_url=self.base, timeout=30, **kw)

    def async_client(self, **kw: Any) -> httpx.AsyncClient:
        """A new async client of the service, for agents and bursts (the caller closes it)."""
        if self._app is not None:
            return self._app.async_client(**kw)
        return httpx.AsyncClient(base_url=self.base, **{"timeout": 60, **kw})

    # -- clock and keys -----------------------------------------------------------

    def shift_clock(self, **delta: float) -> None:
        """Set the server's clock to real time plus ``delta`` (test-only fake clock)."""
        self.offset = timedelta(**delta)
        self.clock_file.write_text(str(self.offset.total_seconds()))
        if self.process:
            time.sleep(0.05)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def key(self, **kw: Any) -> str:
        """A license key for this controller's installation; the serial goes up with every key."""
        self.serial += 1
        kw.setdefault("serial", self.serial)
        kw.setdefault("now", self.now() - timedelta(minutes=1))
        return self.vendor.issue(self.installation, **kw)

    # -- HTTP ---------------------------------------------------------------------

    def get(self, path: str, admin: bool = True, **kw: Any) -> httpx.Response:
        return self.http.get(path, headers=self.admin if admin else self.agent, **kw)

    def activate(self, key: str) -> dict[str, Any]:
        r = self.http.post("/api/v1/license/activate?confirm=true", content=key, headers={**self.admin, "content-type": "text/plain"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def status(self) -> dict[str, Any]:
        r = self.get("/api/v1/license")
        assert r.status_code == 200, r.text
        return dict(r.json())

    def _keep_secret(self, kind: str, node: str, r: httpx.Response) -> httpx.Response:
        if r.status_code == 200 and r.json().get("seat_secret"):
            self.seat_secrets[(kind, node)] = r.json()["seat_secret"]
        return r

    def _seat(self, node: str, kind: str, secret: str | None) -> dict[str, str]:
        """The agent's headers with ``secret`` (default: the one this seat's last join answered; "" sends none)."""
        secret = self.seat_secrets.get((kind, node), "") if secret is None else secret
        return {**self.agent, "x-seat-secret": secret} if secret else self.agent

    def join(self, node: str, kind: str = "node", secret: str | None = "") -> httpx.Response:
        """A join; ``secret`` None presents the secret of this seat's last join (a rejoin)."""
        r = self.http.post(f"/api/v1/{kind}s/join", json={f"{kind}_id": node}, headers=self._seat(node, kind, secret))
        return self._keep_secret(kind, node, r)

    def heartbeat(self, node: str, kind: str = "node", secret: str | None = None) -> httpx.Response:
        """A heartbeat, by default with the seat's secret from its last join."""
        return self.http.post(f"/api/v1/{kind}s/{node}/heartbeat", headers=self._seat(node, kind, secret))

    def leave(self, node: str, kind: str = "node", secret: str | None = None, admin: bool = False) -> httpx.Response:
        """A leave, by default with the seat's secret; ``admin`` releases it with the admin token instead."""
        headers = self.admin if admin else self._seat(node, kind, secret)
        return self.http.delete(f"/api/v1/{kind}s/{node}", headers=headers)

    def join_all(self, ids: list[str], kind: str = "node") -> list[httpx.Response]:
        """Every id joins at once (concurrent requests, one connection each)."""

        async def go() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(ids) + 1)
            async with self.async_client(headers=self.agent, limits=limits) as c:
                return list(await asyncio.gather(*(c.post(f"/api/v1/{kind}s/join", json={f"{kind}_id": i}) for i in ids)))

        return [self._keep_secret(kind, i, r) for i, r in zip(ids, asyncio.run(go()), strict=True)]

    def cli(self, *args: str, stdin: str = "") -> Ran:
        """``licensor <args> --database-url <this database>``, in process."""
        return cli(*args, "--database-url", self.url, stdin=stdin, env=ENV)


@pytest.fixture
def make_server(database_url: str, free_port: int, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``make_server(ttl=…, workers=…, process=…)`` -> a started Server on this test's backend."""
    made: list[Server] = []
    socket = request.node.get_closest_marker("socket") is not None

    def make(**kw: Any) -> Server:
        kw.setdefault("socket", socket)
        srv = Server(database_url, free_port, tmp_path, **kw)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server()  # type: ignore[no-any-return]


@contextmanager
def agent_run(server: Server, node_id: str, *args: str, urls: tuple[str, ...] = ()) -> Iterator[subprocess.Popen[str]]:
    """``licensor agent run [args]`` for ``node_id`` against ``urls`` (default: the server), killed if the test leaves it running."""
    cmd = [sys.executable, "-m", "licensor", "agent", "run", "--token", server.join_token, "--node-id", node_id, *args]
    for url in urls or (server.base,):
        cmd += ["--controller", url]
    proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=20)


def stop_agent(proc: subprocess.Popen[str], sig: signal.Signals = signal.SIGTERM) -> str:
    """Signal the agent (SIGTERM as a service manager stops it; SIGKILL: it dies without leaving); returns what it logged."""
    proc.send_signal(sig)
    return proc.communicate(timeout=20)[1]
