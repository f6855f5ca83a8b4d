"""Fleet benchmark: costs that stay flat with the seats held, replicas, and a fast command line.

Everything runs through the commands users run: ``licensor controller serve``
processes on 127.0.0.1 (one worker each), ``licensor agent simulate --json`` as
the storm, ``licensor controller status`` for the cold start.  Reported, each
figure with its goal:

1. admission cost with LARGE nodes registered against SMALL (SQLite): two
   controllers licensed alike, filled with SMALL and LARGE seats that stay, then
   rounds that run the same simulator batch of new joins on each in turn; the
   median of the per-round ratios of seconds per join (goal <= 1.3);
2. RSS of the controller holding LARGE seats, from /proc (goal <= 150 MB);
3. join throughput and p99 with one and with three replicas on one fresh
   PostgreSQL database, the simulator's agents spread over the replicas' URLs;
4. joins/bare on SQLite, as bench/admission.py defines it (its throughput rounds:
   joins/s over ``GET /healthz``/s, same server, same client; goal >= 0.5);
5. cold starts as whole processes, commands alternated in rounds: ``licensor
   controller status`` over ``python -c pass`` (goal <= 12) and ``python -c
   "import licensor"`` over ``python -c pass`` (goal <= 4); medians of the
   per-round ratios.

    .venv/bin/python -m bench.fleet [--small N] [--large N] [--batch N] [--rounds R] ...

``measure(argv)`` returns the figures as a dict for the report writer.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._fleet import ENV, Site, fill, licensor_command, pg_database, prefill, replicas, simulate

GOAL_FLAT = 1.3
GOAL_RSS_MB = 150.0
GOAL_JOINS_BARE = 0.5
GOAL_STATUS = 12.0
GOAL_IMPORT = 4.0


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _batch(url: str, token: str, n: int, concurrency: int, prefix: str) -> float:
    """Seconds per join of a batch of ``n`` new agents that join, then leave (the seats held stay as they were)."""
    out = simulate([url], token, n, concurrency=concurrency, prefix=prefix, stay=False, timeout=max(120.0, n / 10))
    if out["admitted"] != n:
        raise SystemExit(f"a batch of {n} joins admitted {out['admitted']} (refused {out['by_code']})")
    return float(out["seconds"]) / n


def admission_cost(small: Site, large: Site, a: argparse.Namespace, after_fill: Callable[[], object] | None = None) -> dict[str, Any]:
    """Parts 1 and 2: seconds per join with ``a.small`` and ``a.large`` seats held, and the large one's RSS.

    ``after_fill`` runs once the seats are in, before anything is timed (``make bench`` waits there for the
    peers' installs that ran meanwhile)."""
    t = time.monotonic()
    if not a.fill_over_http:  # the seats first, the servers started on them (see bench/_fill.py)
        prefill(small, a.small)
        seconds = float(prefill(large, a.large)["seconds"])
    with replicas(small, 1) as [rs], replicas(large, 1) as [rl]:
        if a.fill_over_http:
            fill(rs, a.small, concurrency=a.fill_concurrency)
            seconds = float(fill(rl, a.large, concurrency=a.fill_concurrency)["seconds"])
        held = (rs.nodes_used(), rl.nodes_used())
        if held != (a.small, a.large):
            raise SystemExit(f"after the fill the controllers hold {held[0]} and {held[1]} seats, not {a.small} and {a.large}")
        how = "over HTTP" if a.fill_over_http else "with the seat service"
        rate = f"{a.large / seconds:.0f} joins/s for the large"
        print(f"  filled {a.small:,} and {a.large:,} seats {how} in {time.monotonic() - t:.0f} s ({rate})", flush=True)
        if after_fill is not None:
            after_fill()
        for r in (rs, rl):
            _batch(r.url, (small if r is rs else large).token, a.batch, a.concurrency, "warm")
        pairs: list[tuple[float, float]] = []
        for i in range(a.rounds):
            # Alternate which size goes first, so a drift of the machine's load favours neither.
            first, second = (rs, rl) if i % 2 == 0 else (rl, rs)
            got = {r.port: _batch(r.url, (small if r is rs else large).token, a.batch, a.concurrency, f"b{i}") for r in (first, second)}
            pairs.append((got[rs.port], got[rl.port]))
        rss_small, rss_large = rs.rss_mb(), rl.rss_mb()
        if (rs.nodes_used(), rl.nodes_used()) != (a.small, a.large):
            raise SystemExit(
                f"after the batches the controllers hold {rs.nodes_used()} and {rl.nodes_used()} seats, not {a.small} and {a.large}"
            )
    ratios = [lg / sm for sm, lg in pairs]
    return {
        "small": a.small,
        "large": a.large,
        "batch": a.batch,
        "fill": "over HTTP by `licensor agent simulate --stay`"
        if a.fill_over_http
        else "before their servers started, by the controller's own seat service: `bench/_fill.py`",
        "small_ms_per_join": 1000 * statistics.median(p[0] for p in pairs),
        "large_ms_per_join": 1000 * statistics.median(p[1] for p in pairs),
        "ratio": statistics.median(ratios),
        "ratios": [round(x, 2) for x in ratios],
        "rss_small_mb": rss_small,
        "rss_large_mb": rss_large,
    }


def replica_storms(tmp: Path, vendor: Path, a: argparse.Namespace) -> dict[str, Any]:
    """Part 3: rounds of the same storm through one replica's URL and through all three, on one PostgreSQL database."""
    runs: dict[str, list[dict[str, Any]]] = {"one": [], "three": []}
    with pg_database() as url:
        site = Site(tmp, "pg", 2 * a.storm + 1000, database_url=url).setup(vendor)
        with replicas(site, 3) as rep:
            urls = {"one": [rep[0].url], "three": [r.url for r in rep]}
            simulate(urls["three"], site.token, min(a.storm, 300), concurrency=a.storm_concurrency, prefix="warm", stay=False, timeout=120)
            for i in range(a.storm_rounds):
                for k in ("one", "three") if i % 2 == 0 else ("three", "one"):
                    out = simulate(
                        urls[k],
                        site.token,
                        a.storm,
                        concurrency=a.storm_concurrency,
                        prefix=f"{k}{i}",
                        stay=False,
                        timeout=max(120.0, a.storm / 10),
                    )
                    if out["admitted"] != a.storm:
                        raise SystemExit(f"a storm through {k} replica(s) admitted {out['admitted']} of {a.storm} ({out['by_code']})")
                    runs[k].append(out)
    res: dict[str, Any] = {"agents": a.storm, "concurrency": a.storm_concurrency, "rounds": a.storm_rounds}
    for k, outs in runs.items():
        res[k] = {
            "joins_per_s": statistics.median(a.storm / float(o["seconds"]) for o in outs),
            # p99 is in the simulator's summary since it runs on aiohttp; an older simulator has none.
            "p99_ms": statistics.median(float(o["p99_ms"]) for o in outs) if all("p99_ms" in o for o in outs) else None,
        }
    res["three_over_one"] = res["three"]["joins_per_s"] / res["one"]["joins_per_s"]
    return res


def joins_bare(a: argparse.Namespace) -> dict[str, Any]:
    """Part 4: bench/admission.py's own throughput rounds (its server, its bare endpoint, its client), not a new floor."""
    # Imported by name: the admission bench is its own module, typed on its own.
    admission = importlib.import_module("bench.admission")
    with tempfile.TemporaryDirectory(prefix="licensor-bench-fleet-") as tmp:
        t = admission.Target(nodes=1_000_000, tmp=Path(tmp)).start()
        try:
            tp = asyncio.run(admission.throughput(t, a.bare_seconds, 64, a.bare_rounds))
        finally:
            t.stop()
    return {
        "ratio": float(tp["join"]["ratio"]),
        "ratios": tp["join"]["ratios"],
        "joins_per_s": tp["join"]["rate"],
        "bare_per_s": tp["bare"]["rate"],
    }


def cold_start(site: Site, rounds: int) -> dict[str, Any]:
    """Part 5: whole processes, the three commands alternated (rotated) in each round; medians of per-round ratios."""
    cmds = {
        "pass": [sys.executable, "-c", "pass"],
        "import": [sys.executable, "-c", "import licensor"],
        "status": [*licensor_command(), "controller", "status", *site.where],
    }

    def once(k: str) -> float:
        t = time.perf_counter()
        rc = subprocess.run(cmds[k], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV, timeout=60).returncode
        if rc != 0:
            raise SystemExit(f"{' '.join(cmds[k])} exited {rc}")
        return time.perf_counter() - t

    names = list(cmds)
    for k in names:
        once(k)  # warm the page cache; not counted
    times: dict[str, list[float]] = {k: [] for k in names}
    for i in range(rounds):
        for k in names[i % 3 :] + names[: i % 3]:
            times[k].append(once(k))
    per = {k: [t / p for t, p in zip(times[k], times["pass"], strict=True)] for k in ("import", "status")}
    return {
        "rounds": rounds,
        **{f"{k}_ms": 1000 * statistics.median(v) for k, v in times.items()},
        "status_ratio": statistics.median(per["status"]),
        "import_ratio": statistics.median(per["import"]),
    }


def _print(f: dict[str, Any]) -> None:
    ad, rp, jb, cs = f["admission"], f["replicas"], f["joins_bare"], f["cold_start"]
    print(f"\n1. admission cost, SQLite, batches of {ad['batch']:,} new joins, {len(ad['ratios'])} rounds")
    print(f"  {ad['small']:>9,} seats held: {ad['small_ms_per_join']:.3f} ms per join")
    print(f"  {ad['large']:>9,} seats held: {ad['large_ms_per_join']:.3f} ms per join")
    print(f"  ratio {ad['ratio']:.2f} (per round {ad['ratios']}; goal <= {GOAL_FLAT}: {_met(ad['ratio'] <= GOAL_FLAT)})")
    rss = ad["rss_large_mb"]
    print(f"\n2. RSS with {ad['large']:,} seats held: {rss:.0f} MB (goal <= {GOAL_RSS_MB:.0f} MB: {_met(rss <= GOAL_RSS_MB)})")
    print(f"  with {ad['small']:,} seats held: {ad['rss_small_mb']:.0f} MB")
    print(f"\n3. PostgreSQL replicas, storms of {rp['agents']:,} agents, --concurrency {rp['concurrency']}: median rate, median p99")
    for k in ("one", "three"):
        p99 = "n/a" if rp[k]["p99_ms"] is None else f"{rp[k]['p99_ms']:.0f} ms"
        print(f"  {k:>5} replica{'s' if k == 'three' else ''}: {rp[k]['joins_per_s']:>7.0f} joins/s   p99 {p99}")
    print(f"  three/one {rp['three_over_one']:.2f}")
    print(f"\n4. joins/bare on SQLite (bench/admission.py's rounds): {jb['ratio']:.2f}, per round {jb['ratios']}")
    print(f"  goal >= {GOAL_JOINS_BARE}: {_met(jb['ratio'] >= GOAL_JOINS_BARE)}")
    print(f"\n5. cold start, whole processes, {cs['rounds']} rounds, medians: python -c pass {cs['pass_ms']:.0f} ms,")
    print(f"  python -c 'import licensor' {cs['import_ms']:.0f} ms, licensor controller status {cs['status_ms']:.0f} ms")
    print(f"  status/pass {cs['status_ratio']:.1f} (goal <= {GOAL_STATUS:g}: {_met(cs['status_ratio'] <= GOAL_STATUS)})")
    print(f"  import/pass {cs['import_ratio']:.1f} (goal <= {GOAL_IMPORT:g}: {_met(cs['import_ratio'] <= GOAL_IMPORT)})")


def markdown(f: dict[str, Any]) -> str:
    """The figures of ``measure`` as a Markdown table (figure, value, goal, met) for docs/BENCHMARKS.md."""
    ad, rp, jb, cs = f["admission"], f["replicas"], f["joins_bare"], f["cold_start"]

    def p99(k: str) -> str:
        return "n/a" if rp[k]["p99_ms"] is None else f"{rp[k]['p99_ms']:.0f} ms"

    rows = [
        (f"admission cost, {ad['large']:,} / {ad['small']:,} seats held", f"{ad['ratio']:.2f}", f"≤ {GOAL_FLAT}", ad["met"]),
        (
            f"RSS with {ad['large']:,} seats held",
            f"{ad['rss_large_mb']:.0f} MB ({ad['rss_small_mb']:.0f} MB with {ad['small']:,})",
            f"≤ {GOAL_RSS_MB:.0f} MB",
            ad["rss_met"],
        ),
        ("joins/s, p99, one PostgreSQL replica", f"{rp['one']['joins_per_s']:.0f}/s, {p99('one')}", "", None),
        ("joins/s, p99, three PostgreSQL replicas", f"{rp['three']['joins_per_s']:.0f}/s, {p99('three')}", "", None),
        ("three replicas / one", f"{rp['three_over_one']:.2f}", "", None),
        (
            "joins/bare on SQLite",
            f"{jb['ratio']:.2f} ({jb['joins_per_s']:.0f} against {jb['bare_per_s']:.0f}/s)",
            f"≥ {GOAL_JOINS_BARE}",
            jb["met"],
        ),
        ("`licensor controller status` / `python -c pass`", f"{cs['status_ratio']:.1f}×", f"≤ {GOAL_STATUS:g}×", cs["status_met"]),
        ("`import licensor` / `python -c pass`", f"{cs['import_ratio']:.1f}×", f"≤ {GOAL_IMPORT:g}×", cs["import_met"]),
    ]
    lines = ["| figure | value | goal | |", "|---|---:|---|---|"]
    lines += [f"| {n} | {v} | {g} | {'' if m is None else ('met' if m else '**not met**')} |" for n, v, g, m in rows]
    return "\n".join(lines) + "\n"


#: The bench's sizes: flag, type, default (the full size), help.
_OPTIONS: list[tuple[str, type, float, str]] = [
    ("--small", int, 1_000, "seats held by the small controller"),
    ("--large", int, 100_000, "seats held by the large controller"),
    ("--batch", int, 2_000, "new joins timed per batch"),
    ("--concurrency", int, 64, "simulator --concurrency of the timed batches"),
    ("--fill-concurrency", int, 256, "simulator --concurrency of the fills"),
    ("--rounds", int, 7, "rounds of batches (part 1)"),
    ("--storm-rounds", int, 5, "rounds of storms (part 3)"),
    ("--storm", int, 5_000, "agents per replica storm"),
    ("--storm-concurrency", int, 500, "simulator --concurrency of the replica storms"),
    ("--bare-seconds", float, 2.0, "bench/admission.py's --seconds for joins/bare"),
    ("--bare-rounds", int, 5, "bench/admission.py's --rounds for joins/bare"),
    ("--cold-rounds", int, 20, "rounds of the three cold starts"),
]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.fleet", description=(__doc__ or "").split("\n\n")[0])
    for flag, kind, default, what in _OPTIONS:
        p.add_argument(flag, type=kind, default=default, help=what)
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here as JSON")
    p.add_argument("--fill-over-http", action="store_true", help="fill with 'licensor agent simulate --stay' instead of bench/_fill.py")
    return p.parse_args(argv)


def measure(argv: list[str] | None = None, after_fill: Callable[[], object] | None = None) -> dict[str, Any]:
    """Run every part; the figures, each part's dict with its goal and whether it was met (``after_fill``: see admission_cost)."""
    a = _args(argv)
    print(f"fleet benchmark: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="licensor-bench-fleet-") as d:
        tmp, vendor = Path(d), Path(d) / "vendor"
        licensed = 2 * max(a.large, a.small) + a.batch
        small, large = Site(tmp, "small", licensed).setup(vendor), Site(tmp, "large", licensed).setup(vendor)
        f: dict[str, Any] = {"admission": admission_cost(small, large, a, after_fill)}
        f["replicas"] = replica_storms(tmp, vendor, a)
        f["joins_bare"] = joins_bare(a)
        f["cold_start"] = cold_start(small, a.cold_rounds)
    ad, cs = f["admission"], f["cold_start"]
    ad.update(goal=GOAL_FLAT, met=ad["ratio"] <= GOAL_FLAT, rss_goal_mb=GOAL_RSS_MB, rss_met=ad["rss_large_mb"] <= GOAL_RSS_MB)
    f["joins_bare"].update(goal=GOAL_JOINS_BARE, met=f["joins_bare"]["ratio"] >= GOAL_JOINS_BARE)
    cs.update(
        status_goal=GOAL_STATUS,
        status_met=cs["status_ratio"] <= GOAL_STATUS,
        import_goal=GOAL_IMPORT,
        import_met=cs["import_ratio"] <= GOAL_IMPORT,
    )
    f["seconds"], f["cores"] = time.monotonic() - t0, os.cpu_count()
    _print(f)
    if a.json is not None:
        a.json.write_text(json.dumps(f, indent=2) + "\n")
    print(f"\n  took {f['seconds'] / 60:.1f} min; load average {os.getloadavg()[0]:.1f} at the end")
    return f


def main(argv: list[str] | None = None) -> int:
    measure(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
