"""``licensor agent …``: run one agent, or simulate many at once."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from ..cmdline import EXIT_OK, EXIT_REFUSED, AddCommand
from ..errors import UsageError


def _token(args: argparse.Namespace) -> str:
    token = args.token or os.environ.get("LICENSOR_JOIN_TOKEN")
    if not token:
        raise UsageError("No join token: pass --token or set LICENSOR_JOIN_TOKEN (create one with 'licensor controller join-token')")
    return str(token)


def cmd_agent_run(args: argparse.Namespace) -> int:
    from . import Agent, Result

    state = args.state_file or os.environ.get("LICENSOR_AGENT_STATE_FILE") or None
    agent = Agent(
        args.controller,
        _token(args),
        args.node_id,
        kind="cluster" if args.cluster else "node",
        address=args.address or "",
        state_file=state,
    )

    def event(what: str, r: Result | Exception) -> None:
        if isinstance(r, Result):
            if what == "heartbeat" and not args.verbose:
                return
            print(f"licensor agent: {what}: {r.code}: {r.hint}", file=sys.stderr, flush=True)
        else:
            print(f"licensor agent: {what}: {r}", file=sys.stderr, flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await agent.run(stop, event)
        finally:
            await agent.aclose()

    asyncio.run(main())
    return EXIT_OK


def cmd_agent_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate

    if args.count < 1:
        raise UsageError("Give a --count of at least 1")
    if args.concurrency < 1:
        raise UsageError("Give a --concurrency of at least 1")
    out = asyncio.run(
        simulate(
            args.controller,
            _token(args),
            args.count,
            prefix=args.prefix,
            concurrency=args.concurrency,
            hold=args.hold,
            leave=not args.stay,
            progress=not args.json and not args.quiet,
            kind="cluster" if args.cluster else "node",
        )
    )
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"\n{'outcome':<22} {'agents':>7}")
        print(f"{'admitted':<22} {out['admitted']:>7}")
        for code, n in sorted(out["by_code"].items()):
            print(f"{'refused: ' + code:<22} {n:>7}")
        print(f"{'total':<22} {out['count']:>7}   in {out['seconds']:.2f} s ({out['count'] / max(out['seconds'], 1e-9):.0f} joins/s)")
        for code, hint in sorted(out["hints"].items()):
            print(f"{code}: {hint}")
    return EXIT_OK if out["admitted"] else EXIT_REFUSED


def register(group: Any, add: AddCommand) -> None:
    sp = add(group, "run", cmd_agent_run, "hold a seat for this node: join, heartbeat, leave on SIGTERM")
    sp.add_argument("--controller", action="append", required=True, metavar="URL", help="controller URL; repeat for failover")
    sp.add_argument("--token", help="join token (default $LICENSOR_JOIN_TOKEN)")
    sp.add_argument("--node-id", required=True, help="a stable id for this node (a rejoin with it keeps its seat)")
    sp.add_argument("--address", help="shown to admins in the node list")
    sp.add_argument("--cluster", action="store_true", help="join as a remote cluster (the id is the cluster id)")
    sp.add_argument(
        "--state-file",
        metavar="PATH",
        help="keep the seat secret here (mode 0600) so a restart rejoins its seat at once (default $LICENSOR_AGENT_STATE_FILE; "
        "without one, a restarted agent waits for its old seat to time out)",
    )
    sp.add_argument("--verbose", action="store_true", help="log every heartbeat")
    sp = add(group, "simulate", cmd_agent_simulate, "N agents join at once; a table of admitted and refused by code")
    sp.add_argument("--controller", action="append", required=True, metavar="URL")
    sp.add_argument("--token", help="join token (default $LICENSOR_JOIN_TOKEN)")
    sp.add_argument("--count", type=int, required=True)
    sp.add_argument("--prefix", default="sim", help="node ids are PREFIX-00000, PREFIX-00001, …")
    sp.add_argument("--concurrency", type=int, default=200, help="connections at once (default 200)")
    sp.add_argument("--hold", type=float, default=0.0, help="keep the seats this many seconds (heartbeating) before leaving")
    sp.add_argument("--stay", action="store_true", help="do not leave at the end (seats time out instead)")
    sp.add_argument("--cluster", action="store_true", help="simulate remote clusters instead of nodes")
    sp.add_argument("--json", action="store_true")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
