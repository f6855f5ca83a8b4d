"""``licensor vendor serve`` and ``db upgrade`` / ``db current``: running the issuer and its schema."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ...cmdline import EXIT_OK, EXIT_REFUSED, AddCommand, data_dir, serve
from .common import issuer_settings, issuer_store


def cmd_vendor_db_upgrade(args: argparse.Namespace) -> int:
    from ..migrate import upgrade

    before, after = upgrade(issuer_store(args))
    print(f"Issuer database at schema revision {after}" + (f" (was {before or 'empty'})" if before != after else " (already current)"))
    return EXIT_OK


def cmd_vendor_db_current(args: argparse.Namespace) -> int:
    from ..migrate import current, head

    cur = current(issuer_store(args))
    print(f"Current {cur or '(empty)'}, head {head()}")
    return EXIT_OK if cur == head() else EXIT_REFUSED


def cmd_vendor_serve(args: argparse.Namespace) -> int:
    from ..migrate import require_head

    settings = issuer_settings(args)
    from ..store import Store

    require_head(Store(settings.database_url))
    # Workers are separate processes: they read the same settings from the environment.
    os.environ["LICENSOR_VENDOR_DATABASE_URL"] = settings.database_url
    os.environ["LICENSOR_DATA_DIR"] = str(Path(data_dir(args, "vendor")).parent)
    print(f"licensor issuer on http://{args.host}:{args.port} (database {settings.database_url.split('@')[-1]})", file=sys.stderr)
    serve("licensor.issuer.app:create_app_from_env", args, proxy_headers=args.proxy_headers, forwarded_allow_ips=args.forwarded_allow_ips)
    return EXIT_OK


def register(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "serve", cmd_vendor_serve, "run the issuer HTTP API (REST v1, OpenAPI at /openapi.json)")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8700)
    sp.add_argument("--workers", type=int, default=1, help="worker processes (stateless: they share the database)")
    sp.add_argument("--log-level", default="warning")
    sp.add_argument("--proxy-headers", action="store_true", help="trust X-Forwarded-For from --forwarded-allow-ips (behind a proxy)")
    sp.add_argument("--forwarded-allow-ips", default="127.0.0.1")

    db = group.add_parser("db", help="the issuer database schema").add_subparsers(dest="db_cmd", required=True)
    cmd(db, "upgrade", cmd_vendor_db_upgrade, "apply schema migrations (Alembic) up to this licensor's head")
    cmd(db, "current", cmd_vendor_db_current, "show the schema revision (exit 1 when not current)")
