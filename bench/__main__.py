"""Run every benchmark in bench/ in turn: ``make bench`` or ``python -m bench``.

1. The peers' virtual environments (bench/.peers/) are installed in the background
   while ``bench.fleet`` fills its controllers with seats: filling is set-up, not a
   measure, and the fleet waits for the installs before it times anything.
2. ``bench.fleet`` at the sizes below (100,000 seats held, as issue 11 asks; shorter
   batches and storms than its own defaults, so that the whole run fits in 15 minutes).
3. ``bench.peers``: the verify table against the peers, the goals' figures
   (``bench.verify``, so that one is not run again) and the admission sweep.
4. Every other bench found in bench/ (``admission``, ``issuance``, …), which print.
5. docs/BENCHMARKS.md and its plots, from all the figures of this run and its
   whole time; a bench that fails is named there and the run exits non-zero.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

#: bench.fleet's sizes in ``make bench``: the issue's seats held, fewer and smaller timed batches and storms.
FLEET_ARGS = ["--small", "1000", "--large", "100000", "--batch", "500", "--rounds", "7", "--storm", "1500", "--storm-rounds", "5"]
FLEET_ARGS += ["--bare-seconds", "1.5", "--bare-rounds", "5", "--cold-rounds", "20"]
#: Run by this module in its own order, not by discovery.
OWN = {"fleet", "peers", "verify"}


def _others() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_") and m.name not in OWN)


def main() -> int:
    from bench import fleet, peers

    t0 = time.monotonic()
    started = peers.machine()  # the load average when make bench started
    failed: list[str] = []
    pool = ThreadPoolExecutor(len(peers.PEERS))
    installs = [pool.submit(peers.ensure_peer, name) for name in peers.PEERS]  # they wait on pip and the network

    def installed() -> None:
        """Wait for the installs; one that failed is tried again (and reported) by bench.peers."""
        for f in installs:
            if f.exception() is not None:
                print(f"  a peer's install failed: {f.exception()}", flush=True)

    print(f"\n### bench.fleet {' '.join(FLEET_ARGS)}", flush=True)
    extra: dict[str, Any] = {}
    try:
        extra["fleet"] = fleet.measure(FLEET_ARGS, after_fill=installed)
    except (Exception, SystemExit) as e:  # the other figures are still worth a page
        traceback.print_exc()
        extra["fleet_error"] = f"`bench/fleet.py` failed: {str(e).strip()[:300] or type(e).__name__}"
        failed.append("fleet")
    installed()
    pool.shutdown()
    print("\n### bench.peers", flush=True)
    figures = {**peers.measure([]), **extra, "machine": started}
    if peers.failed_checks(figures):
        failed.append("peers")
    if "admission_error" in figures:
        failed.append("the admission sweep (bench.peers)")
    for name in _others():
        print(f"\n### bench.{name}", flush=True)
        try:
            rc = importlib.import_module(f"bench.{name}").main([])
        except (Exception, SystemExit) as e:
            traceback.print_exc()
            rc = getattr(e, "code", 1) or 1
        if rc:
            failed.append(name)
    print("\n### docs/BENCHMARKS.md", flush=True)
    peers.publish({**figures, "seconds": time.monotonic() - t0, "timed": "`make bench` (every bench in `bench/`)"})
    if failed:
        print(f"failed: {', '.join(failed)}", flush=True)
    print(f"make bench: {(time.monotonic() - t0) / 60:.1f} min", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
