"""Issuance benchmark: signing in process against a bare Ed25519 sign, and licenses issued through the API.

1. In process: a license key signed the way the issuer signs it (claims to
   JSON, PASETO v4.public with the key id footer, expanded key cached) beside a
   bare libsodium ``crypto_sign`` of a message of the same size, same run.
   Rounds alternate so machine noise hits both; the median round is reported.
   Goal: at least 0.7 of the bare rate.
2. Through the API: a real ``licensor vendor serve`` on SQLite (or
   ``--database-url``), concurrent clients POSTing ``/api/v1/licenses`` with
   request codes of distinct installations; every response is a signed license
   stored in the database.  Goal: at least 500 licenses/s on this machine.

    .venv/bin/python -m bench.issuance [--seconds S] [--clients C] [--workers W] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import nacl.bindings as sodium

from bench._fleet import free_port
from licensor.license import License
from licensor.signing import HEADER, VendorKey, pae, split_token
from licensor.testing import T0, TestVendor, request_code, test_installation

SIGN_GOAL = 0.7
API_GOAL = 500.0


def _rate(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def run_sign(seconds: float) -> dict[str, float]:
    vendor = TestVendor()
    # Distinct licenses (ids, installations, times), signed round robin: no cache can help.
    lics: list[License] = []
    for i in range(1000):
        _, inst = test_installation()
        lics.append(
            vendor.license(inst, nodes=50 + i, features=("fips", "multi-cluster"), remote_clusters=2, now=T0 + timedelta(seconds=97 * i))
        )
    lic = lics[0]
    signer = vendor.key.signer()
    it = iter(itertools.cycle(lics))

    def licensed() -> str:
        # Exactly what the issuer's LicenseService does per license after the database work.
        return next(it).sign_with(signer)

    token = licensed()
    assert json.loads(split_token(token)[0]) == lic.claims()
    footer = json.dumps({"kid": vendor.key.kid}, separators=(",", ":")).encode()
    message = pae(HEADER.encode(), json.dumps(lic.claims(), separators=(",", ":"), sort_keys=True).encode(), footer, b"")
    sk = sodium.crypto_sign_seed_keypair(vendor.key.seed)[1]

    def bare() -> bytes:
        return sodium.crypto_sign(message, sk)

    n = 2000
    lic_rates, bare_rates = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        bare_rates.append(_rate(bare, n))
        lic_rates.append(_rate(licensed, n))
    lr, br = statistics.median(lic_rates), statistics.median(bare_rates)
    return {"license_per_s": lr, "bare_per_s": br, "ratio": lr / br, "token_bytes": len(token), "rounds": len(lic_rates)}


def _requests(n: int) -> list[str]:
    """``n`` request codes, each from an installation of its own."""
    return [request_code(nodes=10)[1] for _ in range(n)]


async def _drive(port: int, token: str, codes: list[str], clients: int, seconds: float) -> tuple[int, int, list[float]]:
    """Concurrent keep-alive HTTP/1.1 clients on raw sockets (a wrk-like load generator).

    A full Python HTTP client costs about as much CPU per request as the server
    does, and the two share this machine's CPUs; this one only writes prepared
    requests and reads the status line and the body length, so the server is
    what is measured.  Every response must be ``201`` with a license file in it.
    """
    bodies = [json.dumps({"request_code": code, "nodes": 10}).encode() for code in codes]
    head = (
        "POST /api/v1/licenses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n"
    )
    done = errors = 0
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        k = i
        try:
            while time.perf_counter() < stop:
                body = bodies[k % len(bodies)]
                k += clients
                t = time.perf_counter()
                writer.write(head.format(token=token, n=len(body)).encode() + body)
                status = await reader.readline()
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                payload = await reader.readexactly(length)
                latencies.append(time.perf_counter() - t)
                if status.split()[1] == b"201" and b"BEGIN LICENSOR LICENSE" in payload:
                    done += 1
                else:
                    errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return done, errors, latencies


def run_api(seconds: float, clients: int, workers: int, database_url: str | None) -> dict[str, float]:
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="licensor-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}
    base = ["--data-dir", str(tmp)] + (["--database-url", database_url] if database_url else [])
    lic = [sys.executable, "-m", "licensor", "vendor"]
    subprocess.run([*lic, "init", *base], check=True, env=env, capture_output=True)
    token = subprocess.run(
        [*lic, "token", "create", "--name", "bench", "--scope", "licenses:write", *base],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen([*lic, "serve", "--port", str(port), "--workers", str(workers), *base], env=env, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        codes = _requests(2000)
        asyncio.run(_drive(port, token, codes, clients, 1.0))  # warm up
        t = time.perf_counter()
        done, errors, lat = asyncio.run(_drive(port, token, codes, clients, seconds))
        elapsed = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait(10)
    lat.sort()
    return {
        "per_s": done / elapsed,
        "done": done,
        "errors": errors,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else 0.0,
        "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--clients", type=int, default=16, help="concurrent API clients")
    p.add_argument("--workers", type=int, default=1, help="issuer worker processes")
    p.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = p.parse_args(argv)
    VendorKey.generate()  # import warm-up
    s = run_sign(args.seconds)
    print("issuance benchmark")
    print(f"  in process, median of {s['rounds']} alternating rounds; token {s['token_bytes']} bytes")
    print(f"  bare libsodium sign        {s['bare_per_s']:>10,.0f} /s   {1e6 / s['bare_per_s']:6.1f} us")
    print(f"  license key signed         {s['license_per_s']:>10,.0f} /s   {1e6 / s['license_per_s']:6.1f} us")
    verdict = "met" if s["ratio"] >= SIGN_GOAL else "NOT met"
    print(f"  ratio license/bare rate    {s['ratio']:.2f}     (goal >= {SIGN_GOAL}: {verdict})")
    a = run_api(args.seconds, args.clients, args.workers, args.database_url)
    db = "PostgreSQL" if args.database_url and args.database_url.startswith("postgres") else "SQLite"
    where = f"{db}, {args.workers} worker(s), {args.clients} concurrent clients, {os.cpu_count()} CPUs shared with the clients"
    print(f"  through the API ({where})")
    print(f"  licenses issued            {a['per_s']:>10,.0f} /s   ({a['done']:.0f} in {args.seconds:.0f} s, {a['errors']:.0f} errors)")
    print(f"  latency                    p50 {a['p50_ms']:.1f} ms, p99 {a['p99_ms']:.1f} ms")
    verdict = "met" if a["per_s"] >= API_GOAL else "NOT met"
    print(f"  goal >= {API_GOAL:.0f}/s: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
