"""Verify benchmark: a full license check against a bare libsodium Ed25519 verify, paired in the same loop.

"Full" = what a product does with a pasted key: decode the token, verify the
signature, decode the claims, check the installation binding and evaluate the
policy (``licensor.check``).  Three things are timed:

- bare: libsodium's verify (``crypto_sign_open``) of the same signed bytes,
  round robin over as many distinct keys as the new-key check;
- new key: ``check`` of keys this process has not seen before (a pool of distinct
  keys, larger than the key ring's memory of verified keys, round robin);
- cached: ``check`` of the same key again, as a product does on every request.

The machine is shared, and its speed drifts by more than the margins measured
here.  So the three run in short blocks (a few milliseconds each), one right
after the other, for many rounds, the order reversed every other round (bare and
new key are always neighbours); the ratio is taken within each round and the
median of those ratios is the figure.  A drift that slows a whole round slows
both sides of its ratio.

    .venv/bin/python -m bench.verify [--seconds S] [--block N]

Goals: a new-key check at most 1.25x the time of the bare verify; a cached check at most 10 µs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import Any

import nacl.bindings as sodium

from licensor import check
from licensor.policy import VERIFIED_MAX
from licensor.signing import pae, split_token
from licensor.testing import T0, TestVendor, test_installation

COLD_GOAL = 1.25
CACHED_GOAL_US = 10.0
POOL = 4 * VERIFIED_MAX
#: A cached check is ~10x faster than the others: its blocks have this many times more calls.
CACHED_SCALE = 8
LABELS = {"bare": "bare libsodium verify", "cold": "licensor check, new key", "cached": "licensor check, cached"}


def _per_call_us(fn: Callable[[], object], n: int) -> float:
    t = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t) / n * 1e6


def spread(xs: list[float]) -> dict[str, float]:
    """Median, quartiles and extremes: the quartiles say how steady the machine was."""
    q1, _, q3 = statistics.quantiles(xs, n=4) if len(xs) > 1 else (xs[0],) * 3
    return {"median": statistics.median(xs), "q1": q1, "q3": q3, "min": min(xs), "max": max(xs)}


def timed_calls(pool: int = POOL) -> tuple[dict[str, Callable[[], object]], int]:
    """The three calls timed, and the size of the key: each call returns the verdict or the verified message."""
    vendor = TestVendor()
    _, inst = test_installation()
    keyring = vendor.keyring
    tokens = [vendor.issue(inst, nodes=50, features=("fips", "multi-cluster"), remote_clusters=2, serial=i + 1) for i in range(pool)]
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
    return {"bare": bare, "cold": cold, "cached": cached}, len(same)


def paired_rounds(calls: dict[str, Callable[[], object]], seconds: float, block: int) -> dict[str, list[float]]:
    """µs per call of each, one list entry per round; every round runs each call for one block."""
    per: dict[str, list[float]] = {k: [] for k in calls}
    order = list(calls)
    for k in order:  # warm up
        _per_call_us(calls[k], block)
    end = time.perf_counter() + seconds
    r = 0
    while time.perf_counter() < end or r < 3:
        for k in order if r % 2 == 0 else reversed(order):
            per[k].append(_per_call_us(calls[k], block * (CACHED_SCALE if k == "cached" else 1)))
        r += 1
    return per


def run(seconds: float = 6.0, block: int = 32) -> dict[str, Any]:
    calls, size = timed_calls()
    per = paired_rounds(calls, seconds, block)
    cold_ratio = [c / b for c, b in zip(per["cold"], per["bare"], strict=True)]
    cached_ratio = [c / b for c, b in zip(per["cached"], per["bare"], strict=True)]
    cached_us = statistics.median(per["cached"])
    return {
        "token_bytes": size,
        "rounds": len(cold_ratio),
        "calls_per_block": block,
        "us": {k: spread(v) for k, v in per.items()},
        "cold_ratio": spread(cold_ratio),
        "cached_ratio": spread(cached_ratio),
        "goals": {
            "cold_ratio": {"goal": COLD_GOAL, "met": statistics.median(cold_ratio) <= COLD_GOAL},
            "cached_us": {"goal": CACHED_GOAL_US, "met": cached_us <= CACHED_GOAL_US},
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=6.0)
    p.add_argument("--block", type=int, default=32, help="calls per block (a cached block has 8 times more)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here as JSON")
    args = p.parse_args(argv)
    r = run(args.seconds, args.block)
    if args.json is not None:
        args.json.write_text(json.dumps(r, indent=1))
    print(f"verify benchmark: {r['rounds']} paired rounds of {r['calls_per_block']} calls; median (quartiles)")
    print(f"  token size                 {r['token_bytes']} bytes")
    for name, label in LABELS.items():
        s = r["us"][name]
        print(f"  {label:26s} {s['median']:7.1f} us  ({s['q1']:.1f}-{s['q3']:.1f})")
    cr, kr, g = r["cold_ratio"], r["cached_ratio"], r["goals"]
    print(
        f"  ratio new key/bare         {cr['median']:.3f}x ({cr['q1']:.3f}-{cr['q3']:.3f}; goal <= {COLD_GOAL}x: "
        f"{'met' if g['cold_ratio']['met'] else 'NOT met'})"
    )
    print(
        f"  ratio cached/bare          {kr['median']:.3f}x ({kr['q1']:.3f}-{kr['q3']:.3f}); cached goal <= {CACHED_GOAL_US:g} us: "
        f"{'met' if g['cached_us']['met'] else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
