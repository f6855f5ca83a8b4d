"""The kill harness: real servers SIGKILLed at random moments mid-work, then checked.

Each round starts a workload against a real server process, SIGKILLs the process
group after a seeded random delay (so the kill lands during whatever was in
flight: parsing, inside the transaction, at commit, while answering), restarts
the server on the same database and checks that the crash left either the old
state or the new one:

- controller (activations, renewals = successor keys, concurrent agent joins
  against the limit, leaves): exactly one license in force once one was, and it is
  the old one or one of the new ones, at least as new as the last one answered 200;
  the license rows, ``highest_serial`` and the audit's ``activated`` entries agree;
  seats never exceed the limit in force; every acknowledged join still holds its
  seat or the audit says where it went; the audit chain verifies
  (``GET /api/v1/audit/verify``); the database engine finds nothing wrong.
- issuer (concurrent ``POST /api/v1/licenses`` from request codes, and renewals):
  every license answered 201 exists with the same serial and token; serials per
  installation are unique and run 1..n; every stored key verifies and says what
  its row says; supersession links agree both ways; every license has exactly one
  audit line and no audit line names a license that is not there.

Delays and choices come from a seeded ``random.Random`` (``LICENSOR_KILL_SEED``
replays them).  Every loop is bounded in count and time; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from licensor.agent import Agent, Result, Unreachable
from licensor.identity import InstallationKey
from licensor.license import decode_license
from licensor.signing import Keyring
from licensor.testing import request_code

from ..controller.conftest import Server
from .conftest import record, scale
from .killing import SEED, Db, Issuer, sigkill

#: Kills per test: the long run makes 2 x 3 x 10 controller kills and 2 x 2 x 11 issuer kills (104).
CONTROLLER_LIVES, CONTROLLER_KILLS = scale(1, 3), scale(3, 10)
ISSUER_LIVES, ISSUER_KILLS = scale(1, 2), scale(2, 11)
#: The kill lands this long (seconds) after the server's first answer in a round.
KILL_AFTER = (0.0, 1.2)
#: A round's workload stops by itself after this long (the kill comes long before).
WORKLOAD_SECONDS = 16.0
#: The controller's heartbeat TTL (seconds): the harness never heartbeats, so seats of earlier rounds lapse.
HEARTBEAT_TTL = 5.0
#: Wall-clock bound of one test, well inside pytest's timeout.
TEST_BUDGET = 240.0


def _work_until_killed(work: Callable[[threading.Event], Awaitable[None]], kill: Callable[[], None], delay: float) -> None:
    """Run ``work`` in its own thread and event loop; ``kill`` the server ``delay`` seconds after its first answer.

    Counting from the first answer (not from the start) keeps the kill inside the work
    however slow the machine is to start it.
    """
    failure: list[BaseException] = []
    going = threading.Event()

    def run() -> None:
        try:
            asyncio.run(work(going))
        except BaseException as e:  # surfaced in the test's thread below
            failure.append(e)

    t = threading.Thread(target=run, name="kill-workload", daemon=True)
    t.start()
    going.wait(WORKLOAD_SECONDS / 2)
    time.sleep(delay)
    kill()
    t.join(WORKLOAD_SECONDS + 30)
    assert not t.is_alive(), "the workload did not stop after the kill"
    if failure:
        raise failure[0]


def _watch(seen: list[str], going: threading.Event) -> Callable[[httpx.Response], Awaitable[None]]:
    """A response hook: note that the server answers, and every 5xx (a crash must not show as one)."""

    async def hook(r: httpx.Response) -> None:
        going.set()
        if r.status_code >= 500:
            await r.aread()
            seen.append(f"{r.request.method} {r.request.url.path} answered {r.status_code}: {r.text[:300]}")

    return hook


def _agents_client(seen: list[str], going: threading.Event) -> aiohttp.ClientSession:
    """The agents' client (aiohttp), watched as ``_watch`` watches: the server answers, and every 5xx."""

    async def end(_s: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        going.set()
        if params.response.status >= 500:
            seen.append(f"{params.method} {params.url.path} answered {params.response.status}: {(await params.response.text())[:300]}")

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(end)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=10), trace_configs=[trace])


# -- controller ------------------------------------------------------------------------


@dataclass
class Sent:
    license_id: str
    nodes: int


@dataclass
class ControllerLog:
    """What the clients sent and were told, across the rounds of one controller's life."""

    sent: dict[int, Sent] = field(default_factory=dict)  # serial -> key
    acked: int = 0  # the highest serial whose activation answered 200
    in_force: int | None = None  # the serial found in force after the last restart
    round_serials: set[int] = field(default_factory=set)
    holders: dict[str, Agent] = field(default_factory=dict)  # admitted and not since left
    errors: list[str] = field(default_factory=list)
    joins_acked: int = 0
    activations_acked: int = 0


async def _controller_work(srv: Server, log: ControllerLog, rng: random.Random, tag: str, mode: str, going: threading.Event) -> None:
    stop_at = time.monotonic() + WORKLOAD_SECONDS
    dead = asyncio.Event()  # set by whichever task first finds the server gone
    hooks = {"response": [_watch(log.errors, going)]}

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=10, event_hooks=hooks, limits=limits) as client, _agents_client(log.errors, going) as agent_http:

        async def activations(r: random.Random) -> None:
            for _ in range(200):
                if dead.is_set() or time.monotonic() > stop_at:
                    return
                serial = max(log.sent, default=0) + 1
                nodes = r.randint(2, 8)
                lic = srv.vendor.license(srv.installation, serial=serial, nodes=nodes, now=srv.now() - timedelta(minutes=1))
                log.sent[serial] = Sent(lic.license_id, nodes)
                log.round_serials.add(serial)
                try:
                    resp = await client.post(
                        srv.base + "/api/v1/license/activate?confirm=true",  # keys of any size, smaller ones too
                        content=lic.sign(srv.vendor.key),
                        headers={**srv.admin, "content-type": "text/plain"},
                    )
                except httpx.TransportError:
                    dead.set()
                    return
                if resp.status_code != 200:
                    log.errors.append(f"activating serial {serial} answered {resp.status_code}: {resp.text[:300]}")
                    return
                log.acked = max(log.acked, serial)
                log.activations_acked += 1

        async def joins(r: random.Random) -> None:
            mine: dict[str, Agent] = {}
            for wave in range(100):
                if dead.is_set() or time.monotonic() > stop_at:
                    return
                agents = [Agent([srv.base], srv.join_token, f"{tag}-w{wave}-{i}", client=agent_http) for i in range(r.randint(4, 12))]
                for a, res in zip(agents, await asyncio.gather(*(a.join() for a in agents), return_exceptions=True), strict=True):
                    if isinstance(res, Result) and res.ok:
                        log.holders[a.seat_id] = mine[a.seat_id] = a
                        log.joins_acked += 1
                    elif isinstance(res, Unreachable):
                        dead.set()
                    elif isinstance(res, BaseException):
                        raise res
                # Some of this round's holders leave (their agents hold this round's client), so that
                # later waves find room again; earlier rounds' seats free up as their heartbeats lapse.
                leavers = r.sample(sorted(mine), min(len(mine), r.randint(0, 4)))
                results = await asyncio.gather(*(mine[i].leave() for i in leavers), return_exceptions=True)
                for i, res in zip(leavers, results, strict=True):
                    if isinstance(res, Result) and res.http_status == 200:
                        log.holders.pop(i, None)
                        mine.pop(i)
                    elif isinstance(res, Unreachable):
                        dead.set()
                    elif isinstance(res, BaseException):
                        raise res

        tasks = []
        if mode in ("activation", "mixed"):
            tasks.append(activations(random.Random(rng.random())))
        if mode in ("joins", "mixed"):
            tasks.append(joins(random.Random(rng.random())))
        await asyncio.gather(*tasks)


def _check_controller(srv: Server, db: Db, log: ControllerLog) -> list[str]:
    """What is wrong with the controller after a restart (empty when the crash left a consistent state)."""
    bad, serial = _controller_db_problems(db, log)
    status = srv.status()
    limit = log.sent[serial].nodes if serial is not None and serial in log.sent else 0
    if serial is not None and (status.get("serial") != serial or status.get("nodes_limit") != limit or status.get("state") != "valid"):
        bad.append(
            f"the API shows {status.get('state')} serial {status.get('serial')} limit {status.get('nodes_limit')}; the database {serial}"
        )
    verify = srv.get("/api/v1/audit/verify").json()
    entries = int(db.rows("SELECT count(*) FROM audit")[0][0])
    if not verify.get("ok") or verify.get("entries") != entries:
        bad.append(f"audit verify: {verify} ({entries} entries stored)")
    log.in_force = serial
    log.round_serials = set()
    return bad + log.errors


def _controller_db_problems(db: Db, log: ControllerLog) -> tuple[list[str], int | None]:
    """The database's side of the check, and the serial in force."""
    bad = [f"integrity: {p}" for p in db.integrity()]
    rows = db.rows("SELECT id, license_id, serial FROM licenses ORDER BY id")
    active = db.rows("SELECT license_id, serial FROM licenses WHERE active = %s", True)
    had = log.in_force is not None or log.acked > 0
    if len(active) > 1 or (had and not active):
        bad.append(f"{len(active)} licenses in force (expected exactly one): {active}")
    serial = int(active[0][1]) if len(active) == 1 else None
    if serial is not None:
        if serial not in log.sent or log.sent[serial].license_id != active[0][0]:
            bad.append(f"the license in force (serial {serial}, {active[0][0]}) is not one that was sent")
        elif serial != log.in_force and serial not in log.round_serials:
            bad.append(f"the license in force (serial {serial}) is neither the old one ({log.in_force}) nor a new one")
        if serial < log.acked:
            bad.append(f"serial {log.acked} was activated (answered 200) but serial {serial} is in force")
        highest = db.rows("SELECT value FROM settings WHERE key = 'highest_serial'")
        if not highest or int(highest[0][0]) != serial:
            bad.append(f"highest_serial is {highest} but serial {serial} is in force: a half-applied activation")
    serials = [int(r[2]) for r in rows]
    if serials != sorted(set(serials)) or (serial is not None and serials[-1] != serial):
        bad.append(f"license history out of order or duplicated: serials {serials}, in force {serial}")
    activated = [r[0] for r in db.rows("SELECT subject FROM audit WHERE event = 'activated' ORDER BY id")]
    if activated != [r[1] for r in rows]:
        bad.append(f"{len(rows)} licenses stored but {len(activated)} 'activated' audit entries (or in another order)")

    limit = log.sent[serial].nodes if serial is not None and serial in log.sent else 0
    seated = {r[0] for r in db.rows("SELECT seat_id FROM seats WHERE kind = 'node'")}
    if len(seated) > limit:
        bad.append(f"{len(seated)} seats held but the license in force allows {limit}")
    events = db.rows("SELECT event, subject FROM audit WHERE event IN ('joined', 'left', 'evicted', 'expired', 'released')")
    joined = {s for e, s in events if e == "joined"}
    gone = {s for e, s in events if e != "joined"}
    if seated - joined:
        bad.append(f"seats without a 'joined' audit entry: {sorted(seated - joined)[:5]}")
    if joined - seated - gone:
        bad.append(f"'joined' audit entries whose seat vanished unaccounted: {sorted(joined - seated - gone)[:5]}")
    lost = set(log.holders) - seated - gone
    if lost:
        bad.append(f"joins answered 'admitted' whose seats are gone without a trace: {sorted(lost)[:5]}")
    return bad, serial


@pytest.mark.parametrize("life", range(CONTROLLER_LIVES))
def test_controller_survives_kills(database_url: str, free_port: int, tmp_path: Path, life: int) -> None:
    """SIGKILLed during activations, renewals, joins and leaves, the controller restarts in the old state or the new one."""
    backend = database_url.split(":")[0]
    rng = random.Random(f"{SEED}-controller-{backend}-{life}")
    deadline = time.monotonic() + TEST_BUDGET
    srv = Server(database_url, free_port, tmp_path, ttl=HEARTBEAT_TTL, process=True).start()  # a process: the suite SIGKILLs it
    db, log = Db(database_url), ControllerLog()
    kills, problems = 0, []
    try:
        for n in range(CONTROLLER_KILLS):
            if time.monotonic() > deadline:
                break
            # The first round of a life activates the first key: the "none before" case.
            mode = "activation" if n == 0 else rng.choice(["activation", "joins", "mixed", "mixed"])
            delay = rng.uniform(*KILL_AFTER)
            proc = srv.proc
            assert proc is not None

            def kill(proc: Any = proc) -> None:
                sigkill(proc)
                srv.proc = None

            _work_until_killed(lambda g, m=mode, n=n: _controller_work(srv, log, rng, f"l{life}r{n}", m, g), kill, delay)
            kills += 1
            srv.start()
            found = _check_controller(srv, db, log)
            problems += [f"round {n} ({mode}, kill after {delay:.2f} s): {p}" for p in found]
            log.errors = []
    finally:
        if srv.proc is not None:  # the last state is checked already: no graceful shutdown to wait for
            sigkill(srv.proc)
    record(
        "kill",
        kills=kills,
        inconsistencies=len(problems),
        controller_kills=kills,
        activations_acked=log.activations_acked,
        joins_acked=log.joins_acked,
    )
    assert kills == CONTROLLER_KILLS, f"only {kills} of {CONTROLLER_KILLS} kills within {TEST_BUDGET} s"
    assert not problems, f"seed {SEED}, {backend}, life {life}:\n" + "\n".join(problems)


# -- issuer ----------------------------------------------------------------------------


@dataclass
class IssuerLog:
    acked: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # license id -> (installation, serial, token)
    newest: dict[str, str] = field(default_factory=dict)  # installation -> newest license answered 201
    errors: list[str] = field(default_factory=list)


async def _issuer_work(iss: Issuer, log: IssuerLog, rng: random.Random, codes: dict[str, str], going: threading.Event) -> None:
    stop_at = time.monotonic() + WORKLOAD_SECONDS
    dead = asyncio.Event()
    hooks = {"response": [_watch(log.errors, going)]}
    async with httpx.AsyncClient(base_url=iss.base, headers=iss.headers, timeout=20, event_hooks=hooks) as client:

        async def worker(r: random.Random) -> None:
            for _ in range(200):
                if dead.is_set() or time.monotonic() > stop_at:
                    return
                inst = r.choice(sorted(codes))
                renew = log.newest.get(inst) if r.random() < 0.25 else None
                try:
                    if renew:
                        resp = await client.post(f"/api/v1/licenses/{renew}/renew", json={})
                    else:
                        resp = await client.post("/api/v1/licenses", json={"request_code": codes[inst]})
                except httpx.TransportError:
                    dead.set()
                    return
                if resp.status_code == 201:
                    doc = resp.json()
                    log.acked[doc["license_id"]] = (doc["installation_id"], int(doc["serial"]), doc["token"])
                    log.newest[inst] = doc["license_id"]
                elif not (renew and resp.status_code == 409):  # a renewal of a key a concurrent one superseded
                    log.errors.append(f"{'renew' if renew else 'issue'} answered {resp.status_code}: {resp.text[:300]}")

        await asyncio.gather(*(worker(random.Random(rng.random())) for _ in range(rng.randint(3, 8))))


def _check_issuer(iss: Issuer, db: Db, log: IssuerLog) -> list[str]:
    """What is wrong with the issuer after a restart (empty when no issued serial was lost or duplicated)."""
    bad = _issuer_db_problems(db, log, iss.keyring)
    with httpx.Client(base_url=iss.base, headers=iss.headers, timeout=20) as client:
        for lid in list(log.acked)[-20:]:  # the newest, most likely caught by the kill
            r = client.get(f"/api/v1/licenses/{lid}")
            if r.status_code != 200 or r.json().get("serial") != log.acked[lid][1]:
                bad.append(f"GET license {lid}: {r.status_code} {r.text[:200]}")
    errors, log.errors = log.errors, []
    return bad + errors


def _issuer_db_problems(db: Db, log: IssuerLog, keyring: Keyring) -> list[str]:
    bad = [f"integrity: {p}" for p in db.integrity()]
    rows = {r[0]: r for r in db.rows("SELECT license_id, installation_id, serial, token, supersedes, superseded_by, kind FROM licenses")}
    for lid, (inst, serial, token) in log.acked.items():
        row = rows.get(lid)
        if row is None:
            bad.append(f"license {lid} (serial {serial}) was answered 201 but is gone")
        elif (row[1], int(row[2]), row[3]) != (inst, serial, token):
            bad.append(f"license {lid} was answered 201 as serial {serial} but is stored as serial {row[2]} of {row[1]}")
    per_inst: dict[str, list[int]] = {}
    for lid, inst, serial, token, supersedes, superseded_by, _kind in rows.values():
        per_inst.setdefault(inst, []).append(int(serial))
        try:
            lic = decode_license(token, keyring)
        except Exception as e:
            bad.append(f"the stored key of {lid} does not verify: {e}")
        else:
            if (lic.license_id, lic.installation_id, lic.serial) != (lid, inst, int(serial)):
                bad.append(f"the stored key of {lid} says serial {lic.serial} of {lic.installation_id}; its row {serial} of {inst}")
        if supersedes and (supersedes not in rows or rows[supersedes][5] != lid):
            bad.append(f"{lid} supersedes {supersedes}, which does not name it as its successor")
        if superseded_by and (superseded_by not in rows or rows[superseded_by][4] != lid):
            bad.append(f"{lid} is superseded by {superseded_by}, which does not name it")
    for inst, serials in per_inst.items():
        if sorted(serials) != list(range(1, len(serials) + 1)):
            bad.append(f"installation {inst}: serials {sorted(serials)} are not 1..{len(serials)}")
    audited = Counter(
        r[0] for r in db.rows("SELECT target FROM audit WHERE action IN ('license.issue', 'license.renew', 'license.rehost')")
    )
    for lid in rows:
        if audited[lid] != 1:
            bad.append(f"license {lid} has {audited[lid]} audit lines (expected one)")
    for lid in set(audited) - set(rows):
        bad.append(f"an audit line names license {lid}, which is not stored")
    return bad


@pytest.mark.parametrize("life", range(ISSUER_LIVES))
def test_issuer_survives_kills(database_url: str, free_port: int, tmp_path: Path, life: int) -> None:
    """SIGKILLed during concurrent issues and renewals, the issuer loses and duplicates no serial."""
    backend = database_url.split(":")[0]
    rng = random.Random(f"{SEED}-issuer-{backend}-{life}")
    deadline = time.monotonic() + TEST_BUDGET
    iss = Issuer(database_url, free_port, tmp_path).start()
    db, log = Db(database_url), IssuerLog()
    codes = {}
    for _ in range(3):
        key = InstallationKey.generate()
        codes[key.id] = request_code(key, nodes=rng.randint(1, 50))[1]
    kills, problems = 0, []
    try:
        for n in range(ISSUER_KILLS):
            if time.monotonic() > deadline:
                break
            delay = rng.uniform(*KILL_AFTER)
            _work_until_killed(lambda g: _issuer_work(iss, log, rng, codes, g), iss.kill, delay)
            kills += 1
            iss.start()
            problems += [f"round {n} (kill after {delay:.2f} s): {p}" for p in _check_issuer(iss, db, log)]
    finally:
        iss.kill()
    record("kill", kills=kills, inconsistencies=len(problems), issuer_kills=kills, licenses_acked=len(log.acked))
    assert kills == ISSUER_KILLS, f"only {kills} of {ISSUER_KILLS} kills within {TEST_BUDGET} s"
    assert not problems, f"seed {SEED}, {backend}, life {life}:\n" + "\n".join(problems)


# -- found by the harness --------------------------------------------------------------


def test_joins_never_exceed_a_limit_lowered_while_they_waited(database_url: str, tmp_path: Path) -> None:
    """A join batch decides with the license in force when it holds the lock, not the one it read before.

    Two workers of one controller (or the server and ``licensor controller activate``):
    the first has evaluated the license with 8 nodes; the second activates a renewal
    for 2.  The first worker's next joins must be held to 2.
    """
    from licensor.controller.host import collect_factors
    from licensor.controller.license.service import ControllerService
    from licensor.controller.runtime import Controller, Op
    from licensor.controller.store import Store
    from licensor.testing import TestVendor

    vendor = TestVendor()
    first = ControllerService(Store(database_url), factors=collect_factors())
    first.init(vendor.keyring, product="demo")
    second = ControllerService(Store(database_url), factors=collect_factors())
    with first.store.tx() as c:
        inst = first.installation(c)
    try:
        worker_a, worker_b = Controller(first), Controller(second)
        worker_b.activate(vendor.issue(inst, serial=1, nodes=8, now=first.clock() - timedelta(minutes=1)))
        assert worker_a.apply([Op("join", "node", "early")])[0].ok  # worker A now holds the 8-node verdict
        worker_b.activate(vendor.issue(inst, serial=2, nodes=2, now=first.clock() - timedelta(minutes=1)))
        outcomes = worker_a.apply([Op("join", "node", f"n{i}") for i in range(8)])
        with first.store.tx() as c:
            seated = len(c.exec_driver_sql("SELECT seat_id FROM seats").all())
        assert seated <= 2, f"{seated} seats under a 2-node license; admitted: {sum(o.ok for o in outcomes)}"
        assert sum(o.ok for o in outcomes) == 1
    finally:
        first.store.close()
        second.store.close()


# -- the checks themselves -------------------------------------------------------------


def test_the_checks_see_what_a_torn_write_would_leave(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The after-restart checks pass a sound database and name each kind of damage a torn write would leave."""
    from licensor.controller.host import collect_factors
    from licensor.controller.license.service import ControllerService
    from licensor.controller.runtime import Controller, Op
    from licensor.controller.store import Store
    from licensor.issuer.service import IssuerService
    from licensor.issuer.store import Store as IssuerStore
    from licensor.testing import TestVendor

    db, vendor, log = Db(database_url), TestVendor(), ControllerLog()
    svc = ControllerService(Store(database_url), factors=collect_factors())
    try:
        svc.init(vendor.keyring, product="demo")
        with svc.store.tx() as c:
            inst = svc.installation(c)
        lic = vendor.license(inst, serial=1, nodes=3, now=svc.clock() - timedelta(minutes=1))
        ctl = Controller(svc)
        ctl.activate(lic.sign(vendor.key))
        log.sent[1], log.acked, log.round_serials = Sent(lic.license_id, 3), 1, {1}
        for i in ("a", "b"):
            assert ctl.apply([Op("join", "node", i)])[0].ok
            log.holders[i] = Agent(["http://127.0.0.1:9"], "unused", i)
    finally:
        svc.store.close()
    assert _controller_db_problems(db, log) == ([], 1)

    db.write("UPDATE settings SET value = '7' WHERE key = 'highest_serial'")  # half an activation
    db.write("DELETE FROM seats WHERE seat_id = 'a'")  # an acknowledged join lost
    for i in range(3):  # seats over the limit, not audited
        db.write(
            "INSERT INTO seats (kind, seat_id, joined_at, last_seen, address) SELECT kind, %s, joined_at, last_seen, '' FROM seats LIMIT 1",
            f"x{i}",
        )
    found = "\n".join(_controller_db_problems(db, log)[0])
    for what in ("highest_serial is", "gone without a trace", "vanished unaccounted", "seats held but", "without a 'joined' audit"):
        assert what in found, f"{what!r} not reported in:\n{found}"
    db.write("UPDATE licenses SET active = %s", False)
    assert "0 licenses in force" in "\n".join(_controller_db_problems(db, log)[0])

    # The issuer's checks, on a database of its own.
    idb = Db(f"sqlite:///{tmp_path / 'issuer.db'}" if db.sqlite else request.getfixturevalue("fresh_pg")("iss"))
    iss = Issuer(idb.url, 1, tmp_path)
    store = IssuerStore(idb.url)
    try:
        key = InstallationKey.generate()
        code = request_code(key, nodes=5)[1]
        ilog = IssuerLog()
        for _ in range(3):
            issued = IssuerService(store).issue(code, actor="test")
            ilog.acked[issued.license.license_id] = (key.id, issued.license.serial, issued.token)
    finally:
        store.close()
    assert _issuer_db_problems(idb, ilog, iss.keyring) == []
    second = next(lid for lid, (_i, serial, _t) in ilog.acked.items() if serial == 2)
    idb.write("DELETE FROM licenses WHERE license_id = %s", second)
    found = "\n".join(_issuer_db_problems(idb, ilog, iss.keyring))
    for what in ("was answered 201 but is gone", "are not 1..2", "which is not stored"):
        assert what in found, f"{what!r} not reported in:\n{found}"
