"""What the replica storms need: replica processes, a seat sampler, and an agent client that fails over.

The client is written here on purpose (the simulator is being rewritten, and
httpx costs about 5 ms of CPU per request here): plain HTTP/1.1 on asyncio
streams, a pool of at most ``PER_REPLICA`` keep-alive connections per replica,
so the cost of a request stays flat however many agents wait.  An agent
fails over as ``licensor.agent.Agent`` does: a call that cannot connect, times
out or gets a 5xx moves on to the next URL; when no URL answered, it backs off
(doubling, jittered) and goes round again, until its deadline.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..controller.conftest import ENV
from ..helpers import terminate, wait_healthy

#: Requests in flight per replica (the client's pool size).
PER_REPLICA = 64
#: The agents' backoff when no replica answered: first and longest pause (seconds), as the agent library's.
BACKOFF = (0.2, 2.0)


def unused_port() -> int:
    """A free port on 127.0.0.1 (free as well in a fresh network namespace, where nothing listens yet)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Replica:
    """One ``licensor controller serve`` process (optionally inside a network namespace)."""

    def __init__(self, url: str, host: str, port: int, log: Path, *, ttl: float, prefix: Sequence[str] = ()):
        self.url, self.host, self.port, self.log, self.ttl, self.prefix = url, host, port, log, ttl, list(prefix)
        self.base = f"http://{host}:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self) -> Replica:
        """Start the process (``wait`` for it to answer)."""
        args = ["controller", "serve", "--host", self.host, "--port", str(self.port), "--database-url", self.url]
        self.proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "licensor", *args, "--heartbeat-ttl", str(self.ttl)],
            env={**os.environ, **ENV},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def wait(self) -> Replica:
        assert self.proc is not None
        wait_healthy(self.proc, self.base, self.log, f"replica on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL the replica's process group and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(15)

    def stop(self) -> None:
        terminate(self.proc)


class Sampler:
    """Reads the number of node seats held straight from PostgreSQL every ``every`` seconds, in a thread."""

    def __init__(self, url: str, every: float = 0.05, budget: float = 240.0):
        self.url, self.every, self.budget = url, every, budget
        self.samples: list[tuple[float, int]] = []  # (monotonic time, seats held)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seat-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.budget
        with psycopg.connect(self.url, autocommit=True) as c:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    row = c.execute("SELECT count(*) FROM seats WHERE kind = 'node'").fetchone()
                    self.samples.append((time.monotonic(), int(row[0]) if row else -1))
                except Exception as e:  # a sampler that fails must show, not stop the test
                    self.errors.append(repr(e))
                    return
                self._stop.wait(self.every)

    @property
    def last(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    @property
    def peak(self) -> int:
        return max((n for _, n in self.samples), default=0)


@dataclass
class Outcome:
    """How one agent's call ended: the answer of the replica that answered (status 0: none did by the deadline)."""

    node: str
    status: int = 0
    code: str = ""
    secret: str = ""
    replica: int = -1
    failovers: int = 0
    answered_at: float = 0.0  # time.monotonic() of the answer
    server_errors: Counter[str] = field(default_factory=Counter)  # 5xx answers seen on the way, by code


class TransportFailed(Exception):
    """The replica could not be reached, closed the connection, or did not answer in time."""


class Pool:
    """Keep-alive HTTP/1.1 connections to one server, at most ``size`` requests in flight; JSON in, JSON out."""

    def __init__(self, base: str, size: int, timeout: float):
        parts = urlsplit(base)
        self.host, self.port, self.timeout = parts.hostname or "", parts.port or 80, timeout
        self.slots = asyncio.Semaphore(size)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def request(self, method: str, path: str, body: dict[str, str] | None, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\ncontent-length: {len(data)}\r\n"
        if body is not None:
            head += "content-type: application/json\r\n"
        raw = (head + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode() + data
        async with self.slots:
            for _ in range(2):  # a kept-alive connection the server closed meanwhile is retried once on a new one
                reused = bool(self.idle)
                conn = self.idle.pop() if reused else None
                try:
                    if conn is None:
                        conn = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.timeout)
                    status, doc, keep = await asyncio.wait_for(self._exchange(conn, raw), self.timeout)
                except (OSError, EOFError, TimeoutError, ValueError) as e:
                    if conn is not None:
                        conn[1].close()
                    if reused and isinstance(e, (EOFError, ConnectionError)):
                        continue
                    raise TransportFailed(repr(e)) from None
                if keep:
                    self.idle.append(conn)
                else:
                    conn[1].close()
                return status, doc
        raise TransportFailed("the connection closed twice")

    @staticmethod
    async def _exchange(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], raw: bytes) -> tuple[int, dict[str, Any], bool]:
        r, w = conn
        w.write(raw)
        await w.drain()
        status = int((await r.readuntil(b"\r\n")).split()[1])  # IncompleteReadError is an EOFError
        fields: dict[str, str] = {}
        while (line := await r.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.decode("latin-1").partition(":")
            fields[name.strip().lower()] = value.strip()
        payload = await r.readexactly(int(fields["content-length"]))  # the servers answer JSON with a length
        doc = json.loads(payload) if fields.get("content-type", "").startswith("application/json") else {}
        return status, doc if isinstance(doc, dict) else {}, fields.get("connection", "").lower() != "close"

    def close(self) -> None:
        for _r, w in self.idle:
            w.close()
        self.idle = []


class Fleet:
    """Agents spread over ``urls``: agent ``i`` starts at replica ``i mod n`` and fails over to the next ones."""

    def __init__(self, urls: Sequence[str], token: str, *, timeout: float = 8.0, deadline: float = 90.0):
        self.urls, self.token, self.timeout, self.deadline = list(urls), token, timeout, deadline
        self._pools: list[Pool] = []

    async def _call(self, method: str, path: str, body: dict[str, str] | None, first: int, secret: str, out: Outcome) -> None:
        headers = {"authorization": f"Bearer {self.token}", **({"x-seat-secret": secret} if secret else {})}
        stop_at, delay = time.monotonic() + self.deadline, BACKOFF[0]
        while time.monotonic() < stop_at:
            for k in range(len(self.urls)):
                idx = (first + k) % len(self.urls)
                try:
                    status, doc = await self._pools[idx].request(method, path, body, headers)
                except TransportFailed:
                    out.failovers += 1
                    continue
                if status >= 500:
                    out.server_errors[f"{status} {doc.get('code', '')}"] += 1
                    out.failovers += 1
                    continue
                out.status, out.code, out.replica = status, str(doc.get("code", "")), idx
                out.secret, out.answered_at = str(doc.get("seat_secret") or ""), time.monotonic()
                return
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, BACKOFF[1])

    async def run(self, calls: Sequence[tuple[str, str, str, dict[str, str] | None, str]]) -> list[Outcome]:
        """``calls`` = (node, method, path, body, secret): all at once; the outcomes in the same order."""
        self._pools = [Pool(u, PER_REPLICA, self.timeout) for u in self.urls]
        try:
            outs = [Outcome(node) for node, *_ in calls]
            n = len(self.urls)
            todo = enumerate(zip(calls, outs, strict=True))
            await asyncio.gather(*(self._call(m, p, b, i % n, s, o) for i, ((_, m, p, b, s), o) in todo))
            return outs
        finally:
            for pool in self._pools:
                pool.close()

    async def join(self, nodes: Sequence[str]) -> list[Outcome]:
        return await self.run([(n, "POST", "/api/v1/nodes/join", {"node_id": n}, "") for n in nodes])

    async def leave(self, held: Sequence[Outcome]) -> list[Outcome]:
        return await self.run([(o.node, "DELETE", f"/api/v1/nodes/{o.node}", None, o.secret) for o in held])


def longest_silence(outs: Sequence[Outcome], start: float, end: float) -> float:
    """The longest time (seconds) between ``start`` and ``end`` in which no agent got an answer."""
    times = sorted([start, end, *(o.answered_at for o in outs if start < o.answered_at < end)])
    return max(b - a for a, b in itertools.pairwise(times))


def summary(outs: Sequence[Outcome]) -> Counter[str]:
    """Outcomes by ``status code`` (``0 ""``: no replica answered by the deadline)."""
    return Counter(f"{o.status} {o.code}" for o in outs)
