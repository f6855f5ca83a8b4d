"""Admission benchmark: joins and heartbeats against one controller server on SQLite.

Peer in the same run: a bare endpoint (``GET /healthz``, no database, no auth)
on the same server process and stack (uvicorn + FastAPI + our middleware),
driven by the same client.  Reported:

1. throughput: bare requests/s, joins/s and heartbeats/s with the same number of
   keep-alive connections, in rounds that run the three back to back; the
   median of the per-round ratios (goal: joins/s >= 0.5 x bare);
2. latency with 500 concurrent agents (one connection each): p50/p99 of joins,
   heartbeats and the bare endpoint;
3. storm: 10,000 agents join a fresh server licensed for 5,000 nodes at once:
   exactly 5,000 must be admitted (checked in the responses and by the server);
   goal under 10 s.

    .venv/bin/python -m bench.admission [--seconds S] [--connections C] [--storm N] [--storm-limit L]

The client is a minimal asyncio HTTP/1.1 client in this process, so client and
server share the machine's cores; the ratios are what to compare across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

GOAL_RATIO = 0.5
GOAL_STORM_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Target:
    """A controller server process on a fresh SQLite database with a license for ``nodes``."""

    nodes: int
    tmp: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None
    join_token: str = ""

    def start(self) -> Target:
        from licensor.controller.host import collect_factors
        from licensor.controller.runtime import Controller
        from licensor.controller.service import ControllerService
        from licensor.controller.store import Store
        from licensor.testing import TestVendor

        url = f"sqlite:///{self.tmp / f'bench-{self.port}.db'}"
        vendor = TestVendor()
        svc = ControllerService(Store(url), factors=collect_factors())
        svc.init(vendor.keyring, product="demo")
        with svc.store.tx() as c:
            inst = svc.installation(c)
        svc.activate(vendor.issue(inst, nodes=self.nodes))
        self.join_token = Controller(svc).create_token("join_token", "bench")
        svc.store.close()
        log = (self.tmp / f"server-{self.port}.log").open("ab")
        args = ["controller", "serve", "--port", str(self.port), "--database-url", url, "--heartbeat-ttl", "600"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licensor", *args], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the controller did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(20)


class Conn:
    """One keep-alive HTTP/1.1 connection; ``request`` returns (status, body)."""

    def __init__(self, port: int, token: str):
        self.port, self.auth = port, f"Authorization: Bearer {token}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Conn:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 20)
        return self

    async def request(self, method: str, path: str, body: bytes = b"", extra: bytes = b"") -> tuple[int, bytes]:
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n".encode()
        ctype = b"Content-Type: application/json\r\n" if body else b""
        self.writer.write(head + self.auth + ctype + extra + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


#: Request ``i``: method, path, body, extra header lines (each ending in CRLF).
Job = Callable[[int], tuple[str, str, bytes, bytes]]


async def drive(
    port: int, token: str, connections: int, job: Job, *, count: int | None = None, seconds: float | None = None, keep: bool = False
) -> dict[str, object]:
    """Run ``job(i)`` requests over ``connections`` connections, for ``count`` requests or ``seconds``.

    The answers' bodies are kept (in ``bodies``, by ``i``) for a ``count`` run or with ``keep``."""
    conns = await asyncio.gather(*(Conn(port, token).open() for _ in range(connections)))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: dict[int, bytes] = {}
    next_i = 0
    t0 = time.perf_counter()
    end = t0 + seconds if seconds else None

    async def worker(c: Conn) -> None:
        nonlocal next_i
        while True:
            if count is not None and next_i >= count:
                return
            if end is not None and time.perf_counter() >= end:
                return
            i = next_i
            next_i += 1
            method, path, body, extra = job(i)
            t = time.perf_counter()
            status, resp = await c.request(method, path, body, extra)
            latencies.append(time.perf_counter() - t)
            statuses[status] = statuses.get(status, 0) + 1
            if count is not None or keep:
                bodies[i] = resp

    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    latencies.sort()
    n = len(latencies)
    return {
        "n": n,
        "seconds": elapsed,
        "rate": n / elapsed,
        "p50_ms": 1000 * latencies[n // 2] if n else 0.0,
        "p99_ms": 1000 * latencies[min(n - 1, int(n * 0.99))] if n else 0.0,
        "statuses": statuses,
        "bodies": bodies,
    }


def bare(i: int) -> tuple[str, str, bytes, bytes]:
    return "GET", "/healthz", b"", b""


def joiner(prefix: str) -> Job:
    return lambda i: ("POST", "/api/v1/nodes/join", json.dumps({"node_id": f"{prefix}-{i}"}).encode(), b"")


def seat_secrets(joined: dict[str, object]) -> list[bytes]:
    """The ``X-Seat-Secret`` header line of each seat a ``joiner`` run was given, by join number."""
    bodies: dict[int, bytes] = joined["bodies"]  # type: ignore[assignment]
    lines = [b""] * (max(bodies, default=-1) + 1)
    for i, b in bodies.items():
        secret = json.loads(b).get("seat_secret")
        if secret:
            lines[i] = f"X-Seat-Secret: {secret}\r\n".encode()
    return lines


def beater(prefix: str, secrets: list[bytes]) -> Job:
    """Heartbeats of the seats a ``joiner(prefix)`` run was given, in turn, each with its seat's secret."""
    seated = [i for i, line in enumerate(secrets) if line] or [0]
    return lambda i: ("POST", f"/api/v1/nodes/{prefix}-{seated[i % len(seated)]}/heartbeat", b"", secrets[seated[i % len(seated)]])


def _line(name: str, r: dict[str, object]) -> str:
    return (
        f"  {name:<28} {r['rate']:>9.0f}/s   p50 {r['p50_ms']:>7.2f} ms   p99 {r['p99_ms']:>7.2f} ms   ({r['n']} requests, {r['statuses']})"
    )


async def throughput(t: Target, seconds: float, connections: int, rounds: int) -> dict[str, dict[str, object]]:
    """Rounds of bare, join, heartbeat back to back; the median rate of each kind and the median of the per-round ratios.

    The ratio is taken within each round (the three kinds ran seconds apart) before the median, so one round
    the machine ran slow moves neither kind's ratio alone."""
    out: dict[str, dict[str, object]] = {}
    await drive(t.port, t.join_token, connections, bare, seconds=1.0)  # warm up
    runs: dict[str, list[dict[str, object]]] = {"bare": [], "join": [], "heartbeat": []}
    for r in range(rounds):
        runs["bare"].append(await drive(t.port, t.join_token, connections, bare, seconds=seconds))
        res = await drive(t.port, t.join_token, connections, joiner(f"tp{r}"), seconds=seconds, keep=True)
        runs["join"].append(res)
        beats = beater(f"tp{r}", seat_secrets(res))
        runs["heartbeat"].append(await drive(t.port, t.join_token, connections, beats, seconds=seconds))
    for k, rs in runs.items():
        by_rate = sorted(rs, key=lambda x: float(x["rate"]))  # type: ignore[arg-type]
        out[k] = dict(by_rate[len(by_rate) // 2])
        if k != "bare":
            ratios = [float(x["rate"]) / float(b["rate"]) for x, b in zip(rs, runs["bare"], strict=True)]  # type: ignore[arg-type]
            out[k]["ratio"], out[k]["ratios"] = statistics.median(ratios), [round(r, 2) for r in ratios]
    return out


async def latency(t: Target, agents: int) -> dict[str, dict[str, object]]:
    plain = await drive(t.port, t.join_token, agents, bare, count=agents * 4)
    joined = await drive(t.port, t.join_token, agents, joiner("lat"), count=agents)
    return {
        "bare": plain,
        "join": joined,
        "heartbeat": await drive(t.port, t.join_token, agents, beater("lat", seat_secrets(joined)), count=agents * 4),
    }


async def storm(t: Target, agents: int, connections: int) -> dict[str, object]:
    res = await drive(t.port, t.join_token, connections, joiner("storm"), count=agents)
    admitted = sum(1 for b in res["bodies"].values() if b'"admitted":true' in b)  # type: ignore[attr-defined]
    refused: dict[str, int] = {}
    for b in res["bodies"].values():  # type: ignore[attr-defined]
        if b'"admitted":true' not in b:
            code = json.loads(b).get("code", "?")
            refused[code] = refused.get(code, 0) + 1
    res["admitted"], res["refused"] = admitted, refused
    return res


def _server_count(t: Target) -> int:
    from licensor.controller.store import Store

    store = Store(f"sqlite:///{t.tmp / f'bench-{t.port}.db'}")
    with store.tx() as c:
        n = int(c.exec_driver_sql("SELECT count(*) FROM seats WHERE kind = 'node'").scalar_one())
    store.close()
    return n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.admission", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=2.0, help="length of each kind's run in a throughput round")
    p.add_argument("--rounds", type=int, default=5, help="throughput rounds")
    p.add_argument("--connections", type=int, default=64, help="keep-alive connections for the throughput rounds")
    p.add_argument("--agents", type=int, default=500, help="concurrent agents for the latency figures")
    p.add_argument("--storm", type=int, default=10_000)
    p.add_argument("--storm-limit", type=int, default=5_000)
    p.add_argument("--storm-connections", type=int, default=1_000, help="connections the storm's agents share at once")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="licensor-bench-") as tmp:
        print(f"admission benchmark: one 'licensor controller serve' on SQLite, {os.cpu_count()} cores, client in this process")
        t = Target(nodes=10_000_000, tmp=Path(tmp)).start()
        try:
            tp = asyncio.run(throughput(t, args.seconds, args.connections, args.rounds))
            print(
                f"\n1. throughput, {args.connections} keep-alive connections, {args.rounds} rounds of {args.seconds:g} s "
                "(bare, join, heartbeat back to back): median rates"
            )
            for k in ("bare", "join", "heartbeat"):
                print(_line(k if k != "bare" else "bare endpoint (/healthz)", tp[k]))
            jr, hr = float(tp["join"]["ratio"]), float(tp["heartbeat"]["ratio"])  # type: ignore[arg-type]
            print(f"  per round, joins/bare {tp['join']['ratios']}   heartbeats/bare {tp['heartbeat']['ratios']}")
            print(
                f"  median ratio joins/bare {jr:.2f}   heartbeats/bare {hr:.2f}   "
                f"(goal >= {GOAL_RATIO}: {'met' if min(jr, hr) >= GOAL_RATIO else 'NOT met'})"
            )
            lat = asyncio.run(latency(t, args.agents))
            print(f"\n2. latency with {args.agents} concurrent agents (one connection each)")
            for k in ("bare", "join", "heartbeat"):
                print(_line(k if k != "bare" else "bare endpoint (/healthz)", lat[k]))
        finally:
            t.stop()

        s = Target(nodes=args.storm_limit, tmp=Path(tmp)).start()
        try:
            st = asyncio.run(storm(s, args.storm, args.storm_connections))
            held = _server_count(s)
        finally:
            s.stop()
        exact = st["admitted"] == args.storm_limit == held
        print(
            f"\n3. storm: {args.storm} agents join a server licensed for {args.storm_limit} nodes "
            f"({args.storm_connections} connections at once)"
        )
        print(f"  admitted {st['admitted']} (server holds {held} seats), refused {st['refused']}: {'exact' if exact else 'WRONG'}")
        secs = float(st["seconds"])  # type: ignore[arg-type]
        print(
            f"  {secs:.2f} s, {st['rate']:.0f} joins/s, p50 {st['p50_ms']:.1f} ms, p99 {st['p99_ms']:.1f} ms "
            f"(goal < {GOAL_STORM_SECONDS:.0f} s: {'met' if secs < GOAL_STORM_SECONDS else 'NOT met'})"
        )
        return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
