"""``licensor demo`` (what ``make run`` runs): both web consoles and simulated agents, on SQLite, until Ctrl-C.

It starts, under ``./.licensor/demo`` (or ``--data-dir``):

- the vendor's issuer (``licensor vendor serve``) with an admin user,
- a customer's controller (``licensor controller serve``) trusting that vendor's key, with an admin password,
- a few simulated agent nodes that keep asking the controller for a seat (refused until a license is active).

It prints the two URLs and the sign-in details (made on the first run, kept in
``demo-credentials.json``, readable by the owner only) and stops everything
cleanly on Ctrl-C; the data stays for the next run (``--fresh`` starts over).

``licensor demo --narrated`` is the non-interactive command-line round trip in a
throwaway directory, as before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CREDENTIALS = "demo-credentials.json"


#: The ``licensor`` command as a function: ``run_cli(argv) -> exit code``.
RunCli = Callable[[list[str]], int]


def add_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--data-dir", help="where the demo keeps its state (default ./.licensor/demo)")
    sp.add_argument("--host", default="127.0.0.1", help="address the consoles listen on (default 127.0.0.1)")
    sp.add_argument("--issuer-port", type=int, default=8700)
    sp.add_argument("--controller-port", type=int, default=8800)
    sp.add_argument("--agents", type=int, default=8, help="simulated agent nodes (default 8)")
    sp.add_argument("--heartbeat-ttl", type=float, default=10.0, help="seconds of silence after which a node loses its seat")
    sp.add_argument("--fresh", action="store_true", help="delete the demo's data first and start over")
    sp.add_argument("--narrated", action="store_true", help="instead: the command-line round trip, narrated, in a temporary directory")


def run_demo(args: argparse.Namespace, run_cli: RunCli) -> int:
    """The demo; ``run_cli(argv) -> exit code`` is the ``licensor`` command it drives (``licensor.cli.main``)."""
    if args.narrated:
        return run_narrated(run_cli)
    return run_consoles(args, run_cli)


# -- the main job: consoles and agents ------------------------------------------------------


def _quiet(run_cli: RunCli, argv: list[str]) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        rc = run_cli(argv)
    if rc != 0:
        raise SystemExit(f"licensor demo: setting up failed ({' '.join(argv[:2])}):\n{out.getvalue()}")


def setup(root: Path, run_cli: RunCli) -> dict[str, str]:
    """Make the vendor key, the controller, the admin credentials and a join token once; return the credentials."""
    creds_file = root / CREDENTIALS
    if creds_file.exists():
        return dict(json.loads(creds_file.read_text()))
    if root.exists() and any(root.iterdir()):
        raise SystemExit(f"licensor demo: {root} holds data but no {CREDENTIALS}: run 'licensor demo --fresh' to start over")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    base = ["--data-dir", str(root)]
    _quiet(run_cli, ["vendor", "init", *base])
    _quiet(run_cli, ["vendor", "public-key", "--out", str(root / "vendor.pub"), *base])
    _quiet(run_cli, ["controller", "init", "--trust", str(root / "vendor.pub"), "--cluster-name", "demo-cluster", *base])

    from .controller.host import collect_factors
    from .controller.license.service import ControllerService
    from .controller.runtime import Controller
    from .controller.store import Store as ControllerStore
    from .controller.store import sqlite_url
    from .issuer.service import IssuerService
    from .issuer.store import Store as IssuerStore
    from .issuer.store import sqlite_url as issuer_sqlite_url

    creds = {
        "issuer_user": "admin",
        "issuer_password": secrets.token_urlsafe(12),
        "controller_user": "admin",
        "controller_password": secrets.token_urlsafe(12),
    }
    issuer = IssuerService(IssuerStore(issuer_sqlite_url(root / "vendor")))
    issuer.create_user(creds["issuer_user"], creds["issuer_password"], actor="demo")
    issuer.store.close()
    ctl = Controller(ControllerService(ControllerStore(sqlite_url(root / "controller")), factors=collect_factors()))
    ctl.set_admin_password(creds["controller_password"])
    creds["join_token"] = ctl.create_token("join_token", "demo agents")
    ctl.store.close()
    fd = os.open(creds_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(creds, f, indent=2)
    return creds


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LICENSOR_DATABASE_URL", "LICENSOR_VENDOR_DATABASE_URL", "LICENSOR_DATA_DIR")}
    env["LICENSOR_COOKIE_SECURE"] = "0"  # the demo serves plain HTTP on this machine
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _serve(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")  # the child writes to it for as long as it runs
    # A session of its own: Ctrl-C reaches the demo only, which then stops the agents first and the servers after.
    return subprocess.Popen([sys.executable, "-m", "licensor", *argv], stdout=out, stderr=out, env=_env(), start_new_session=True)


def until_healthy(url: str, proc: subprocess.Popen[Any], timeout: float = 60.0) -> bool:
    """Ask ``url``/healthz until it answers 200 (True) or the server ``proc`` exits (False); TimeoutError after ``timeout`` s."""
    import httpx

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer /healthz within {timeout:.0f} s")


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    try:
        up = until_healthy(url, proc, timeout)
    except TimeoutError:
        raise SystemExit(f"licensor demo: {url} did not come up within {timeout:.0f} s: see {log}") from None
    if not up:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"licensor demo: the server for {url} stopped (exit {proc.returncode}):\n{tail}\nis the port in use? pass another")


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def _agents(url: str, token: str, count: int) -> None:
    """``count`` agents hold (or keep asking for) a seat until SIGINT or SIGTERM; one line each time the tally changes."""
    from .agent import Agent, Result, session

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    state: dict[str, str] = {}
    shown = ""

    def tally() -> str:
        admitted = sum(1 for v in state.values() if v == "admitted")
        refused: dict[str, int] = {}
        for v in state.values():
            if v.startswith("refused:"):
                refused[v[8:]] = refused.get(v[8:], 0) + 1
        why = ", ".join(f"{n} {code}" for code, n in sorted(refused.items()))
        return f"agents: {admitted} of {count} admitted" + (f"; refused: {why}" if why else "")

    def on(seat: str) -> Any:
        def event(what: str, r: Result | Exception) -> None:
            nonlocal shown
            if what == "left":
                state[seat] = "left"
            elif isinstance(r, Result):
                state[seat] = "admitted" if r.ok else f"refused:{r.code}"
            else:
                state[seat] = "refused:unreachable"
            line = tally()
            if len(state) == count and line != shown:
                shown = line
                print(f"{time.strftime('%H:%M:%S')} {line}", flush=True)

        return event

    async with session(connections=count, timeout=10.0) as client:
        agents = [
            Agent([url], token, f"demo-node-{i + 1:02d}", address=f"10.0.0.{i + 1}", client=client, backoff=(1.0, 4.0))
            for i in range(count)
        ]
        await asyncio.gather(*(a.run(stop, on(a.seat_id)) for a in agents))


def run_consoles(args: argparse.Namespace, run_cli: RunCli) -> int:
    root = Path(args.data_dir or Path(".licensor") / "demo")
    if args.fresh and root.exists():
        shutil.rmtree(root)
    creds = setup(root, run_cli)
    host = args.host
    show = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    issuer_url, ctl_url = f"http://{show}:{args.issuer_port}", f"http://{show}:{args.controller_port}"
    base = ["--data-dir", str(root), "--host", host]
    ilog, clog = root / "issuer.log", root / "controller.log"
    procs = [
        _serve(["vendor", "serve", *base, "--port", str(args.issuer_port)], ilog),
        _serve(["controller", "serve", *base, "--port", str(args.controller_port), "--heartbeat-ttl", str(args.heartbeat_ttl)], clog),
    ]
    try:
        _wait_up(issuer_url, procs[0], ilog)
        _wait_up(ctl_url, procs[1], clog)
        print(f"licensor demo: a vendor and a customer, on SQLite in {root} (Ctrl-C stops everything; the data stays)", flush=True)
        print("", flush=True)
        print(f"  Issuer console (vendor):       {issuer_url}/   user {creds['issuer_user']}   password {creds['issuer_password']}")
        print(f"  Controller console (customer): {ctl_url}/   user {creds['controller_user']}   password {creds['controller_password']}")
        print("")
        print(f"  {args.agents} simulated agent nodes ask the controller for a seat: refused until a license is activated.")
        print("  Try it: controller License page -> Request code; paste it in the issuer -> Issue; download the file;")
        print("  upload it on the controller's License page -> Activate; the banner goes and the agents are admitted.")
        print("", flush=True)
        if args.agents > 0:
            asyncio.run(_agents(ctl_url, creds["join_token"], args.agents))
        else:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except KeyboardInterrupt:
        pass
    finally:
        print("licensor demo: stopping the agents, the controller and the issuer …", flush=True)
        _stop(procs)
    print(f"licensor demo: stopped. 'make run' starts it again with the same data ({root}).", flush=True)
    return 0


# -- the narrated command-line round trip ------------------------------------------------------


def run_narrated(run_cli: RunCli) -> int:
    with tempfile.TemporaryDirectory(prefix="licensor-demo-") as tmp:
        d = Path(tmp)
        base = ["--data-dir", str(d)]

        def step(title: str, *argv: str, expect: int = 0) -> None:
            print(f"\n== {title}\n$ licensor {' '.join(argv)}", flush=True)
            rc = run_cli([*argv, *base])
            if rc != expect:
                raise SystemExit(f"demo step failed with exit code {rc}")

        print(f"A vendor and a customer complete the license round trip offline, in {d}.")
        step("Vendor: create a signing key", "vendor", "init")
        step("Vendor: publish the public key set the product trusts", "vendor", "public-key", "--out", str(d / "vendor.pub"))
        step("Customer: initialise the controller (its installation identity)", "controller", "init", "--trust", str(d / "vendor.pub"))
        step("Customer: no license yet, so nodes would be refused", "controller", "status", expect=1)
        step(
            "Customer: make a request code and mail it to the vendor",
            "controller", "request", "--name", "Ada Admin", "--email", "ada@example.com", "--company", "ACME",
            "--nodes", "5", "--months", "12", "--remote-clusters", "1", "--out", str(d / "request.txt"),
        )  # fmt: skip
        step("Vendor: inspect the request", "vendor", "inspect-request", str(d / "request.txt"))
        step(
            "Vendor: issue a one-year subscription for 5 nodes",
            "vendor", "issue", str(d / "request.txt"), "--nodes", "5", "--type", "subscription",
            "--feature", "multi-cluster", "--out", str(d / "license.txt"),
        )  # fmt: skip
        print((d / "license.txt").read_text())
        step("Customer: activate the license file", "controller", "activate", str(d / "license.txt"))
        step("Customer: the license is valid", "controller", "status")
        print("\nDone: the whole flow ran offline. See README.md for the tour.")
    return 0
