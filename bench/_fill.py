"""Seat nodes on a controller site before its server starts, with the controller's own seat service.

    <python> bench/_fill.py DATA_DIR COUNT [--database-url URL] [--batch N] [--prefix P]

Run by ``bench.fleet`` as a process of its own, with the bench's environment (the
installation's cluster factor), on a site that ``licensor controller init/activate``
made.  The joins go through ``Controller.apply``, the one call the server makes for
the joins that arrive together (one transaction per batch: the seats, their secrets,
the seat counter, the hash-chained audit entries, the month's peak); only HTTP is
left out, which the fleet bench times on its own.  Filling 100,000 seats this way
takes a tenth of the time it takes over HTTP on two shared cores.  Prints one JSON
line: ``{"admitted": N, "seconds": S}``; exits 1 unless every join was admitted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("data_dir")
    p.add_argument("count", type=int)
    p.add_argument("--database-url")
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--prefix", default="fill")
    a = p.parse_args()

    from licensor.controller.cli import controller_service
    from licensor.controller.runtime import Controller, Op

    ctl = Controller(controller_service(argparse.Namespace(data_dir=a.data_dir, database_url=a.database_url)), heartbeat_ttl=86400)
    t = time.perf_counter()
    admitted = 0
    for start in range(0, a.count, a.batch):
        ops = [Op("join", "node", f"{a.prefix}-{i:06d}") for i in range(start, min(a.count, start + a.batch))]
        out = ctl.apply(ops)
        admitted += sum(1 for o in out if o.ok)
        refused = [o for o in out if not o.ok]
        if refused:
            print(json.dumps({"admitted": admitted, "refused": refused[0].code, "hint": refused[0].hint}), flush=True)
            return 1
    ctl.store.close()
    print(json.dumps({"admitted": admitted, "seconds": time.perf_counter() - t}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
