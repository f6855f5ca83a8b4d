"""A real ``licensor controller serve`` process per test, on SQLite or PostgreSQL.

The server's clock is shifted through the test-only fake clock
(``LICENSOR_UNSAFE_FAKE_CLOCK_FILE`` + ``LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK=1``);
the machine's clock is never touched.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.controller.host import collect_factors
from licensor.controller.runtime import Controller
from licensor.controller.service import ControllerService
from licensor.controller.store import Store
from licensor.testing import TestVendor

from ..helpers import run_licensor, terminate, wait_healthy

ENV = {"LICENSOR_CLUSTER_ID": "cluster-under-test", "LICENSOR_MACHINE_ID": "machine-under-test"}


def licensor(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_licensor(*args, env={**os.environ, **ENV, **(env or {})}, input=stdin, timeout=timeout)


class Server:
    """One controller database and the server process in front of it."""

    def __init__(self, url: str, port: int, tmp: Path, *, ttl: float = 60.0, workers: int = 1):
        self.url, self.port, self.tmp, self.ttl, self.workers = url, port, tmp, ttl, workers
        self.base = f"http://127.0.0.1:{port}"
        self.clock_file = tmp / "clock-offset"
        self.clock_file.write_text("0")
        self.vendor = TestVendor()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "server.log"
        old = dict(os.environ)
        os.environ.update(ENV)
        try:
            svc = ControllerService(Store(url), factors=collect_factors())
            svc.init(self.vendor.keyring, product="demo")
            ctl = Controller(svc)
            self.admin_token = ctl.create_token("admin_token", "tests")
            self.join_token = ctl.create_token("join_token", "tests")
            with svc.store.tx() as c:
                self.installation = svc.installation(c)
            svc.store.close()
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.serial = 0
        self.seat_secrets: dict[tuple[str, str], str] = {}  # (kind, id) -> the seat secret its last join answered
        self.admin = {"authorization": f"Bearer {self.admin_token}"}
        self.agent = {"authorization": f"Bearer {self.join_token}"}

    # -- process ----------------------------------------------------------------

    def start(self) -> Server:
        env = {
            **os.environ,
            **ENV,
            "LICENSOR_UNSAFE_FAKE_CLOCK_FILE": str(self.clock_file),
            "LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK": "1",
        }
        args = ["controller", "serve", "--port", str(self.port), "--database-url", self.url, "--heartbeat-ttl", str(self.ttl)]
        if self.workers > 1:
            args += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licensor", *args], env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_healthy(self.proc, self.base, self.log, "server")
        return self

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- clock and keys -----------------------------------------------------------

    def shift_clock(self, **delta: float) -> None:
        """Set the server's clock to real time plus ``delta`` (test-only fake clock)."""
        self.clock_file.write_text(str(timedelta(**delta).total_seconds()))
        time.sleep(0.05)

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=float(self.clock_file.read_text() or 0))

    def key(self, **kw: Any) -> str:
        """A license key for this controller's installation; the serial goes up with every key."""
        self.serial += 1
        kw.setdefault("serial", self.serial)
        kw.setdefault("now", self.now() - timedelta(minutes=1))
        return self.vendor.issue(self.installation, **kw)

    # -- HTTP ---------------------------------------------------------------------

    def get(self, path: str, admin: bool = True, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=self.admin if admin else self.agent, timeout=30, **kw)

    def activate(self, key: str) -> dict[str, Any]:
        r = httpx.post(
            self.base + "/api/v1/license/activate", content=key, headers={**self.admin, "content-type": "text/plain"}, timeout=30
        )
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
        r = httpx.post(f"{self.base}/api/v1/{kind}s/join", json={f"{kind}_id": node}, headers=self._seat(node, kind, secret), timeout=30)
        return self._keep_secret(kind, node, r)

    def heartbeat(self, node: str, kind: str = "node", secret: str | None = None) -> httpx.Response:
        """A heartbeat, by default with the seat's secret from its last join."""
        return httpx.post(f"{self.base}/api/v1/{kind}s/{node}/heartbeat", headers=self._seat(node, kind, secret), timeout=30)

    def leave(self, node: str, kind: str = "node", secret: str | None = None, admin: bool = False) -> httpx.Response:
        """A leave, by default with the seat's secret; ``admin`` releases it with the admin token instead."""
        headers = self.admin if admin else self._seat(node, kind, secret)
        return httpx.delete(f"{self.base}/api/v1/{kind}s/{node}", headers=headers, timeout=30)

    def join_all(self, ids: list[str], kind: str = "node") -> list[httpx.Response]:
        """Every id joins at once (concurrent requests, one connection each)."""

        async def go() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=len(ids) + 1)
            async with httpx.AsyncClient(base_url=self.base, headers=self.agent, limits=limits, timeout=60) as c:
                return list(await asyncio.gather(*(c.post(f"/api/v1/{kind}s/join", json={f"{kind}_id": i}) for i in ids)))

        return [self._keep_secret(kind, i, r) for i, r in zip(ids, asyncio.run(go()), strict=True)]

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return licensor(*args, "--database-url", self.url, stdin=stdin)


@pytest.fixture
def make_server(database_url: str, free_port: int, tmp_path: Path) -> Iterator[Any]:
    """``make_server(ttl=…, workers=…)`` -> a started Server on this test's backend."""
    made: list[Server] = []

    def make(**kw: Any) -> Server:
        srv = Server(database_url, free_port, tmp_path, **kw)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def server(make_server: Any) -> Server:
    return make_server()  # type: ignore[no-any-return]
