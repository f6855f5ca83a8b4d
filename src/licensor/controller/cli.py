"""``licensor controller …`` commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ..cmdline import (
    EXIT_OK,
    EXIT_REFUSED,
    AddCommand,
    count,
    data_dir,
    new_password,
    os_user,
    read_input,
    serve,
    with_database_url,
    write_out,
)
from ..errors import ConfirmationRequired
from ..nextstep import cli_step
from ..words import plural

if TYPE_CHECKING:
    from ..clock import Clock


def _url(args: argparse.Namespace) -> str:
    # store.sqlite_url's file, without importing the store (SQLAlchemy) for the commands that read without it.
    default = f"sqlite:///{data_dir(args, 'controller') / 'controller.db'}"
    return getattr(args, "database_url", None) or os.environ.get("LICENSOR_DATABASE_URL") or default


def _host() -> tuple[dict[str, str], Clock]:
    """This host's fingerprint factors and the same clock as 'serve' (the test-only fake clock honours its guard here too)."""
    from ..clock import system_clock
    from .clock import clock_from_env
    from .host import collect_factors

    factors = collect_factors()
    return factors, clock_from_env() or system_clock


def controller_service(args: argparse.Namespace, host: tuple[dict[str, str], Clock] | None = None) -> Any:
    from .license.service import ControllerService
    from .store import Store

    store = Store(_url(args))
    factors, clock = _host() if host is None else host
    return ControllerService(store, factors=factors, clock=clock)


def _keyring_file(path: str) -> Any:
    from ..signing import Keyring

    return Keyring.from_text(read_input(path).decode("utf-8", "replace"))


def cmd_controller_init(args: argparse.Namespace) -> int:
    svc = controller_service(args)
    inst = svc.init(_keyring_file(args.trust), product=args.product, cluster_name=args.cluster_name or "")
    print(f"Controller initialised: installation {inst}")
    print("Next: 'licensor controller request' to make a request code for your vendor")
    return EXIT_OK


def cmd_controller_trust(args: argparse.Namespace) -> int:
    kids = controller_service(args).trust(_keyring_file(args.file))
    print("Trusted vendor keys: " + ", ".join(kids))
    return EXIT_OK


def cmd_controller_request(args: argparse.Namespace) -> int:
    from ..request import Contact

    code, text = controller_service(args).request(
        Contact(args.name, args.email, args.company), nodes=args.nodes, months=args.months, remote_clusters=args.remote_clusters
    )
    write_out(args.out, text)
    if args.out:
        print(code)
    return EXIT_OK


def cmd_controller_activate(args: argparse.Namespace) -> int:
    from .license.preview import confirmed

    svc, text = controller_service(args), read_input(args.file)
    try:
        act = svc.activate(text, confirm=args.yes)
    except ConfirmationRequired as e:
        if not confirmed(e, sys.stdin, sys.stdout):
            raise
        act = svc.activate(text, confirm=True)
    lic = act.verdict.license
    if act.unchanged:
        print(f"This key is already active: {act.verdict.hint}")
    else:
        print(f"Activated license {lic.license_id} (serial {lic.serial}): {act.verdict.hint}")
        if act.replaced:
            print(f"It replaces license {act.replaced}, kept in the history")
    for w in act.verdict.warnings:
        print(f"Warning: {w}", file=sys.stderr)
    return EXIT_OK


def _status(args: argparse.Namespace) -> tuple[Any, str]:
    """``(verdict, installation id)``: read straight from a SQLite file when it can be (no ORM start-up), else by the service."""
    from .license import read

    host = _host()
    fast = read.status(_url(args), host[0], host[1]())
    if fast is not None:
        return fast
    svc = controller_service(args, host)
    return svc.status(), svc.installation_id()


def cmd_controller_status(args: argparse.Namespace) -> int:
    from .build import coverage
    from .license.read import status_document

    verdict, installation_id = _status(args)
    data = status_document(verdict, installation_id)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(f"installation      {data['installation_id']}")
        print(f"state             {data['state']}: {data['hint']}")
        if step := cli_step(verdict.code, verdict.details):
            print(f"next              {step}")
        if verdict.license:
            print(f"customer          {data['customer']}")
            print(f"type              {data['type']} (serial {data['serial']})")
            print(f"expires           {data['expires'] or 'never'}")
            print(f"maintenance until {data['maintenance_until']}")
            cov = coverage(verdict.license)
            print(f"this build        {' '.join(filter(None, (cov.sentence, cov.advice)))}")
            print(f"nodes             {data['nodes']}")
            print(f"remote clusters   {data['remote_clusters']}")
            print(f"features          {', '.join(data['features']) or '(none)'}")
        for w in data["warnings"]:
            print(f"warning           {w}")
    return EXIT_OK if verdict.valid else EXIT_REFUSED


def cmd_controller_history(args: argparse.Namespace) -> int:
    from .license import read

    items = read.history(_url(args))
    if items is None:
        items = controller_service(args).history()
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        for it in items:
            mark = "*" if it["active"] else " "
            print(f"{mark} {it['activated_at']}  serial {it['serial']:<3} {it['license_id']}  {it.get('customer', '')}")
    return EXIT_OK


def _runtime(args: argparse.Namespace) -> Any:
    from .runtime import Controller

    svc = controller_service(args)
    svc.store.create_schema()
    return Controller(svc)


def cmd_controller_serve(args: argparse.Namespace) -> int:
    from .clock import clock_from_env

    url = _url(args)
    svc = controller_service(args)
    svc.store.create_schema()
    svc.installation_id()  # refuses (exit 2) when not initialised
    svc.store.close()
    clock_from_env()  # refuses a fake clock that was not explicitly allowed
    os.environ["LICENSOR_DATABASE_URL"] = url
    os.environ["LICENSOR_HEARTBEAT_TTL"] = str(args.heartbeat_ttl)
    print(f"licensor controller serving on http://{args.host}:{args.port} (API: /docs, /openapi.json; metrics: /metrics)", flush=True)
    serve("licensor.controller.app:app_from_env", args, backlog=4096, timeout_graceful_shutdown=5)
    return EXIT_OK


def cmd_controller_db_upgrade(args: argparse.Namespace) -> int:
    from .migrate import upgrade
    from .store import Store

    store = Store(_url(args))
    before, after = upgrade(store.engine)
    print(f"Database schema: {before or 'empty'} -> {after}" if before != after else f"Database schema is up to date ({after})")
    return EXIT_OK


def cmd_controller_db_current(args: argparse.Namespace) -> int:
    from .migrate import current, head
    from .store import Store

    cur = current(Store(_url(args)).engine)
    print(f"Database schema {cur or 'empty'}; newest {head()}")
    return EXIT_OK if cur == head() else EXIT_REFUSED


def cmd_controller_audit_verify(args: argparse.Namespace) -> int:
    from .readpath import audit_check

    r = audit_check(_url(args)) or _runtime(args).audit_verify()
    if r.ok:
        print(f"Audit log intact: {plural(r.entries, 'entry')}, hash chain verified")
        return EXIT_OK
    print(f"licensor: audit_tampered: {r.problem}: restore the database from a backup and investigate", file=sys.stderr)
    return EXIT_REFUSED


def cmd_controller_audit_list(args: argparse.Namespace) -> int:
    items = _runtime(args).audit_entries(args.limit, args.event)
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        for it in reversed(items):
            print(f"{it['id']:>6} {it['at'][:19]}  {it['event']:<18} {it['subject']:<30} {it['code']:<20} {it['detail']}")
    return EXIT_OK


def cmd_controller_clock(args: argparse.Namespace) -> int:
    ctl = _runtime(args)
    if args.action == "acknowledge":
        ctl.acknowledge_clock(f"admin via CLI as {os_user()}")
        print("Clock acknowledged (audited): the controller's earlier clock readings that were ahead of it are dropped")
    data = ctl.status()
    shown = {k: data.get(k) for k in ("now", "trusted_time", "trusted_time_proven", "trusted_time_observed", "state", "hint")}
    if args.json:
        print(json.dumps(shown, indent=2))
    else:
        print(f"clock             {shown['now']}")
        print(f"trusted time      {shown['trusted_time'] or '(none yet)'}")
        print(f"  proven          {shown['trusted_time_proven'] or '-'}  (signed issue times plus running time)")
        print(f"  observed        {shown['trusted_time_observed'] or '-'}  (clock readings that ran steady for a day)")
        print(f"state             {shown['state']}: {shown['hint']}")
    return EXIT_REFUSED if data.get("code") == "clock_rollback" else EXIT_OK


def cmd_controller_usage_report(args: argparse.Namespace) -> int:
    from ..clock import parse_month

    parse_month(args.month)
    write_out(args.out, _runtime(args).usage_report(args.month))
    return EXIT_OK


def cmd_controller_admin_password(args: argparse.Namespace) -> int:
    pw = new_password("new admin password: ", from_stdin=args.password_stdin)
    _runtime(args).set_admin_password(pw)
    print("Admin password set (HTTP Basic, user 'admin')", file=sys.stderr)
    return EXIT_OK


def cmd_controller_admin_token(args: argparse.Namespace) -> int:
    token = _runtime(args).create_token("admin_token", args.name or "")
    print(token)
    print("Admin API token created; it is shown only once: send it as 'Authorization: Bearer <token>'", file=sys.stderr)
    return EXIT_OK


def cmd_controller_join_token(args: argparse.Namespace) -> int:
    token = _runtime(args).create_token("join_token", args.name or "")
    print(token)
    print("Join token created (shown only once); agents and remote clusters use it: 'licensor agent run --token …'", file=sys.stderr)
    return EXIT_OK


def cmd_controller_credentials(args: argparse.Namespace) -> int:
    ctl = _runtime(args)
    if args.revoke is not None:
        ctl.revoke(args.revoke)
        print(f"credential {args.revoke} revoked", file=sys.stderr)
    items = ctl.list_credentials()
    if args.json:
        print(json.dumps(items, indent=2))
    else:
        for it in items:
            print(f"{it['id']:>4} {it['kind']:<15} {it['name']:<20} {it['created_at']}  {'revoked' if it['revoked'] else 'active'}")
    return EXIT_OK


def register(group: Any, add: AddCommand) -> None:
    add = with_database_url(
        add, "postgresql://… to share state between replicas (default: $LICENSOR_DATABASE_URL or SQLite in the data dir)"
    )
    sp = add(group, "init", cmd_controller_init, "create this installation's identity and trust a vendor key set")
    sp.add_argument("--trust", required=True, metavar="PUBLIC_KEY_FILE")
    sp.add_argument("--product", default="demo", help="the product name licenses must carry (default: demo)")
    sp.add_argument("--cluster-name", help="a name that helps the vendor tell your clusters apart")
    sp = add(group, "trust", cmd_controller_trust, "replace the trusted vendor key set (after a key rotation)")
    sp.add_argument("file", metavar="PUBLIC_KEY_FILE")
    sp = add(group, "request", cmd_controller_request, "make a request code to send to the vendor")
    sp.add_argument("--name", required=True)
    sp.add_argument("--email", required=True)
    sp.add_argument("--company", required=True)
    sp.add_argument("--nodes", type=count, required=True)
    sp.add_argument("--months", type=count, required=True)
    sp.add_argument("--remote-clusters", type=count, default=0)
    sp.add_argument("--out", help="write the request file here (the code is printed too)")
    sp = add(group, "activate", cmd_controller_activate, "verify and apply a license key or file")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--yes", action="store_true", help="apply a key that takes something away without asking (for scripts)")
    sp = add(group, "status", cmd_controller_status, "show the license state (exit 1 when not valid)")
    sp.add_argument("--json", action="store_true")
    sp = add(group, "history", cmd_controller_history, "list every key activated here")
    sp.add_argument("--json", action="store_true")
    sp = add(group, "serve", cmd_controller_serve, "run the controller service (REST API, agents join here)")
    sp.add_argument("--host", default="127.0.0.1")
    sp.add_argument("--port", type=int, default=8800)
    sp.add_argument("--workers", type=int, default=1, help="worker processes (seat admission stays exact across them)")
    sp.add_argument("--heartbeat-ttl", type=float, default=60.0, help="seconds of silence after which a node loses its seat")
    sp.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    sp = add(group, "db", cmd_controller_db_upgrade, "database schema: 'db upgrade' (migrate) or 'db current'")
    sp.add_argument("action", choices=("upgrade", "current"))
    sp.set_defaults(func=lambda a: cmd_controller_db_current(a) if a.action == "current" else cmd_controller_db_upgrade(a))
    sp = add(group, "audit", cmd_controller_audit_verify, "the audit log: 'audit verify' (check the hash chain) or 'audit list'")
    sp.add_argument("action", choices=("verify", "list"))
    sp.add_argument("--limit", type=int, default=50)
    sp.add_argument("--event")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(func=lambda a: cmd_controller_audit_list(a) if a.action == "list" else cmd_controller_audit_verify(a))
    sp = add(group, "clock", cmd_controller_clock, "trusted time: 'clock show', or 'clock acknowledge' when the clock is right")
    sp.add_argument("action", choices=("show", "acknowledge"))
    sp.add_argument("--json", action="store_true")
    sp = add(group, "usage-report", cmd_controller_usage_report, "a month's peak nodes and clusters, signed, for the vendor")
    sp.add_argument("--month", required=True, metavar="YYYY-MM")
    sp.add_argument("--out", help="write the report here instead of stdout")
    sp = add(group, "admin", cmd_controller_admin_token, "admin credentials: 'admin set-password' or 'admin token'")
    sp.add_argument("action", choices=("set-password", "token"))
    sp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    sp.add_argument("--name", help="what the token is for (shown in 'credentials')")
    sp.set_defaults(func=lambda a: cmd_controller_admin_password(a) if a.action == "set-password" else cmd_controller_admin_token(a))
    sp = add(group, "join-token", cmd_controller_join_token, "create a join token for agents and remote clusters (printed once)")
    sp.add_argument("--name")
    sp = add(group, "credentials", cmd_controller_credentials, "list admin tokens, join tokens and the password; --revoke ID")
    sp.add_argument("--revoke", type=int, metavar="ID")
    sp.add_argument("--json", action="store_true")
