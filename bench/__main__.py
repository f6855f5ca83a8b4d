"""Run every benchmark in bench/ in turn: ``make bench`` or ``python -m bench``.

``bench.peers`` goes first: it writes docs/BENCHMARKS.md and its plots, so a
benchmark failing later leaves the document regenerated.  It runs ``bench.verify``
itself (its figures are the goals on that page), so that one is not run twice.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    names = sorted(
        (m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_") and m.name != "verify"),
        key=lambda n: (n != "peers", n),
    )
    for name in names:
        print(f"\n### bench.{name}", flush=True)
        rc = importlib.import_module(f"bench.{name}").main([])
        if rc:
            return int(rc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
