"""Verify benchmark: a full license check against a bare libsodium Ed25519 verify, same run.

"Full" = what a product does with a pasted key: decode the token, verify the
signature, decode the claims, check the installation binding and evaluate the
policy (``licensor.check``).  The peer is the bare primitive on the same
message size.  Rounds alternate between the two so that machine noise hits
both; the median round of each is reported.

    .venv/bin/python -m bench.verify [--seconds S]

Goal: full check at most 1.5x the time of the bare verify.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import nacl.bindings as sodium

from licensor import check
from licensor.signing import pae, split_token
from licensor.testing import T0, TestVendor, test_installation

GOAL = 1.5


def _rate(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - t)


def run(seconds: float = 6.0) -> dict[str, float]:
    vendor = TestVendor()
    _, inst = test_installation()
    token = vendor.issue(inst, nodes=50, features=("fips", "multi-cluster"), remote_clusters=2)
    keyring = vendor.keyring
    message, sig, footer = split_token(token)
    signed = sig + pae(b"v4.public.", message, footer, b"")
    pk = vendor.key.public_key

    def full() -> object:
        v = check(token, keyring, inst, T0)
        assert v.code == "valid"
        return v

    def bare() -> object:
        return sodium.crypto_sign_open(signed, pk)

    n = 2000
    full_rates, bare_rates = [], []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        bare_rates.append(_rate(bare, n))
        full_rates.append(_rate(full, n))
    full_r, bare_r = statistics.median(full_rates), statistics.median(bare_rates)
    return {"full_per_s": full_r, "bare_per_s": bare_r, "ratio": bare_r / full_r, "token_bytes": len(token), "rounds": len(full_rates)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    args = p.parse_args(argv)
    r = run(args.seconds)
    print("verify benchmark (median of alternating rounds)")
    print(f"  token size                 {r['token_bytes']} bytes")
    print(f"  bare libsodium verify      {r['bare_per_s']:>10,.0f} /s   {1e6 / r['bare_per_s']:6.1f} us")
    print(f"  licensor check (full)      {r['full_per_s']:>10,.0f} /s   {1e6 / r['full_per_s']:6.1f} us")
    verdict = "met" if r["ratio"] <= GOAL else "NOT met"
    print(f"  ratio full/bare time       {r['ratio']:.2f}x   (goal <= {GOAL}x: {verdict})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
