"""Verify benchmark: a full license check against a bare libsodium Ed25519 verify, same run.

"Full" = what a product does with a pasted key: decode the token, verify the
signature, decode the claims, check the installation binding and evaluate the
policy (``licensor.check``).  Three things are timed in alternating rounds, so
that machine noise hits all of them:

- bare: libsodium's verify (``crypto_sign_open``) of the same signed bytes,
  round robin over as many distinct keys as the cold check;
- cold: ``check`` of keys this process has not seen before (a pool of distinct
  keys, larger than the key ring's memory of verified keys, round robin);
- cached: ``check`` of the same key again, as a product does on every request.

    .venv/bin/python -m bench.verify [--seconds S]

Goals: a cold check at most 1.25x the time of the bare verify; a cached check at most 10 µs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from itertools import cycle
from typing import Any

import nacl.bindings as sodium

from licensor import check
from licensor.policy import VERIFIED_MAX
from licensor.signing import pae, split_token
from licensor.testing import T0, TestVendor, test_installation

COLD_GOAL = 1.25
CACHED_GOAL_US = 10.0
POOL = 4 * VERIFIED_MAX


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def spread(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def run(seconds: float = 6.0, n: int = 1000) -> dict[str, Any]:
    vendor = TestVendor()
    _, inst = test_installation()
    keyring = vendor.keyring
    tokens = [vendor.issue(inst, nodes=50, features=("fips", "multi-cluster"), remote_clusters=2, serial=i + 1) for i in range(POOL)]
    signed = []
    for t in tokens:
        message, sig, footer = split_token(t)
        signed.append(sig + pae(b"v4.public.", message, footer, b""))
    pk = vendor.key.public_key
    cold_tokens, bare_msgs = cycle(tokens), cycle(signed)
    same = tokens[0]

    def bare() -> object:
        return sodium.crypto_sign_open(next(bare_msgs), pk)

    def cold() -> object:
        return check(next(cold_tokens), keyring, inst, T0)

    def cached() -> object:
        return check(same, keyring, inst, T0)

    assert cold().code == "valid" and cached().code == "valid"  # type: ignore[attr-defined]
    rounds: dict[str, list[float]] = {"bare": [], "cold": [], "cached": []}
    ratios = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or not ratios:
        b = _per_call_us(bare, n)
        c = _per_call_us(cold, n)
        rounds["bare"].append(b)
        rounds["cold"].append(c)
        rounds["cached"].append(_per_call_us(cached, n))
        ratios.append(c / b)
    return {
        "token_bytes": len(same),
        "rounds": len(ratios),
        "calls_per_round": n,
        "us": {k: spread(v) for k, v in rounds.items()},
        "cold_ratio": spread(ratios),
        "goals": {
            "cold_ratio": {"goal": COLD_GOAL, "met": statistics.median(ratios) <= COLD_GOAL},
            "cached_us": {"goal": CACHED_GOAL_US, "met": statistics.median(rounds["cached"]) <= CACHED_GOAL_US},
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    args = p.parse_args(argv)
    r = run(args.seconds)
    us = r["us"]
    print(f"verify benchmark (median of {r['rounds']} alternating rounds; min-max)")
    print(f"  token size                 {r['token_bytes']} bytes")
    for name, label in (("bare", "bare libsodium verify"), ("cold", "licensor check, new key"), ("cached", "licensor check, cached")):
        s = us[name]
        print(f"  {label:26s} {s['median']:7.1f} us  ({s['min']:.1f}-{s['max']:.1f})")
    cr, g = r["cold_ratio"], r["goals"]
    print(
        f"  ratio new key/bare         {cr['median']:.2f}x ({cr['min']:.2f}-{cr['max']:.2f}; goal <= {COLD_GOAL}x: "
        f"{'met' if g['cold_ratio']['met'] else 'NOT met'})"
    )
    print(f"  cached check               goal <= {CACHED_GOAL_US} us: {'met' if g['cached_us']['met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
