"""``licensor vendor audit``, ``admin …``, ``token …``: who may act, and what they did."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ...cmdline import EXIT_OK, AddCommand, count, new_password
from .common import actor, issuer_service, print_json, print_rows


def cmd_vendor_audit(args: argparse.Namespace) -> int:
    rows = issuer_service(args).accounts.audit_log(args.limit, args.action)
    print_rows(args, rows, lambda r: f"{r['at']}  {r['actor']:<24} {r['action']:<18} {r['target']}")
    return EXIT_OK


def cmd_vendor_create_user(args: argparse.Namespace) -> int:
    password = new_password(f"password for {args.username}: ", from_stdin=args.password_stdin)
    issuer_service(args).accounts.create_user(args.username, password, actor=actor())
    print(f"Admin user {args.username} created")
    return EXIT_OK


def cmd_vendor_users(args: argparse.Namespace) -> int:
    print_json(issuer_service(args).accounts.users())
    return EXIT_OK


def cmd_vendor_token_create(args: argparse.Namespace) -> int:
    token = issuer_service(args).accounts.create_token(args.name, args.scope, actor=actor())
    print(token)
    print("Keep this token now: only its hash is stored", file=sys.stderr)
    return EXIT_OK


def cmd_vendor_token_list(args: argparse.Namespace) -> int:
    print_json(issuer_service(args).accounts.tokens())
    return EXIT_OK


def cmd_vendor_token_revoke(args: argparse.Namespace) -> int:
    issuer_service(args).accounts.revoke_token(args.id, actor=actor())
    print(f"API token {args.id} revoked")
    return EXIT_OK


def register_audit(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "audit", cmd_vendor_audit, "show the audit log, newest first")
    sp.add_argument("--limit", type=count, default=50)
    sp.add_argument("--action", help="only actions starting with this, e.g. license. or login")
    sp.add_argument("--json", action="store_true")


def register(group: Any, cmd: AddCommand) -> None:
    from ..accounts.service import SCOPES

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
