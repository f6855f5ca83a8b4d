"""The storm: many agents join at once over a bounded number of connections.

``simulate`` is what ``licensor agent simulate`` runs and what the admission
benchmark runs; ``drive`` is its engine, a pool of ``concurrency`` workers that
each take the next call when their last one answered, so never more than
``concurrency`` requests are in flight and the cost per call stays flat.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UsageError
from . import Agent, Result, Unreachable, session

__all__ = ["Run", "drive", "ensure_open_files", "simulate"]

#: File descriptors the process needs besides its connections (stdio, the event loop, imports, a state file).
SPARE_FILES = 64


@dataclass
class Run:
    """What a ``drive`` did: every call's result and latency, and how long it took."""

    results: list[Result] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.results) / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        """The ``q`` quantile (0..1) of the latencies, in milliseconds."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def drive(
    call: Callable[[int], Awaitable[Result]],
    concurrency: int,
    *,
    count: int | None = None,
    seconds: float | None = None,
    run: Run | None = None,
) -> Run:
    """Make ``call(0)``, ``call(1)``, … with ``concurrency`` in flight, for ``count`` calls or ``seconds``.

    A call that finds no controller counts as refused with the ``unreachable`` code.  Pass
    ``run`` to watch it fill (a progress bar)."""
    if count is None and seconds is None:
        raise UsageError("Give the drive a count or a number of seconds")
    out = run if run is not None else Run()
    started = time.perf_counter()
    end = started + seconds if seconds is not None else None
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while (count is None or next_i < count) and (end is None or time.perf_counter() < end):
            i = next_i
            next_i += 1
            t = time.perf_counter()
            try:
                r = await call(i)
            except Unreachable as e:
                r = Result(False, e.code, e.hint, "unreachable")
            out.latencies.append(time.perf_counter() - t)
            out.results.append(r)

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count if count is not None else concurrency)))))
    out.seconds = time.perf_counter() - started
    return out


def ensure_open_files(connections: int) -> None:
    """Raise the soft open-files limit to what ``connections`` sockets need, or say why it cannot be done."""
    need = connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise UsageError(
            f"{connections} connections need {need} open files but this process may open at most {hard} (ulimit -Hn): "
            f"lower --concurrency to {max(1, hard - SPARE_FILES)} or less, or raise the hard limit"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def _bar(run: Run, total: int, width: int = 30) -> str:
    done = len(run.results)
    admitted = sum(1 for r in run.results if r.ok)
    fill = int(width * done / total) if total else width
    bar = "#" * fill + "." * (width - fill)
    return f"\r[{bar}] {done}/{total}  admitted {admitted}  refused {done - admitted}"


async def _show(run: Run, total: int, started: float) -> None:
    while True:
        print(f"{_bar(run, total)}  {time.monotonic() - started:5.1f}s", end="", file=sys.stderr, flush=True)
        await asyncio.sleep(0.1)


async def _hold(agents: list[Agent], seconds: float, concurrency: int) -> None:
    """Heartbeat the admitted agents for ``seconds``, as often as the controller asked them to."""
    end = time.monotonic() + seconds
    while (held := [a for a in agents if a.admitted]) and time.monotonic() < end:
        await asyncio.sleep(max(0.0, min(min(a.interval for a in held), end - time.monotonic())))
        await drive(_beats(held), concurrency, count=len(held))


def _beats(held: list[Agent]) -> Callable[[int], Awaitable[Result]]:
    """Call i heartbeats the i-th of ``held``."""
    return lambda i: held[i].heartbeat()


def summary(run: Run) -> dict[str, Any]:
    """The tally ``licensor agent simulate --json`` prints: admitted, refused by code with each code's hint, timing."""
    refused = [r for r in run.results if not r.ok]
    return {
        "count": len(run.results),
        "admitted": len(run.results) - len(refused),
        "refused": len(refused),
        "by_code": dict(Counter(r.code for r in refused)),
        "hints": {r.code: r.hint for r in refused},
        "seconds": run.seconds,
        "p50_ms": run.percentile_ms(0.50),
        "p99_ms": run.percentile_ms(0.99),
    }


async def simulate(
    urls: list[str],
    token: str,
    count: int,
    *,
    prefix: str,
    concurrency: int,
    hold: float = 0.0,
    leave: bool = True,
    progress: bool = False,
    kind: str = "node",
    timeout: float = 60.0,
) -> dict[str, Any]:
    """``count`` agents join at once over ``concurrency`` connections, spread over ``urls``; returns the ``summary``.

    The admitted ones then heartbeat for ``hold`` seconds and, with ``leave``, leave."""
    if count < 1 or concurrency < 1:
        raise UsageError("The count of agents and the concurrency must be at least 1")
    connections = min(concurrency, count) * len(urls)  # failover may open one to each controller
    ensure_open_files(connections)
    async with session(connections=connections, timeout=timeout) as s:
        # Agent i tries the controllers from the (i mod n)-th on: a storm spreads over replicas and fails over.
        agents = [
            Agent(urls[i % len(urls) :] + urls[: i % len(urls)], token, f"{prefix}-{i:05d}", kind=kind, client=s) for i in range(count)
        ]
        run = Run()
        started = time.monotonic()
        bar = asyncio.get_running_loop().create_task(_show(run, count, started)) if progress else None
        try:
            await drive(lambda i: agents[i].join(), concurrency, count=count, run=run)
        finally:
            if bar is not None:
                bar.cancel()
                print(f"{_bar(run, count)}  {time.monotonic() - started:5.1f}s", file=sys.stderr, flush=True)
        if hold > 0:
            await _hold(agents, hold, concurrency)
        if leave:
            held = [a for a in agents if a.admitted]
            await drive(lambda i: held[i].leave(), concurrency, count=len(held))
    return summary(run)
