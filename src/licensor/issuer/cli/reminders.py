"""``licensor vendor remind`` and ``customer-reminders``: expiry reminders by e-mail, and a customer's opt-out."""

from __future__ import annotations

import argparse
from typing import Any

from ...cmdline import EXIT_OK, AddCommand
from ...reminders import MAX_WINDOW_DAYS
from ...words import plural
from .common import actor, issuer_service, issuer_settings, print_json


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WINDOW_DAYS:
        raise argparse.ArgumentTypeError(f"a whole number of days from 1 to {MAX_WINDOW_DAYS}")
    return int(text)


def _line(r: dict[str, Any]) -> str:
    return f"{r['license_id']}  expires {r['expires']} ({plural(r['days_left'], 'day')} left)  {r['customer']}  <{r['to']}>"


def cmd_vendor_remind(args: argparse.Namespace) -> int:
    settings = issuer_settings(args)
    days = args.days or settings.reminder_days
    out = issuer_service(args).reminders.send_due(settings.smtp, window_days=days, actor=actor(), dry_run=args.dry_run)
    if args.json:
        print_json(out.as_dict())
        return EXIT_OK
    if args.dry_run:
        print(f"{plural(len(out.due), 'reminder')} due (licenses expiring within {plural(days, 'day')}); nothing sent")
        for r in out.due:
            print("  would send  " + _line(r))
    else:
        print(f"{plural(len(out.sent), 'reminder')} sent, {len(out.failed)} failed (licenses expiring within {plural(days, 'day')})")
        for r in out.sent:
            print("  sent        " + _line(r))
        for r in out.failed:
            print("  failed      " + _line(r) + f": {r['error']}")
    for r in out.skipped:
        print(f"  skipped     {_line(r)}: {r['verdict']}")
    return EXIT_OK


def cmd_vendor_customer_reminders(args: argparse.Namespace) -> int:
    svc = issuer_service(args).customers
    found = [c for c in svc.customers() if c["name"] == args.customer or str(c["id"]) == args.customer]
    if not found:
        from ..ledger import not_found

        raise not_found(f"customer {args.customer}")
    c = svc.set_reminders(found[0]["id"], args.state == "on", actor=actor())
    print(f"expiry reminders for {c['name']}: {'on' if c['reminders'] else 'off'}")
    return EXIT_OK


def register(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "remind", cmd_vendor_remind, "e-mail expiry reminders due now (each license once; SMTP as for 'send')")
    sp.add_argument("--dry-run", action="store_true", help="list who would get a reminder; send and record nothing")
    sp.add_argument("--days", type=_days, help="licenses expiring within this many days (default: [reminders] days, 30)")
    sp.add_argument("--json", action="store_true")
    sp = cmd(group, "customer-reminders", cmd_vendor_customer_reminders, "turn a customer's expiry reminders on or off")
    sp.add_argument("customer", help="the customer's name or id")
    sp.add_argument("state", choices=("on", "off"))
