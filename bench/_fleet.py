"""The processes ``bench/fleet.py`` runs, through the ``licensor`` command only.

A vendor and controller sites set up the way a user does it (``vendor init``,
``controller init --trust``, ``request``, ``vendor issue``, ``activate``,
``join-token``), ``licensor controller serve`` replicas on 127.0.0.1, the storm
as ``licensor agent simulate --json``, memory from ``/proc``, and a throwaway
PostgreSQL database.  Nothing here imports the controller: every step is a
command a user types, bounded by a timeout.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The installation's cluster factor, fixed so every command of a run sees the same installation.
ENV = {**os.environ, "LICENSOR_CLUSTER_ID": "bench-fleet"}
PG_ADMIN_URL = os.environ.get("LICENSOR_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def licensor_command() -> list[str]:
    """The ``licensor`` console script beside this interpreter (what users run), else ``python -m licensor``."""
    script = Path(sys.executable).parent / "licensor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "licensor"]


def run(*args: str | Path, timeout: float = 120) -> str:
    """Run ``licensor ARGS``; its stdout, or SystemExit with its stderr when it fails."""
    p = subprocess.run([*licensor_command(), *map(str, args)], capture_output=True, text=True, env=ENV, timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"licensor {' '.join(map(str, args))} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


@dataclass
class Site:
    """One controller installation (a data dir, and a database URL for PostgreSQL) licensed for ``nodes``."""

    tmp: Path
    name: str
    nodes: int
    database_url: str = ""
    token: str = ""

    @property
    def where(self) -> list[str]:
        """The ``--data-dir`` (and ``--database-url``) arguments that name this site."""
        d = ["--data-dir", str(self.tmp / self.name)]
        return d + (["--database-url", self.database_url] if self.database_url else [])

    def setup(self, vendor: Path) -> Site:
        """vendor init (once) → controller init --trust → request → vendor issue --nodes → activate → join-token."""
        pub = vendor / "vendor.pub"
        if not pub.exists():
            run("vendor", "init", "--data-dir", vendor)
            run("vendor", "public-key", "--data-dir", vendor, "--out", pub)
        run("controller", "init", *self.where, "--trust", pub)
        req, lic = self.tmp / f"{self.name}.request", self.tmp / f"{self.name}.license"
        who = ("--name", "Bench", "--email", "bench@example.com", "--company", "Fleet")
        run("controller", "request", *self.where, *who, "--nodes", str(self.nodes), "--months", "12", "--out", req)
        run("vendor", "issue", "--data-dir", vendor, req, "--nodes", str(self.nodes), "--type", "subscription", "--out", lic)
        run("controller", "activate", *self.where, lic)
        self.token = run("controller", "join-token", *self.where, "--name", "bench").strip()
        return self


@dataclass
class Replica:
    """One ``licensor controller serve`` process (one worker) in front of a site's database."""

    site: Site
    port: int = field(default_factory=lambda: free_port())  # free_port is defined below
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Replica:
        log = self.site.tmp / f"serve-{self.site.name}-{self.port}.log"
        # Seats are held for the whole run: the TTL is far longer than any phase, so none expires mid-measure.
        args = ["controller", "serve", *self.site.where, "--host", "127.0.0.1", "--port", str(self.port), "--heartbeat-ttl", "86400"]
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*licensor_command(), *args], env=ENV, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the controller on port {self.port} exited with {self.proc.returncode}; see {log}")
            try:
                _get(self.url + "/healthz", timeout=1)
                return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"the controller on port {self.port} did not answer /healthz in {timeout:g} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def nodes_used(self) -> int:
        """The seats held, as the controller reports them (``GET /api/v1/license``, with the join token)."""
        return int(json.loads(_get(self.url + "/api/v1/license", self.site.token, timeout=30))["nodes_used"])

    def rss_mb(self) -> float:
        """VmRSS of the serve process and its descendants (uvicorn workers, if any), in MB."""
        assert self.proc is not None
        return sum(_vm_rss_kb(pid) for pid in _tree(self.proc.pid)) / 1024


#: No proxy from the environment: the bench talks to 127.0.0.1 only.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, token: str = "", *, timeout: float) -> bytes:
    """The body of a ``GET`` of ``url`` (always http://127.0.0.1), or URLError / HTTPError."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with _DIRECT.open(urllib.request.Request(url, headers=headers), timeout=timeout) as r:  # noqa: S310
        body: bytes = r.read()
        return body


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc/<pid>/task/<tid>/children``."""
    out: list[int] = []
    todo = [pid]
    while todo and len(out) < 1000:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def _vm_rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def replicas(site: Site, n: int) -> Iterator[list[Replica]]:
    """``n`` serve processes on ``site``, stopped on the way out whatever happens."""
    started: list[Replica] = []
    try:
        for _ in range(n):
            started.append(Replica(site).start())
        yield started
    finally:
        for r in started:
            r.stop()


def simulate(urls: list[str], token: str, count: int, *, concurrency: int, prefix: str, stay: bool, timeout: float) -> dict[str, Any]:
    """``licensor agent simulate --json``: ``count`` agents join over ``urls``; its JSON summary.

    With ``stay`` the admitted agents keep their seats (a fill); without, they leave after the storm,
    which the simulator does not count in its ``seconds``."""
    args = ["agent", "simulate", "--token", token, "--count", str(count), "--concurrency", str(concurrency), "--prefix", prefix, "--json"]
    for u in urls:
        args += ["--controller", u]
    p = subprocess.run(
        [*licensor_command(), *args, *(["--stay"] if stay else [])], capture_output=True, text=True, env=ENV, timeout=timeout
    )
    try:
        out: dict[str, Any] = json.loads(p.stdout)
    except json.JSONDecodeError:
        raise SystemExit(f"licensor agent simulate exited {p.returncode} without a JSON summary: {p.stderr.strip()[-2000:]}") from None
    return out


def fill(replica: Replica, count: int, *, concurrency: int) -> dict[str, Any]:
    """Seat ``count`` nodes that stay; SystemExit unless every one was admitted and the controller says it holds them."""
    out = simulate(
        [replica.url], replica.site.token, count, concurrency=concurrency, prefix="fill", stay=True, timeout=max(300.0, count / 20)
    )
    held = replica.nodes_used()
    if out["admitted"] != count or held != count:
        raise SystemExit(f"filling {count} seats admitted {out['admitted']} (refused {out['by_code']}); the controller holds {held}")
    return out


def prefill(site: Site, count: int, *, timeout: float = 900) -> dict[str, Any]:
    """Seat ``count`` nodes on ``site`` before its server starts (bench/_fill.py: the controller's own seat service)."""
    fill_py = Path(__file__).parent / "_fill.py"
    p = subprocess.run(
        [
            sys.executable,
            str(fill_py),
            str(site.tmp / site.name),
            str(count),
            *(["--database-url", site.database_url] if site.database_url else []),
        ],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=timeout,
    )
    try:
        out: dict[str, Any] = json.loads(p.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise SystemExit(f"bench/_fill.py exited {p.returncode}: {p.stderr.strip()[-2000:]}") from None
    if p.returncode != 0 or out["admitted"] != count:
        raise SystemExit(f"filling {count} seats admitted {out['admitted']}: {out.get('refused')} {out.get('hint', '')}")
    return out


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database at 127.0.0.1 (trust auth), dropped on the way out; its URL."""
    import psycopg

    name = f"bench_fleet_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
