"""Credential guessing against real server processes: one limit per user name and per address, for every way in.

Ways in: the controller's console sign-in and HTTP Basic, the issuer's console
sign-in and ``POST /api/v1/login``.  The limit lives in each service's database,
so it holds across ``--workers 2``, replicas and restarts.  Client addresses are
distinct loopback addresses (127.0.0.x) bound by the test's HTTP clients.

Figures: ``guessing.guesses_allowed_per_minute`` (guesses one account takes per
minute at the steady state, measured against the controller), and the
``/healthz`` p99 of each service while 16 clients hammer its logins.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.attack import conftest as figures
from tests.attack.conftest import record, scale
from tests.controller.conftest import ENV as CTL_ENV
from tests.controller.conftest import Server as ControllerServer
from tests.helpers import run_licensor, terminate, wait_healthy
from tests.inprocess import cli, ok

ADMIN_PW = "correct horse battery staple"
WRONG = "wrong horse battery staple"
#: The issue's bound, flat: measured 15-21 ms here under the flood (idle p99 about 10 ms).
HEALTHZ_P99_MS = 50.0


def record_worst(name: str, value: float) -> None:
    """Record the worst ``value`` seen for ``name`` in this run (``record`` adds numbers up; the backends must not)."""
    old = figures._FIGURES.get("guessing", {}).get(name)
    if old is None:
        record("guessing", **{name: value})
    elif value > old:
        record("guessing", **{name: round(value - old, 2)})


def from_address(base: str, source: str = "127.0.0.1") -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.0.0.0/8 address reaches the server on 127.0.0.1)."""
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=source), timeout=120)


def basic(c: httpx.Client, user: str, password: str) -> httpx.Response:
    return c.get("/api/v1/license/history", auth=(user, password))


def console(c: httpx.Client, user: str, password: str) -> httpx.Response:
    return c.post("/login", data={"username": user, "password": password, "next": "/"}, follow_redirects=False)


def api_login(c: httpx.Client, user: str, password: str) -> httpx.Response:
    return c.post("/api/v1/login", json={"username": user, "password": password})


def assert_limited(r: httpx.Response) -> int:
    """A refusal by the login limit: 429, Retry-After, and (JSON or page) the code and a hint saying when."""
    assert r.status_code == 429, (r.status_code, r.text[:300])
    wait = int(r.headers["retry-after"])
    assert wait >= 1
    assert "rate_limited" in r.text and "try again in" in r.text
    return wait


# -- the services, as processes -----------------------------------------------------


@pytest.fixture
def controller(database_url: str, free_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ControllerServer]:
    """A controller on two worker processes with an admin password (limits: 5 per user name, 20 per address, 15 minutes)."""
    for k in ("LICENSOR_LOGIN_LIMIT", "LICENSOR_LOGIN_ADDRESS_LIMIT", "LICENSOR_LOGIN_WINDOW_MINUTES"):
        monkeypatch.delenv(k, raising=False)
    srv = ControllerServer(database_url, free_port, tmp_path, workers=2)
    set_admin_password(database_url, tmp_path)
    yield srv.start()
    srv.stop()


def set_admin_password(url: str, tmp: Path) -> None:
    where = ("--data-dir", str(tmp / "controller-cli"), "--database-url", url)
    ok(cli("controller", "admin", "set-password", "--password-stdin", *where, stdin=ADMIN_PW + "\n", env=CTL_ENV))


class Issuer:
    """A ``licensor vendor serve`` process (``workers``) on its own data dir, with the admin user ``ada``."""

    def __init__(self, url: str, port: int, data: Path, env: dict[str, str], workers: int = 1):
        self.db, self.port, self.data, self.workers = url, port, data, workers
        self.base = f"http://127.0.0.1:{port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}, "LICENSOR_COOKIE_SECURE": "0", **env}
        self.proc: subprocess.Popen[bytes] | None = None
        self.vendor("init")
        self.vendor("admin", "create-user", "ada", "--password-stdin", input=ADMIN_PW + "\n")

    def vendor(self, *args: str, input: str | None = None) -> str:
        p = run_licensor("vendor", *args, "--data-dir", str(self.data), "--database-url", self.db, env=self.env, input=input, timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def start(self) -> Issuer:
        args = ["vendor", "serve", "--port", str(self.port), "--workers", str(self.workers), "--data-dir", str(self.data)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licensor", *args, "--database-url", self.db],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_healthy(self.proc, self.base, None, "issuer")
        return self

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


@pytest.fixture
def make_issuer(database_url: str, free_port: int, tmp_path: Path) -> Iterator[Any]:
    made: list[Issuer] = []

    def make(env: dict[str, str] | None = None, workers: int = 1) -> Issuer:
        srv = Issuer(database_url, free_port, tmp_path / "vendor", env or {}, workers)
        made.append(srv)
        return srv.start()

    yield make
    for srv in made:
        srv.stop()


# -- the gate itself, in process ---------------------------------------------------------


class TestGate:
    def test_concurrent_guesses_cannot_slip_past_the_limit_together(self, database_url: str) -> None:
        """Sixteen guesses at once, on two gates (two workers) over one database: exactly five passwords get checked."""
        from concurrent.futures import ThreadPoolExecutor

        from licensor.clock import system_clock
        from licensor.controller.store import Store, login_attempts
        from licensor.errors import LicensorError
        from licensor.server.logins import LoginGate
        from licensor.throttle import LoginPolicy

        store = Store(database_url)
        store.create_schema()
        gates = [LoginGate(store, login_attempts, policy=LoginPolicy(), clock=system_clock) for _ in range(2)]
        checked: list[int] = []
        refusals: list[LicensorError] = []

        def guess(i: int) -> str:
            def verify() -> None:
                checked.append(i)
                time.sleep(0.05)  # a hash's worth of time for the others to arrive

            try:
                gates[i % 2].attempt("Admin", f"10.0.0.{i}", verify)
                return "wrong"
            except LicensorError as e:
                refusals.append(e)
                return "limited"

        try:
            with ThreadPoolExecutor(16) as pool:
                outcomes = list(pool.map(guess, range(16)))
        finally:
            store.close()
        assert len(checked) == 5 and outcomes.count("wrong") == 5 and outcomes.count("limited") == 11
        assert all(e.code == "rate_limited" and e.details["retry_after"] > 0 for e in refusals), refusals


# -- the controller ---------------------------------------------------------------------


class TestController:
    def test_basic_and_console_share_one_limit_across_workers_and_restarts(self, controller: ControllerServer) -> None:
        """Defect 1: five wrong Basic guesses lock the admin for the console too, on both workers and after a restart;
        tokens keep working; the right password works again once the window has passed."""
        with from_address(controller.base, "127.0.0.2") as c:
            tried = 0
            for i in range(60):  # what the attacker of the issue sent
                r = basic(c, "admin", f"{WRONG} {i}")
                if r.status_code == 429:
                    assert_limited(r)
                    break
                assert r.status_code == 401, r.text
                assert r.json()["code"] == "unauthorized"
                tried += 1
            assert tried == 5
            wait = assert_limited(basic(c, "admin", ADMIN_PW))
            assert 14 * 60 <= wait <= 15 * 60
            page = console(c, "admin", ADMIN_PW)
            assert_limited(page)
            assert "Signed in" not in page.text and "set-cookie" not in page.headers
        record_worst("guesses_allowed_per_minute", round(tried / 15, 2))
        controller.restart()
        with from_address(controller.base, "127.0.0.3") as c:
            assert_limited(basic(c, "admin", ADMIN_PW))
            # A lockout of the password is not a lockout of the tokens.
            assert c.get("/api/v1/license/history", headers=controller.admin).status_code == 200
            assert c.get("/api/v1/license", headers=controller.agent).status_code == 200
            controller.shift_clock(minutes=15, seconds=5)
            assert basic(c, "admin", ADMIN_PW).status_code == 200
            assert console(c, "admin", ADMIN_PW).status_code == 303

    def test_changing_the_user_name_does_not_dodge_the_address_limit(self, controller: ControllerServer) -> None:
        """Twenty wrong guesses from one address, each under a new user name, lock that address, not the admin elsewhere."""
        with from_address(controller.base, "127.0.0.4") as c:
            for i in range(20):
                assert basic(c, f"user{i}", WRONG).status_code == 401
            assert_limited(console(c, "admin", ADMIN_PW))
            assert_limited(basic(c, "someone-new", WRONG))
        with from_address(controller.base, "127.0.0.5") as c:
            assert basic(c, "admin", ADMIN_PW).status_code == 200

    def test_an_attacker_elsewhere_does_not_lock_the_admin_out_where_the_admin_signs_in(self, controller: ControllerServer) -> None:
        """The admin's own address stays open while a stranger's guesses lock the user name for strangers."""
        with from_address(controller.base, "127.0.0.6") as admin:
            assert console(admin, "admin", ADMIN_PW).status_code == 303
            with from_address(controller.base, "127.0.0.7") as attacker:
                for _ in range(5):
                    assert basic(attacker, "admin", WRONG).status_code == 401
                assert_limited(basic(attacker, "admin", ADMIN_PW))
            with from_address(controller.base, "127.0.0.8") as stranger:
                assert_limited(console(stranger, "admin", ADMIN_PW))
            assert console(admin, "admin", ADMIN_PW).status_code == 303
            # Its own failures still count: the known address gets the user limit too.
            for _ in range(5):
                assert console(admin, "admin", WRONG).status_code == 401
            assert_limited(console(admin, "admin", ADMIN_PW))

    def test_wrong_user_names_answer_like_wrong_passwords(self, controller: ControllerServer) -> None:
        """Same status, same words, same cost: a guessed user name is not confirmed by the message or the time."""
        times: dict[str, list[float]] = {"admin": [], "nobody": []}
        bodies: dict[str, set[str]] = {"admin": set(), "nobody": set()}
        for i in range(4):  # four wrong passwords for the admin: one short of the user limit
            for user in times:
                with from_address(controller.base, f"127.0.1.{i * 2 + (user == 'admin')}") as c:
                    t0 = time.perf_counter()
                    r = basic(c, user, WRONG)
                    times[user].append(time.perf_counter() - t0)
                    assert r.status_code == 401
                    bodies[user].add(r.text)
        assert len(bodies["admin"]) == 1 and bodies["admin"] == bodies["nobody"]
        with from_address(controller.base, "127.0.1.100") as c:
            page = console(c, "nobody", WRONG)
            assert page.status_code == 401 and "The user name or password is wrong" in page.text
        # The wrong user name must cost an argon2 hash too (before: a few ms against some hundred).
        ratio = statistics.median(times["nobody"]) / statistics.median(times["admin"])
        assert 0.4 < ratio < 2.5, times


# -- the issuer -----------------------------------------------------------------------------


class TestIssuer:
    def test_api_and_console_share_one_limit_across_workers_and_restarts(self, make_issuer: Any) -> None:
        """Three wrong API logins and two wrong console sign-ins lock the user name for both, on both workers,
        after a restart."""
        issuer = make_issuer(workers=2)
        with from_address(issuer.base, "127.0.0.2") as c:
            for _ in range(3):
                r = api_login(c, "ada", WRONG)
                assert r.status_code == 401 and r.json()["code"] == "unauthorized"
            for _ in range(2):
                assert console(c, "ada", WRONG).status_code == 401
            assert_limited(api_login(c, "ada", ADMIN_PW))
            assert_limited(console(c, "ADA", ADMIN_PW))  # case does not make a new user name
        issuer.stop()
        issuer.start()
        with from_address(issuer.base, "127.0.0.3") as c:
            wait = assert_limited(api_login(c, "ada", ADMIN_PW))
            assert 10 * 60 < wait <= 15 * 60

    def test_changing_the_user_name_does_not_dodge_the_address_limit(self, make_issuer: Any) -> None:
        """Defect 2: the issuer's limit was per (user name, address), so each new name was five more guesses.
        The address is open again once the window has passed; other addresses never were closed."""
        # Small limits and a short window, so the wait for the window to pass stays short.
        issuer = make_issuer({"LICENSOR_LOGIN_LIMIT": "3", "LICENSOR_LOGIN_ADDRESS_LIMIT": "6", "LICENSOR_LOGIN_WINDOW_MINUTES": "0.5"})
        with from_address(issuer.base, "127.0.0.4") as c:
            started = time.monotonic()
            for i in range(6):
                assert api_login(c, f"name{i}", WRONG).status_code == 401
            assert time.monotonic() - started < 25, "too slow to reach the limit within the window: make the window longer"
            assert_limited(console(c, "ada", ADMIN_PW))
            wait = assert_limited(api_login(c, "ada", ADMIN_PW))
            with from_address(issuer.base, "127.0.0.5") as other:
                assert api_login(other, "ada", ADMIN_PW).status_code == 200
            time.sleep(wait + 0.5)
            assert api_login(c, "ada", ADMIN_PW).status_code == 200


# -- /healthz under a login flood ---------------------------------------------------------------------------


def healthz_p99(base: str, seconds: float, most: int) -> float:
    """``/healthz`` p99 (ms), one request at a time on a kept-alive connection, for at most ``seconds`` or ``most`` requests."""
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=10) as c:
        while time.monotonic() < deadline and len(samples) < most:
            t0 = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            samples.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.02)
    assert len(samples) >= 50, f"only {len(samples)} answers in {seconds} s"
    return statistics.quantiles(samples, n=100)[98]


def healthz_p99_under_flood(base: str, ways: list[Any], user: str) -> tuple[float, float]:
    """``/healthz`` p99 (ms) idle, then while 16 clients send wrong logins as fast as they are answered."""
    idle = healthz_p99(base, 5, 100)
    stop = threading.Event()
    answered: list[int] = []

    def hammer(n: int) -> None:
        with from_address(base, f"127.0.2.{n + 1}") as c:
            i = 0
            while not stop.is_set() and i < 10_000:
                r = ways[i % len(ways)](c, user, f"{WRONG} {n} {i}")
                answered.append(r.status_code)
                i += 1

    threads = [threading.Thread(target=hammer, args=(n,), daemon=True) for n in range(16)]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # the flood under way
        busy = healthz_p99(base, scale(15, 60), scale(300, 1500))
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert len(answered) >= 16
    assert all(code == 401 for code in answered), sorted(set(answered))
    return idle, busy


#: Every guess hashes (limits out of reach): the worst case for the event loop.
NO_LIMIT = {"LICENSOR_LOGIN_LIMIT": "1000000", "LICENSOR_LOGIN_ADDRESS_LIMIT": "1000000"}


class TestHealthUnderFlood:
    def test_controller_healthz_stays_fast(
        self, database_url: str, free_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """16 clients guessing over Basic and the console: /healthz p99 under 50 ms."""
        for k, v in NO_LIMIT.items():
            monkeypatch.setenv(k, v)
        srv = ControllerServer(database_url, free_port, tmp_path, process=True)  # the serve process's latency is measured
        set_admin_password(database_url, tmp_path)
        srv.start()
        try:
            idle, p99 = healthz_p99_under_flood(srv.base, [basic, console], "admin")
        finally:
            srv.stop()
        record_worst("healthz_p99_ms_controller", round(p99, 1))
        record_worst("healthz_p99_ms_controller_idle", round(idle, 1))
        assert p99 < HEALTHZ_P99_MS, (p99, idle)

    def test_issuer_healthz_stays_fast(self, make_issuer: Any) -> None:
        """16 clients guessing over the API and the console: /healthz p99 under 50 ms."""
        issuer = make_issuer(NO_LIMIT)
        idle, p99 = healthz_p99_under_flood(issuer.base, [api_login, console], "ada")
        record_worst("healthz_p99_ms_issuer", round(p99, 1))
        record_worst("healthz_p99_ms_issuer_idle", round(idle, 1))
        assert p99 < HEALTHZ_P99_MS, (p99, idle)
