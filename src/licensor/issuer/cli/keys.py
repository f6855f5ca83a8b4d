"""``licensor vendor init``, ``public-key``, ``keys``, ``rotate-key``, ``remove-key``: the signing keys."""

from __future__ import annotations

import argparse
from typing import Any

from ...cmdline import EXIT_OK, AddCommand, data_dir, write_out
from .common import actor, issuer_service, issuer_store, print_rows


def cmd_vendor_init(args: argparse.Namespace) -> int:
    from ...signing import VendorKey
    from ..migrate import upgrade

    store = issuer_store(args)
    upgrade(store)
    svc = issuer_service(args)
    legacy = data_dir(args, "vendor") / "signing-key"
    # A vendor key made by an older licensor (a file) is adopted, not replaced: its keys are in the field.
    key = VendorKey.from_paserk(legacy.read_text()) if legacy.exists() else None
    kid = svc.keys.init(actor(), key=key)
    print(f"Vendor signing key {'adopted from ' + str(legacy) if key else 'created'}: {kid}")
    print("Give your products the public key set from 'licensor vendor public-key'")
    return EXIT_OK


def cmd_vendor_public_key(args: argparse.Namespace) -> int:
    write_out(args.out, issuer_service(args).keys.public_set().to_text())
    return EXIT_OK


def cmd_vendor_keys(args: argparse.Namespace) -> int:
    keys = issuer_service(args).keys.list()
    print_rows(args, keys, lambda k: f"{k['state']:<8} {k['kid']}  created {k['created_at']}")
    return EXIT_OK


def cmd_vendor_rotate_key(args: argparse.Namespace) -> int:
    out = issuer_service(args).keys.rotate(actor())
    print(f"New active signing key: {out['active']}")
    for kid in out["retired"]:
        print(f"Retired (still published): {kid}")
    print("Publish the new set from 'licensor vendor public-key' to your products before they need keys signed by it")
    return EXIT_OK


def cmd_vendor_remove_key(args: argparse.Namespace) -> int:
    issuer_service(args).keys.remove(args.kid, actor())
    print(f"Removed {args.kid}: it is no longer in the public key set; keys it signed become 'unknown_key' where the new set is trusted")
    return EXIT_OK


def register_setup(group: Any, cmd: AddCommand) -> None:
    cmd(group, "init", cmd_vendor_init, "create the issuer database and the vendor signing key")
    sp = cmd(group, "public-key", cmd_vendor_public_key, "print the public key set products must trust")
    sp.add_argument("--out", help="write to this file instead of stdout")


def register(group: Any, cmd: AddCommand) -> None:
    sp = cmd(group, "keys", cmd_vendor_keys, "list signing keys (active, retired, removed)")
    sp.add_argument("--json", action="store_true")
    cmd(group, "rotate-key", cmd_vendor_rotate_key, "make a new active signing key; the old one is retired but still published")
    sp = cmd(group, "remove-key", cmd_vendor_remove_key, "drop a retired key from the public key set and wipe its secret")
    sp.add_argument("kid", metavar="KID")
