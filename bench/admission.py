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

The client is the agents' own (``licensor.agent``: aiohttp, the simulator's worker
pool) in this process, and the storm is ``licensor agent simulate``'s own function,
so client and server share the machine's cores; the ratios are what to compare
across machines.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench._fleet import free_port
from licensor.agent import Agent, Result, session
from licensor.agent.simulate import drive, simulate

GOAL_RATIO = 0.5
GOAL_STORM_SECONDS = 10.0


@dataclass
class Target:
    """A controller server process on a fresh SQLite database with a license for ``nodes``."""

    nodes: int
    tmp: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    join_token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Target:
        from licensor.controller.host import collect_factors
        from licensor.controller.license.service import ControllerService
        from licensor.controller.runtime import Controller
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


#: One call of a run: ``call(i)`` makes request ``i`` through the agents' client and returns its ``Result``.
Call = Callable[[int], Awaitable[Result]]


async def measure(call: Call, connections: int, *, count: int | None = None, seconds: float | None = None) -> dict[str, object]:
    """``licensor.agent.simulate.drive`` (the simulator's worker pool): rate, p50/p99 and the answers' statuses."""
    run = await drive(call, connections, count=count, seconds=seconds)
    statuses: dict[int, int] = {}
    for r in run.results:
        statuses[r.http_status] = statuses.get(r.http_status, 0) + 1
    p50, p99 = run.percentile_ms(0.5), run.percentile_ms(0.99)
    return {"n": len(run.results), "seconds": run.seconds, "rate": run.rate, "p50_ms": p50, "p99_ms": p99, "statuses": statuses}


def bare(s: aiohttp.ClientSession, t: Target) -> Call:
    """``GET /healthz`` (no database, no auth) on the agents' session."""

    async def call(i: int) -> Result:
        async with s.get(f"{t.base}/healthz") as r:
            await r.read()
            return Result(r.status == 200, "", "", http_status=r.status)

    return call


def joiner(s: aiohttp.ClientSession, t: Target, prefix: str, agents: dict[int, Agent]) -> Call:
    """Agent ``prefix-i`` joins; the agents are kept in ``agents`` (by ``i``), with their seat secrets."""

    def call(i: int) -> Awaitable[Result]:
        agents[i] = Agent([t.base], t.join_token, f"{prefix}-{i}", client=s)
        return agents[i].join()

    return call


def beater(agents: dict[int, Agent]) -> Call:
    """Heartbeats of the seated ``agents``, in turn, each with its seat's secret."""
    seated = [a for a in agents.values() if a.admitted]
    return lambda i: seated[i % len(seated)].heartbeat()


def _line(name: str, r: dict[str, object]) -> str:
    return (
        f"  {name:<28} {r['rate']:>9.0f}/s   p50 {r['p50_ms']:>7.2f} ms   p99 {r['p99_ms']:>7.2f} ms   ({r['n']} requests, {r['statuses']})"
    )


async def throughput(t: Target, seconds: float, connections: int, rounds: int) -> dict[str, dict[str, object]]:
    """Rounds of bare, join, heartbeat back to back; the median rate of each kind and the median of the per-round ratios.

    The ratio is taken within each round (the three kinds ran seconds apart) before the median, so one round
    the machine ran slow moves neither kind's ratio alone."""
    out: dict[str, dict[str, object]] = {}
    runs: dict[str, list[dict[str, object]]] = {"bare": [], "join": [], "heartbeat": []}
    async with session(connections=connections, timeout=60) as s:
        await measure(bare(s, t), connections, seconds=1.0)  # warm up
        for r in range(rounds):
            runs["bare"].append(await measure(bare(s, t), connections, seconds=seconds))
            agents: dict[int, Agent] = {}
            runs["join"].append(await measure(joiner(s, t, f"tp{r}", agents), connections, seconds=seconds))
            runs["heartbeat"].append(await measure(beater(agents), connections, seconds=seconds))
    for k, rs in runs.items():
        by_rate = sorted(rs, key=lambda x: float(x["rate"]))  # type: ignore[arg-type]
        out[k] = dict(by_rate[len(by_rate) // 2])
        if k != "bare":
            ratios = [float(x["rate"]) / float(b["rate"]) for x, b in zip(rs, runs["bare"], strict=True)]  # type: ignore[arg-type]
            out[k]["ratio"], out[k]["ratios"] = statistics.median(ratios), [round(r, 2) for r in ratios]
    return out


async def latency(t: Target, count: int) -> dict[str, dict[str, object]]:
    async with session(connections=count, timeout=60) as s:
        plain = await measure(bare(s, t), count, count=count * 4)
        agents: dict[int, Agent] = {}
        joined = await measure(joiner(s, t, "lat", agents), count, count=count)
        return {"bare": plain, "join": joined, "heartbeat": await measure(beater(agents), count, count=count * 4)}


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
        t = Target(nodes=1_000_000, tmp=Path(tmp)).start()
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
            st = asyncio.run(simulate([s.base], s.join_token, args.storm, prefix="storm", concurrency=args.storm_connections, leave=False))
            held = _server_count(s)
        finally:
            s.stop()
        exact = st["admitted"] == args.storm_limit == held
        print(
            f"\n3. storm: {args.storm} agents join a server licensed for {args.storm_limit} nodes "
            f"({args.storm_connections} connections at once)"
        )
        print(f"  admitted {st['admitted']} (server holds {held} seats), refused {st['by_code']}: {'exact' if exact else 'WRONG'}")
        secs = float(st["seconds"])
        print(
            f"  {secs:.2f} s, {args.storm / secs:.0f} joins/s, p50 {st['p50_ms']:.1f} ms, p99 {st['p99_ms']:.1f} ms "
            f"(goal < {GOAL_STORM_SECONDS:.0f} s: {'met' if secs < GOAL_STORM_SECONDS else 'NOT met'})"
        )
        return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
