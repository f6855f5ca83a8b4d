"""``licensor vendor import-usage``: a controller's usage report against its license."""

from __future__ import annotations

import argparse
from typing import Any

from ...cmdline import EXIT_OK, AddCommand, read_input
from ...words import plural
from .common import actor, issuer_service, print_json


def cmd_vendor_import_usage(args: argparse.Namespace) -> int:
    out = issuer_service(args).usage.import_report(read_input(args.file), actor=actor())
    if args.json:
        print_json(out)
        return EXIT_OK
    lic = out["license"]
    print(f"installation   {out['installation_id']}  month {out['month']}" + ("  (imported before)" if out["already_imported"] else ""))
    print(f"peak use       {plural(out['peak_nodes'], 'node')}, {plural(out['peak_clusters'], 'remote cluster')}")
    if lic:
        limits = f"{plural(lic['nodes'], 'node')}, {plural(lic['remote_clusters'], 'remote cluster')}"
        print(f"license        {lic['license_id']} (serial {lic['serial']}): {limits}")
        o = out["overage"]
        print(
            f"overage        {plural(o['nodes'], 'node')}, {plural(o['clusters'], 'remote cluster')}"
            if out["over"]
            else "overage        none"
        )
    return EXIT_OK


def register(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "import-usage", cmd_vendor_import_usage, "verify a controller's usage report and show peak use against the license")
    sp.add_argument("file", metavar="FILE|-")
    sp.add_argument("--json", action="store_true")
