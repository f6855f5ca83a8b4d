"""``licensor vendor …`` commands: they parse and render; the issuer service does the work.

State lives in the issuer database: SQLite at ``<data-dir>/vendor/issuer.db``
unless ``--database-url`` (or ``$LICENSOR_VENDOR_DATABASE_URL``) names another.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..cmdline import (
    EXIT_OK,
    EXIT_REFUSED,
    AddCommand,
    count,
    data_dir,
    date,
    new_password,
    os_user,
    read_input,
    serve,
    with_database_url,
    write_out,
)


def _actor() -> str:
    return "cli:" + os_user()


def _settings(args: argparse.Namespace) -> Any:
    from .settings import load_settings

    return load_settings(data_dir(args, "vendor"), getattr(args, "database_url", None))


def _store(args: argparse.Namespace) -> Any:
    from .store import Store

    return Store(_settings(args).database_url)


def _service(args: argparse.Namespace, *, check: bool = True) -> Any:
    from .migrate import require_head
    from .service import IssuerService

    store = _store(args)
    if check:
        require_head(store)
    return IssuerService(store)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def _features(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--feature`` given (repeatable), else None: the default applies."""
    return tuple(args.feature) if args.feature else None


def _terms(args: argparse.Namespace) -> dict[str, Any]:
    """The options ``terms()`` adds (in ``register``), as the service's keyword arguments."""
    return {
        "months": args.months,
        "expires": args.expires,
        "maintenance_until": args.maintenance_until,
        "remote_clusters": args.remote_clusters,
        "features": _features(args),
    }


def _issued_out(args: argparse.Namespace, issued: Any) -> None:
    lic = issued.license
    write_out(args.out, issued.file)
    extra = f", superseding {issued.supersedes}" if issued.supersedes else ""
    print(f"issued license {lic.license_id} (serial {lic.serial}) for installation {lic.installation_id}{extra}", file=sys.stderr)


# -- the original commands (same options, outputs and exit codes) --------------


def cmd_vendor_init(args: argparse.Namespace) -> int:
    from ..signing import VendorKey
    from .migrate import upgrade

    store = _store(args)
    upgrade(store)
    svc = _service(args)
    legacy = data_dir(args, "vendor") / "signing-key"
    # A vendor key made by an older licensor (a file) is adopted, not replaced: its keys are in the field.
    key = VendorKey.from_paserk(legacy.read_text()) if legacy.exists() else None
    kid = svc.keys.init(_actor(), key=key)
    print(f"vendor signing key {'adopted from ' + str(legacy) if key else 'created'}: {kid}")
    print("give your products the public key set from 'licensor vendor public-key'")
    return EXIT_OK


def cmd_vendor_public_key(args: argparse.Namespace) -> int:
    write_out(args.out, _service(args).keys.public_set().to_text())
    return EXIT_OK


def cmd_vendor_inspect_request(args: argparse.Namespace) -> int:
    from ..request import decode_request

    req = decode_request(read_input(args.file))
    summary = req.summary()
    if args.json:
        _print_json(summary)
        return EXIT_OK
    c = summary["contact"]
    print(f"installation   {summary['installation_id']}")
    print(f"product        {summary['product']} {summary['version']}")
    print(f"contact        {c['name']} <{c['email']}>, {c['company']}")
    print(f"asks for       {summary['nodes']} nodes, {summary['months']} months, {summary['remote_clusters']} remote clusters")
    if summary["cluster_name"]:
        print(f"cluster name   {summary['cluster_name']}")
    print(f"made at        {summary['created_at']}")
    print("factors        " + ", ".join(f"{k}={v}" for k, v in summary["factors"].items()))
    print("signature      valid (made by this installation's key)")
    return EXIT_OK


def cmd_vendor_issue(args: argparse.Namespace) -> int:
    issued = _service(args).licenses.issue(
        read_input(args.file),
        actor=_actor(),
        plan=args.plan,
        type=args.type,
        nodes=args.nodes,
        customer=args.customer,
        grace_days=args.grace_days,
        **_terms(args),
    )
    _issued_out(args, issued)
    return EXIT_OK


# -- service, database ----------------------------------------------------------


def cmd_vendor_db_upgrade(args: argparse.Namespace) -> int:
    from .migrate import upgrade

    before, after = upgrade(_store(args))
    print(f"issuer database at schema revision {after}" + (f" (was {before or 'empty'})" if before != after else " (already current)"))
    return EXIT_OK


def cmd_vendor_db_current(args: argparse.Namespace) -> int:
    from .migrate import current, head

    cur = current(_store(args))
    print(f"current {cur or '(empty)'}, head {head()}")
    return EXIT_OK if cur == head() else EXIT_REFUSED


def cmd_vendor_serve(args: argparse.Namespace) -> int:
    from .migrate import require_head

    settings = _settings(args)
    from .store import Store

    require_head(Store(settings.database_url))
    # Workers are separate processes: they read the same settings from the environment.
    os.environ["LICENSOR_VENDOR_DATABASE_URL"] = settings.database_url
    os.environ["LICENSOR_DATA_DIR"] = str(Path(data_dir(args, "vendor")).parent)
    print(f"licensor issuer on http://{args.host}:{args.port} (database {settings.database_url.split('@')[-1]})", file=sys.stderr)
    serve("licensor.issuer.app:create_app_from_env", args, proxy_headers=args.proxy_headers, forwarded_allow_ips=args.forwarded_allow_ips)
    return EXIT_OK


# -- licenses ---------------------------------------------------------------------


def cmd_vendor_renew(args: argparse.Namespace) -> int:
    issued = _service(args).licenses.renew(args.license_id, actor=_actor(), nodes=args.nodes, grace_days=args.grace_days, **_terms(args))
    _issued_out(args, issued)
    return EXIT_OK


def cmd_vendor_rehost(args: argparse.Namespace) -> int:
    issued = _service(args).licenses.rehost(
        args.license_id,
        read_input(args.file),
        actor=_actor(),
        nodes=args.nodes,
        expires=args.expires,
        maintenance_until=args.maintenance_until,
        remote_clusters=args.remote_clusters,
        features=_features(args),
    )
    _issued_out(args, issued)
    return EXIT_OK


def cmd_vendor_list(args: argparse.Namespace) -> int:
    rows = _service(args).licenses.search(args.query, installation_id=args.installation, customer=args.customer, limit=args.limit)
    if args.json:
        _print_json(rows)
        return EXIT_OK
    for r in rows:
        state = f"superseded by {r['superseded_by'][:8]}" if r["superseded_by"] else "current"
        print(
            f"{r['license_id']}  {r['installation_id']}  serial {r['serial']:<3} {r['kind']:<7} {r['type']:<12} "
            f"{r['nodes']:>5} nodes  expires {r['expires'] or 'never':<20}  {r['customer']}  ({state})"
        )
    return EXIT_OK


def cmd_vendor_show(args: argparse.Namespace) -> int:
    _print_json(_service(args).licenses.get(args.license_id))
    return EXIT_OK


def cmd_vendor_download(args: argparse.Namespace) -> int:
    write_out(args.out, _service(args).licenses.issued(args.license_id).file)
    return EXIT_OK


def cmd_vendor_send(args: argparse.Namespace) -> int:
    from .mail import license_message, send

    svc = _service(args)
    issued = svc.licenses.issued(args.license_id)
    to = args.to or svc.licenses.contact_email(args.license_id)
    smtp = _settings(args).smtp
    send(smtp, license_message(issued, sender=smtp.sender, to=to))
    svc.licenses.record_sent(args.license_id, to, _actor())
    print(f"sent license {args.license_id} to {to}")
    return EXIT_OK


# -- keys --------------------------------------------------------------------------


def cmd_vendor_keys(args: argparse.Namespace) -> int:
    keys = _service(args).keys.list()
    if args.json:
        _print_json(keys)
    else:
        for k in keys:
            print(f"{k['state']:<8} {k['kid']}  created {k['created_at']}")
    return EXIT_OK


def cmd_vendor_rotate_key(args: argparse.Namespace) -> int:
    out = _service(args).keys.rotate(_actor())
    print(f"new active signing key: {out['active']}")
    for kid in out["retired"]:
        print(f"retired (still published): {kid}")
    print("publish the new set from 'licensor vendor public-key' to your products before they need keys signed by it")
    return EXIT_OK


def cmd_vendor_remove_key(args: argparse.Namespace) -> int:
    _service(args).keys.remove(args.kid, _actor())
    print(f"removed {args.kid}: it is no longer in the public key set; keys it signed become 'unknown_key' where the new set is trusted")
    return EXIT_OK


# -- catalogue ---------------------------------------------------------------------


def cmd_vendor_plans(args: argparse.Namespace) -> int:
    _print_json(_service(args).catalog.plans())
    return EXIT_OK


def cmd_vendor_plan_set(args: argparse.Namespace) -> int:
    plan = _service(args).catalog.set_plan(
        args.name,
        actor=_actor(),
        type=args.type,
        months=args.months,
        maintenance_months=args.maintenance_months,
        nodes=args.nodes,
        features=args.feature or (),
        grace_days=args.grace_days,
    )
    _print_json(plan)
    return EXIT_OK


def cmd_vendor_product_set(args: argparse.Namespace) -> int:
    _print_json(_service(args).catalog.set_product(args.name, args.feature or (), actor=_actor()))
    return EXIT_OK


# -- usage, audit --------------------------------------------------------------------


def cmd_vendor_import_usage(args: argparse.Namespace) -> int:
    out = _service(args).usage.import_report(read_input(args.file), actor=_actor())
    if args.json:
        _print_json(out)
        return EXIT_OK
    lic = out["license"]
    print(f"installation   {out['installation_id']}  month {out['month']}" + ("  (imported before)" if out["already_imported"] else ""))
    print(f"peak use       {out['peak_nodes']} nodes, {out['peak_clusters']} remote clusters")
    if lic:
        print(
            f"license        {lic['license_id']} (serial {lic['serial']}): {lic['nodes']} nodes, {lic['remote_clusters']} remote clusters"
        )
        o = out["overage"]
        print(f"overage        {o['nodes']} nodes, {o['clusters']} remote clusters" if out["over"] else "overage        none")
    return EXIT_OK


def cmd_vendor_audit(args: argparse.Namespace) -> int:
    rows = _service(args).accounts.audit_log(args.limit, args.action)
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(f"{r['at']}  {r['actor']:<24} {r['action']:<18} {r['target']}")
    return EXIT_OK


# -- admin users and API tokens ------------------------------------------------------


def cmd_vendor_create_user(args: argparse.Namespace) -> int:
    password = new_password(f"password for {args.username}: ", from_stdin=args.password_stdin)
    _service(args).accounts.create_user(args.username, password, actor=_actor())
    print(f"admin user {args.username} created")
    return EXIT_OK


def cmd_vendor_users(args: argparse.Namespace) -> int:
    _print_json(_service(args).accounts.users())
    return EXIT_OK


def cmd_vendor_token_create(args: argparse.Namespace) -> int:
    token = _service(args).accounts.create_token(args.name, args.scope, actor=_actor())
    print(token)
    print("keep this token now: only its hash is stored", file=sys.stderr)
    return EXIT_OK


def cmd_vendor_token_list(args: argparse.Namespace) -> int:
    _print_json(_service(args).accounts.tokens())
    return EXIT_OK


def cmd_vendor_token_revoke(args: argparse.Namespace) -> int:
    _service(args).accounts.revoke_token(args.id, actor=_actor())
    print(f"API token {args.id} revoked")
    return EXIT_OK


def register(group: Any, add: AddCommand) -> None:
    from .accounts.service import SCOPES

    cmd = with_database_url(add, "postgresql://… (default: $LICENSOR_VENDOR_DATABASE_URL or SQLite in the data dir)")

    def terms(sp: argparse.ArgumentParser) -> None:
        when = sp.add_mutually_exclusive_group()
        when.add_argument("--months", type=count, help="term length (perpetual: maintenance length)")
        when.add_argument("--expires", type=date, help="subscription end, YYYY-MM-DD (UTC)")
        sp.add_argument("--maintenance-until", type=date, help="maintenance end, YYYY-MM-DD (UTC)")
        sp.add_argument("--remote-clusters", type=count)
        sp.add_argument("--feature", action="append", help="a paid feature; repeat for several")

    cmd(group, "init", cmd_vendor_init, "create the issuer database and the vendor signing key")
    sp = cmd(group, "public-key", cmd_vendor_public_key, "print the public key set products must trust")
    sp.add_argument("--out", help="write to this file instead of stdout")
    sp = cmd(group, "inspect-request", cmd_vendor_inspect_request, "check and show a request code")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--json", action="store_true")
    sp = cmd(group, "issue", cmd_vendor_issue, "issue a license key for a request code")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--nodes", type=count, required=True)
    sp.add_argument("--type", choices=("perpetual", "subscription"), required=True)
    sp.add_argument("--plan", help="take defaults from this plan (default: the plan named like --type)")
    terms(sp)
    sp.add_argument("--customer", help="default: the company in the request")
    sp.add_argument("--grace-days", type=count, help="days after expiry that connected nodes keep their seats")
    sp.add_argument("--out", help="write the license file here instead of stdout")

    sp = cmd(group, "renew", cmd_vendor_renew, "renew a license: same installation, next serial, term extended")
    sp.add_argument("license_id")
    terms(sp)
    sp.add_argument("--nodes", type=count)
    sp.add_argument("--grace-days", type=count)
    sp.add_argument("--out", help="write the license file here instead of stdout")
    sp = cmd(group, "rehost", cmd_vendor_rehost, "move a license to a new installation (its request code); the old key is superseded")
    sp.add_argument("license_id")
    sp.add_argument("file", metavar="REQUEST_FILE|-")
    sp.add_argument("--nodes", type=count)
    sp.add_argument("--expires", type=date)
    sp.add_argument("--maintenance-until", type=date)
    sp.add_argument("--remote-clusters", type=count)
    sp.add_argument("--feature", action="append")
    sp.add_argument("--out", help="write the license file here instead of stdout")
    sp = cmd(group, "list", cmd_vendor_list, "list and search issued licenses, newest first")
    sp.add_argument("query", nargs="?", help="matches license id, customer, installation or product")
    sp.add_argument("--installation")
    sp.add_argument("--customer")
    sp.add_argument("--limit", type=count, default=100)
    sp.add_argument("--json", action="store_true")
    sp = cmd(group, "show", cmd_vendor_show, "show one issued license (JSON)")
    sp.add_argument("license_id")
    sp = cmd(group, "download", cmd_vendor_download, "write an issued license's file again")
    sp.add_argument("license_id")
    sp.add_argument("--out")
    sp = cmd(group, "send", cmd_vendor_send, "e-mail a license file (SMTP settings in issuer.toml or LICENSOR_SMTP_*)")
    sp.add_argument("license_id")
    sp.add_argument("--to", help="default: the contact e-mail of the request code")

    sp = cmd(group, "keys", cmd_vendor_keys, "list signing keys (active, retired, removed)")
    sp.add_argument("--json", action="store_true")
    cmd(group, "rotate-key", cmd_vendor_rotate_key, "make a new active signing key; the old one is retired but still published")
    sp = cmd(group, "remove-key", cmd_vendor_remove_key, "drop a retired key from the public key set and wipe its secret")
    sp.add_argument("kid", metavar="KID")

    cmd(group, "plans", cmd_vendor_plans, "list plans (defaults for issuing)")
    sp = cmd(group, "plan-set", cmd_vendor_plan_set, "create or change a plan")
    sp.add_argument("name")
    sp.add_argument("--type", choices=("perpetual", "subscription"), required=True)
    sp.add_argument("--months", type=count, help="subscription term")
    sp.add_argument("--maintenance-months", type=count, help="perpetual maintenance term")
    sp.add_argument("--nodes", type=count, help="nodes when the request asks none")
    sp.add_argument("--feature", action="append")
    sp.add_argument("--grace-days", type=count, default=0)
    sp = cmd(group, "product-set", cmd_vendor_product_set, "create a product or set its feature catalogue")
    sp.add_argument("name")
    sp.add_argument("--feature", action="append")

    sp = cmd(group, "import-usage", cmd_vendor_import_usage, "verify a controller's usage report and show peak use against the license")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--json", action="store_true")
    sp = cmd(group, "audit", cmd_vendor_audit, "show the audit log, newest first")
    sp.add_argument("--limit", type=count, default=50)
    sp.add_argument("--action", help="only actions starting with this, e.g. license. or login")
    sp.add_argument("--json", action="store_true")

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

    adm = group.add_parser("admin", help="admin users of the issuer").add_subparsers(dest="admin_cmd", required=True)
    sp = cmd(adm, "create-user", cmd_vendor_create_user, "create an admin user (argon2 password hash)")
    sp.add_argument("username")
    sp.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    cmd(adm, "users", cmd_vendor_users, "list admin users")

    tok = group.add_parser("token", help="API tokens").add_subparsers(dest="token_cmd", required=True)
    sp = cmd(tok, "create", cmd_vendor_token_create, "create an API token (printed once; stored hashed)")
    sp.add_argument("--name", required=True)
    sp.add_argument("--scope", action="append", required=True, choices=SCOPES)
    cmd(tok, "list", cmd_vendor_token_list, "list API tokens")
    sp = cmd(tok, "revoke", cmd_vendor_token_revoke, "revoke an API token")
    sp.add_argument("id", type=int)
