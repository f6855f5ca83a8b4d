"""``licensor vendor inspect-request``, ``issue``, ``renew``, ``rehost``, ``list``, ``show``, ``download``, ``send``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...cmdline import EXIT_OK, AddCommand, count, date, read_input, write_out
from ...words import plural
from .common import actor, add_terms, issued_out, issuer_service, issuer_settings, overrides, print_json, print_rows


def cmd_vendor_inspect_request(args: argparse.Namespace) -> int:
    from ...request import decode_request

    req = decode_request(read_input(args.file))
    summary = req.summary()
    if args.json:
        print_json(summary)
        return EXIT_OK
    who = summary["contact"]
    print(f"installation   {summary['installation_id']}")
    print(f"product        {summary['product']} {summary['version']}")
    print(f"contact        {who['name']} <{who['email']}>, {who['company']}")
    asked = [plural(summary["nodes"], "node"), plural(summary["months"], "month"), plural(summary["remote_clusters"], "remote cluster")]
    print(f"asks for       {', '.join(asked)}")
    if summary["cluster_name"]:
        print(f"cluster name   {summary['cluster_name']}")
    print(f"made at        {summary['created_at']}")
    print("factors        " + ", ".join(f"{k}={v}" for k, v in summary["factors"].items()))
    print("signature      valid (made by this installation's key)")
    return EXIT_OK


def cmd_vendor_issue(args: argparse.Namespace) -> int:
    svc = issuer_service(args).licenses
    issued = svc.issue(
        read_input(args.file),
        actor=actor(),
        plan=args.plan,
        customer=args.customer,
        terms=overrides(args),
        allow_unknown_features=args.allow_unknown_features,
    )
    issued_out(args, issued)
    return EXIT_OK


def cmd_vendor_renew(args: argparse.Namespace) -> int:
    issued_out(args, issuer_service(args).licenses.renew(args.license_id, actor=actor(), terms=overrides(args)))
    return EXIT_OK


def cmd_vendor_rehost(args: argparse.Namespace) -> int:
    svc = issuer_service(args).licenses
    issued_out(args, svc.rehost(args.license_id, read_input(args.file), actor=actor(), terms=overrides(args)))
    return EXIT_OK


def cmd_vendor_list(args: argparse.Namespace) -> int:
    from ..licenses.export import csv_text
    from ..licenses.listing import Filters

    f = Filters(
        q=args.query or "",
        state=args.state,
        type=args.type,
        product=args.product,
        customer=args.customer,
        installation_id=args.installation,
        due_days=args.due,
        order="expiry" if args.due else "newest",
    )
    listing = issuer_service(args).listing
    if args.csv:
        sys.stdout.write(csv_text(listing.export(f)))
        return EXIT_OK
    print_rows(args, listing.search(f, limit=args.limit)[0], _license_line)
    return EXIT_OK


def _license_line(r: dict[str, Any]) -> str:
    state = f"superseded by {r['superseded_by'][:8]}" if r["superseded_by"] else r["state"]
    return (
        f"{r['license_id']}  {r['installation_id']}  serial {r['serial']:<3} {r['kind']:<7} {r['type']:<12} "
        f"{r['nodes']:>5} nodes  expires {r['expires'] or 'never':<20}  {r['customer']}  ({state})"
    )


def cmd_vendor_show(args: argparse.Namespace) -> int:
    print_json(issuer_service(args).licenses.get(args.license_id))
    return EXIT_OK


def cmd_vendor_download(args: argparse.Namespace) -> int:
    write_out(args.out, issuer_service(args).licenses.issued(args.license_id).file)
    return EXIT_OK


def cmd_vendor_send(args: argparse.Namespace) -> int:
    from ..mail import license_message, send

    svc = issuer_service(args)
    issued = svc.licenses.issued(args.license_id)
    to = args.to or svc.licenses.contact_email(args.license_id)
    smtp = issuer_settings(args).smtp
    send(smtp, license_message(issued, sender=smtp.sender, to=to))
    svc.licenses.record_sent(args.license_id, to, actor())
    print(f"Sent license {args.license_id} to {to}")
    return EXIT_OK


def register(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "inspect-request", cmd_vendor_inspect_request, "check and show a request code")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--json", action="store_true")
    sp = cmd(group, "issue", cmd_vendor_issue, "issue a license key for a request code")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--nodes", type=count, required=True)
    sp.add_argument("--type", choices=("perpetual", "subscription"), required=True)
    sp.add_argument("--plan", help="take defaults from this plan (default: the plan named like --type)")
    add_terms(sp)
    sp.add_argument("--customer", help="default: the company in the request")
    sp.add_argument("--grace-days", type=count, help="days after expiry that connected nodes keep their seats")
    sp.add_argument("--allow-unknown-features", action="store_true", help="issue features outside the product's catalogue")
    sp.add_argument("--out", help="write the license file here instead of stdout")
    _register_successors(group, cmd)
    _register_list(group, cmd)
    sp = cmd(group, "show", cmd_vendor_show, "show one issued license (JSON)")
    sp.add_argument("license_id")
    sp = cmd(group, "download", cmd_vendor_download, "write an issued license's file again")
    sp.add_argument("license_id")
    sp.add_argument("--out")
    sp = cmd(group, "send", cmd_vendor_send, "e-mail a license file (SMTP settings in issuer.toml or LICENSOR_SMTP_*)")
    sp.add_argument("license_id")
    sp.add_argument("--to", help="default: the contact e-mail of the request code")


def _register_list(group: Any, cmd: AddCommand) -> None:
    from ...due import STATES

    sp = cmd(group, "list", cmd_vendor_list, "list, search and filter issued licenses, newest first")
    sp.add_argument("query", nargs="?", help="matches license id, customer, installation, cluster name or product")
    sp.add_argument("--installation")
    sp.add_argument("--customer", help="the customer's exact name")
    sp.add_argument("--state", choices=STATES, help="the license's state now")
    sp.add_argument("--type", choices=("subscription", "perpetual"))
    sp.add_argument("--product")
    sp.add_argument("--due", type=count, metavar="DAYS", help="renewals due: live keys expiring within DAYS days, soonest first")
    sp.add_argument("--limit", type=count, default=100)
    out = sp.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("--csv", action="store_true", help="every match (not --limit) as CSV")


def _register_successors(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "renew", cmd_vendor_renew, "renew a license: same installation, next serial, term extended")
    sp.add_argument("license_id")
    add_terms(sp)
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
