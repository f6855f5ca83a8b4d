"""``licensor vendor plans``, ``plan-set``, ``product-set``: the catalogue."""

from __future__ import annotations

import argparse
from typing import Any

from ...cmdline import EXIT_OK, AddCommand, count
from ...terms import Plan
from .common import actor, issuer_service, print_json


def cmd_vendor_plans(args: argparse.Namespace) -> int:
    print_json(issuer_service(args).catalog.plans())
    return EXIT_OK


def cmd_vendor_plan_set(args: argparse.Namespace) -> int:
    features = tuple(args.feature or ())
    plan = Plan(args.name, args.type, args.months, args.maintenance_months, args.nodes, features, args.grace_days)
    print_json(issuer_service(args).catalog.set_plan(plan, actor=actor()))
    return EXIT_OK


def cmd_vendor_product_set(args: argparse.Namespace) -> int:
    print_json(issuer_service(args).catalog.set_product(args.name, args.feature or (), actor=actor()))
    return EXIT_OK


def register(group: Any, cmd: AddCommand) -> None:
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
