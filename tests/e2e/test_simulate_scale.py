"""``licensor agent simulate`` at scale: a real command against a real ``licensor controller serve`` on SQLite.

The storm's cost per request must stay flat (issue 11: on httpx, 3,000 agents took 463 s).
The wall time of the 10,000-agent storm is printed; the goal here is under 15 s on an
idle 2-core machine.  Asserted: the command's own CPU time (flat cost per request, what
the client controls) and a wall bound that a loaded shared machine keeps.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from licensor.errors import EXIT_USAGE

from ..controller.conftest import ENV, Server

#: Far above the 15 s goal (72 s measured at a load average of 19 on 2 cores), far below a quadratic client's.
WALL_BOUND = 240.0
#: The command's own CPU (seconds), which the machine's load hardly moves: 4-6 s measured; on httpx, 3,000 agents took 450.
CLIENT_CPU_BOUND = 30.0


@pytest.fixture
def sqlite_server(tmp_path: Path, free_port: int) -> Iterator[Server]:
    """A fresh controller on SQLite (seats kept 10 minutes without heartbeats), no license yet."""
    # a real serve process: the simulator meets it over TCP
    srv = Server(f"sqlite:///{tmp_path / 'storm.db'}", free_port, tmp_path, ttl=600, process=True).start()
    try:
        yield srv
    finally:
        srv.stop()


def simulate(server: Server, *args: str, limits: tuple[int, int] | None = None) -> subprocess.CompletedProcess[str]:
    """``licensor agent simulate --json`` against ``server``, with ``limits`` (soft, hard) on open files if given."""

    def lower() -> None:
        if limits is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    cmd = [sys.executable, "-m", "licensor", "agent", "simulate", "--controller", server.base, "--token", server.join_token, "--json"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env={**os.environ, **ENV}, timeout=600, preexec_fn=lower)


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the command, once it has been waited for)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _db(server: Server, sql: str) -> int:
    with sqlite3.connect(server.url.removeprefix("sqlite:///")) as db:
        return int(db.execute(sql).fetchone()[0])


class TestStorm:
    @pytest.mark.timeout(900)
    def test_ten_thousand_agents_on_five_thousand_nodes(self, sqlite_server: Server, capsys: pytest.CaptureFixture[str]) -> None:
        """10,000 agents over 1,000 connections against 5,000 nodes: exactly 5,000 admitted, the rest limit_reached, all leave."""
        server = sqlite_server
        server.activate(server.key(nodes=5000))
        before, started = _children_cpu(), time.monotonic()
        p = simulate(server, "--count", "10000", "--concurrency", "1000")
        wall, cpu = time.monotonic() - started, _children_cpu() - before
        assert p.returncode == 0, p.stderr[-2000:]
        out = json.loads(p.stdout)
        with capsys.disabled():
            print(
                f"\nsimulate 10000 agents / 1000 connections / 5000 nodes: {wall:.1f} s wall, client included "
                f"(joins {out['seconds']:.1f} s, client CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f})"
            )
        assert (out["count"], out["admitted"], out["by_code"]) == (10000, 5000, {"limit_reached": 5000})
        # The server agrees: 5,000 joins audited, a peak of exactly 5,000 seats, and every seat left.
        assert _db(server, "SELECT count(*) FROM audit WHERE event = 'joined'") == 5000
        assert _db(server, "SELECT max(peak) FROM usage WHERE kind = 'node'") == 5000
        assert server.status()["nodes_used"] == 0
        assert cpu < CLIENT_CPU_BOUND, f"the command used {cpu:.1f} s of CPU"
        assert wall < WALL_BOUND, f"the storm took {wall:.1f} s"


class TestHold:
    def test_held_seats_outlive_the_ttl_and_leave_at_the_end(self, tmp_path: Path, free_port: int) -> None:
        """--hold 9 against a 4 s TTL: the admitted agents heartbeat (the refused ones do not slow them), none expires, all leave."""
        server = Server(f"sqlite:///{tmp_path / 'hold.db'}", free_port, tmp_path, ttl=4, process=True).start()
        try:
            server.activate(server.key(nodes=40))
            p = simulate(server, "--count", "60", "--concurrency", "20", "--hold", "9")
            assert p.returncode == 0, p.stderr[-2000:]
            assert json.loads(p.stdout)["by_code"] == {"limit_reached": 20}
            assert server.get("/api/v1/audit?event=expired").json() == []
            assert len(server.get("/api/v1/audit?event=left&limit=100").json()) == 40
            assert server.status()["nodes_used"] == 0
        finally:
            server.stop()


class TestFailover:
    def test_agents_spread_over_the_urls_fail_over_from_a_dead_one(self, sqlite_server: Server) -> None:
        """With a dead controller URL beside the live one, the half of the agents that start on it fail over: all join."""
        server = sqlite_server
        server.activate(server.key(nodes=300))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead = f"http://127.0.0.1:{sock.getsockname()[1]}"  # a port the kernel gave out and nothing listens on
        p = simulate(server, "--controller", dead, "--count", "300", "--concurrency", "50", "--stay")
        assert p.returncode == 0, p.stderr[-2000:]
        assert json.loads(p.stdout)["admitted"] == 300
        assert server.status()["nodes_used"] == 300


class TestOpenFiles:
    def test_a_low_soft_limit_is_raised(self, sqlite_server: Server) -> None:
        """With a soft open-files limit of 128 and room under the hard one, 500 connections still work."""
        server = sqlite_server
        server.activate(server.key(nodes=600))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 1000:
            pytest.skip(f"the hard open-files limit here is {hard}")
        p = simulate(server, "--count", "600", "--concurrency", "500", "--stay", limits=(128, hard))
        assert p.returncode == 0, p.stderr[-2000:]
        assert json.loads(p.stdout)["admitted"] == 600
        assert server.status()["nodes_used"] == 600

    def test_a_hard_limit_too_low_is_a_clear_usage_error(self, sqlite_server: Server) -> None:
        """Under a hard limit of 200 open files, 1,000 connections are refused before any join, saying what to lower."""
        p = simulate(sqlite_server, "--count", "2000", "--concurrency", "1000", limits=(200, 200))
        assert p.returncode == EXIT_USAGE, p.stderr
        assert "1000 connections need 1064 open files" in p.stderr and "--concurrency" in p.stderr
        assert "Traceback" not in p.stderr
        assert _db(sqlite_server, "SELECT count(*) FROM audit WHERE event IN ('joined', 'refused')") == 0
