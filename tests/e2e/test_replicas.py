"""Three controller replicas on one PostgreSQL, stormed by 2,000 agents against ``nodes=1000``.

Real ``licensor controller serve`` processes (not ``--workers``), each on its own
port, one database made for the test.  Agents are spread over the replicas and
fail over between them as the agent library does (``tests/e2e/storm.py``).

- every round admits exactly 1,000, five rounds in a row (the seats are left between rounds);
- a replica SIGKILLed mid-storm, and a replica cut from PostgreSQL mid-storm (a network
  namespace of the test's own, ``tests/e2e/netns.py``): the seats held, sampled from the
  database every 50 ms, never exceed 1,000; every agent ends admitted or refused with a
  code; no seat is held that no agent asked for; the cut replica serves again once the
  link is back.

Figures (admitted per round, peaks, wall times) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.server.db import IDLE_IN_TRANSACTION_MS

from ..controller.conftest import Server
from . import netns
from .storm import Fleet, Outcome, Replica, Sampler, longest_silence, summary, unused_port

pytestmark = pytest.mark.postgres

LIMIT, AGENTS, ROUNDS = 1000, 2000, 5
#: Agents that join and go silent in the sweep test.
SILENT = 300
#: No heartbeats are sent: the TTL outlasts the test, so no seat times out while it runs.
TTL = 900.0
#: The fault lands when this many seats are held (the middle of the storm), or after this many seconds.
FAULT_AT, FAULT_LATEST = 300, 20.0
#: How long the database link stays cut (seconds).
CUT_SECONDS = 9.0


@dataclass
class Cluster:
    url: str
    setup: Server  # made the database (identity, tokens, vendor key); its own process is never started
    replicas: list[Replica]

    @property
    def fleet(self) -> Fleet:
        return Fleet([r.base for r in self.replicas], self.setup.join_token)

    def audit_verified(self) -> None:
        """The audit chain all replicas appended to verifies (``GET /api/v1/audit/verify`` on the first replica)."""
        r = httpx.get(self.replicas[0].base + "/api/v1/audit/verify", headers=self.setup.admin, timeout=60)
        assert r.status_code == 200 and r.json()["ok"], r.text

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as c:
            return list(c.execute(sql).fetchall())

    def seats(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT seat_id FROM seats WHERE kind = 'node'")}


def _cluster(url: str, tmp: Path, hosts: list[tuple[str, list[str], str]], ttl: float = TTL) -> Cluster:
    """The database prepared and licensed for ``LIMIT`` nodes, and a started replica per (host, exec prefix, database URL)."""
    setup = Server(url, 0, tmp)
    replicas = []
    try:
        for n, (host, prefix, db) in enumerate(hosts):  # all start at once: the schema is migrated under a lock
            replicas.append(Replica(db, host, unused_port(), tmp / f"replica-{n}.log", ttl=ttl, prefix=prefix).spawn())
        for rep in replicas:
            rep.wait()
        r = httpx.post(
            replicas[0].base + "/api/v1/license/activate",
            content=setup.key(nodes=LIMIT),
            headers={**setup.admin, "content-type": "text/plain"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
    except BaseException:
        for rep in replicas:
            rep.stop()
        raise
    return Cluster(url, setup, replicas)


@pytest.fixture
def db_url(fresh_pg: Callable[[str], str]) -> str:
    return fresh_pg("replicas")


@pytest.fixture
def cluster(db_url: str, tmp_path: Path) -> Iterator[Cluster]:
    c = _cluster(db_url, tmp_path, [("127.0.0.1", [], db_url)] * 3)
    yield c
    for r in c.replicas:
        r.stop()


def _storm(c: Cluster, nodes: list[str], fault: Callable[[], None] | None = None) -> tuple[list[Outcome], Sampler, float]:
    """All ``nodes`` join at once while the seat count is sampled; ``fault`` runs (in a thread) once FAULT_AT seats are held."""

    async def go(sampler: Sampler) -> list[Outcome]:
        joins = asyncio.ensure_future(c.fleet.join(nodes))
        if fault is not None:
            latest = time.monotonic() + FAULT_LATEST
            while sampler.last < FAULT_AT and time.monotonic() < latest and not joins.done():
                await asyncio.sleep(0.01)
            await asyncio.to_thread(fault)
        return await joins

    t0 = time.monotonic()
    with Sampler(c.url) as sampler:
        outs = asyncio.run(go(sampler))
        time.sleep(0.1)  # one more sample after the last answer
    assert not sampler.errors, sampler.errors
    return outs, sampler, time.monotonic() - t0


def _check_storm(c: Cluster, outs: list[Outcome], sampler: Sampler) -> tuple[list[Outcome], set[str]]:
    """Every agent ended admitted or refused with a code; no seat over the limit at any sample; the seats are those agents asked for."""
    by = summary(outs)
    assert sampler.peak <= LIMIT, f"{sampler.peak} seats held at one moment (limit {LIMIT}); outcomes {by}"
    unanswered = [o.node for o in outs if o.status == 0 or o.status >= 500 or not o.code]
    assert not unanswered, f"{len(unanswered)} agents ended without an answer with a code (e.g. {unanswered[:3]}); outcomes {by}"
    seen = sum((o.server_errors for o in outs), start=summary([]))
    assert set(seen) <= {"503 unavailable"}, f"a replica answered {seen}: a lost database is 503 unavailable, not a bug"
    admitted = [o for o in outs if o.status == 200]
    assert all(o.code == "valid" and o.secret for o in admitted), by
    refused = {o.code for o in outs if o.status != 200}
    assert refused <= {"limit_reached", "seat_taken"}, by
    held = c.seats()
    assert len(held) <= LIMIT
    assert {o.node for o in admitted} <= held, "an agent answered 'admitted' holds no seat"
    # A seat whose holder was not told (the answer was lost to the fault) is that agent's: it is refused seat_taken on retry.
    ghosts = held - {o.node for o in admitted}
    assert ghosts <= {o.node for o in outs if o.code == "seat_taken"}, f"seats nobody was refused for: {sorted(ghosts)[:5]}"
    c.audit_verified()
    return admitted, ghosts


def _leave_all(c: Cluster, admitted: list[Outcome]) -> None:
    left = asyncio.run(c.fleet.leave(admitted))
    assert summary(left) == {"200 left": len(admitted)}, summary(left)
    assert c.seats() == set()


def test_replica_storm_admits_exactly_the_limit(cluster: Cluster) -> None:
    """Five rounds of 2,000 agents over three replicas against nodes=1000: exactly 1,000 admitted each time."""
    for n in range(ROUNDS):
        outs, sampler, wall = _storm(cluster, [f"round{n}-node{i}" for i in range(AGENTS)])
        admitted, ghosts = _check_storm(cluster, outs, sampler)
        per = [sum(1 for o in admitted if o.replica == k) for k in range(3)]
        print(f"round {n}: {dict(summary(outs))}, admitted per replica {per}, peak {sampler.peak}, wall {wall:.1f} s")
        assert (len(admitted), len(ghosts)) == (LIMIT, 0), summary(outs)
        assert summary(outs) == {"200 valid": LIMIT, "422 limit_reached": AGENTS - LIMIT}
        assert all(o.failovers == 0 for o in outs), "no replica failed, yet an agent had to fail over"
        _leave_all(cluster, admitted)


def test_storm_with_a_replica_killed(cluster: Cluster) -> None:
    """A replica SIGKILLed mid-storm: its agents fail over; never a seat over the limit; every agent ends with a code."""
    victim = cluster.replicas[1]
    outs, sampler, wall = _storm(cluster, [f"kill-node{i}" for i in range(AGENTS)], victim.kill)
    admitted, ghosts = _check_storm(cluster, outs, sampler)
    moved = sum(1 for o in outs if o.failovers)
    print(f"kill: {dict(summary(outs))}, failed over {moved}, lost answers {len(ghosts)}, peak {sampler.peak}, wall {wall:.1f} s")
    assert victim.proc is not None and victim.proc.returncode is not None, "the replica was not killed"
    assert moved > 0, "the kill landed after the storm: no agent had to fail over"
    assert len(admitted) + len(ghosts) == LIMIT, "the seats were not all given although twice as many agents asked"


def test_replicas_sweep_each_silent_seat_once(db_url: str, tmp_path: Path) -> None:
    """Three replicas sweep silent seats at once (TTL 2 s): each seat is freed once, by one of them; the audit chain holds."""
    c = _cluster(db_url, tmp_path, [("127.0.0.1", [], db_url)] * 3, ttl=2.0)
    try:
        nodes = [f"silent-node{i}" for i in range(SILENT)]
        assert summary(asyncio.run(c.fleet.join(nodes))) == {"200 valid": SILENT}
        deadline = time.monotonic() + 30
        while c.seats() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert c.seats() == set(), "the sweepers left silent seats"
        expired = Counter(r[0] for r in c.rows("SELECT subject FROM audit WHERE event = 'expired'"))
        assert expired == dict.fromkeys(nodes, 1), f"seats expired more than once or never: {expired.most_common(3)}"
        c.audit_verified()
    finally:
        for r in c.replicas:
            r.stop()


@pytest.fixture
def partition() -> Iterator[netns.Partition]:
    why = netns.why_unavailable()
    if why is not None:
        if netns.REQUIRED:
            pytest.fail(f"LICENSOR_REQUIRE_NETNS=1 but no network namespace can be made here: {why}")
        pytest.skip(f"no network namespace can be made here ({why}); LICENSOR_REQUIRE_NETNS=1 makes this a failure")
    with netns.Partition.create() as net:
        yield net


def test_storm_with_a_replica_cut_from_the_database(db_url: str, tmp_path: Path, partition: netns.Partition) -> None:
    """A replica cut from PostgreSQL mid-storm (link down CUT_SECONDS): never over the limit; the others go on; it serves again.

    The cut catches the replica inside a seat transaction more often than not: its session holds the
    seat lock, idle, and the other replicas wait for it until PostgreSQL ends it
    (``IDLE_IN_TRANSACTION_MS``); without that they waited as long as the cut lasted.

    Not bounded yet (printed, not asserted): a cut in the middle of a statement's message (PostgreSQL
    waits for the rest, state ``active``/``ClientRead``: no idle timeout applies).  Across a real
    network only TCP keepalive ends that session; the forwarder here keeps PostgreSQL's side alive.
    """
    inside = (partition.api_host, partition.exec_prefix, partition.database_url(db_url))
    c = _cluster(db_url, tmp_path, [("127.0.0.1", [], db_url), inside, ("127.0.0.1", [], db_url)])
    span: list[float] = []
    held: list[float] = [0.0]  # how long the seat lock was seen held by a session idle in a transaction (s)
    reading: list[float] = [0.0]  # ... by a session reading the rest of a statement from its client (s)

    def cut() -> None:
        partition.cut()
        span.append(time.monotonic())
        for _ in range(int(CUT_SECONDS / 0.25)):
            time.sleep(0.25)
            idle, mid = _lock_holder(db_url)
            held.append(idle)
            reading.append(mid)
        partition.restore()
        span.append(time.monotonic())

    try:
        outs, sampler, wall = _storm(c, [f"cut-node{i}" for i in range(AGENTS)], cut)
        admitted, ghosts = _check_storm(c, outs, sampler)
        others = [o for o in outs if o.replica != 1]
        print(
            f"cut: {dict(summary(outs))}, failed over {sum(1 for o in outs if o.failovers)}, lost answers {len(ghosts)}, "
            f"5xx seen {sum((o.server_errors for o in outs), start=summary([]))}, peak {sampler.peak}, "
            f"seat lock held idle up to {max(held):.1f} s, mid-statement up to {max(reading):.1f} s, the other replicas silent up to "
            f"{longest_silence(others, *span):.1f} s of the {CUT_SECONDS:.0f} s cut, wall {wall:.1f} s"
        )
        assert len(span) == 2, "the cut did not happen"
        assert len(admitted) + len(ghosts) == LIMIT
        bound = IDLE_IN_TRANSACTION_MS / 1000 + 1.5
        assert max(held) <= bound, f"the cut replica held the seat lock {max(held):.1f} s: every replica waited for it"
        _recovers(c, admitted[0])
    finally:
        for r in c.replicas:
            r.stop()


def _lock_holder(url: str) -> tuple[float, float]:
    """How long the session holding the seat lock has been idle in its transaction, and reading a statement from its client (0: not)."""
    import psycopg

    sql = (
        "SELECT a.state, a.wait_event, extract(epoch FROM now() - a.state_change) FROM pg_locks l JOIN pg_stat_activity a "
        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database()"
    )
    with psycopg.connect(url, autocommit=True) as c:
        rows = c.execute(sql).fetchall()
    idle = [float(age) for state, _w, age in rows if state == "idle in transaction"]
    mid = [float(age) for state, wait, age in rows if state == "active" and wait == "ClientRead"]
    return max(idle, default=0.0), max(mid, default=0.0)


def _recovers(c: Cluster, seated: Outcome) -> None:
    """The cut replica answers /healthz and admits a join again (a seat is freed for it first)."""
    replica = c.replicas[1]
    assert httpx.get(replica.base + "/healthz", timeout=5).status_code == 200
    left = asyncio.run(c.fleet.leave([seated]))
    assert summary(left) == {"200 left": 1}
    deadline, answer = time.monotonic() + 30, None
    while time.monotonic() < deadline:
        try:
            answer = httpx.post(replica.base + "/api/v1/nodes/join", json={"node_id": "after-the-cut"}, headers=c.setup.agent, timeout=10)
        except httpx.TransportError:
            answer = None
        if answer is not None and answer.status_code < 500:
            break
        time.sleep(0.5)
    assert answer is not None and answer.status_code == 200 and answer.json()["code"] == "valid", answer and answer.text
