"""What the ``licensor vendor`` commands share: the service on the configured database, the actor, the output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from ...cmdline import count, data_dir, date, os_user, write_out
from ...terms import Overrides
from ..licenses.records import Issued
from ..service import IssuerService
from ..settings import IssuerSettings


def actor() -> str:
    return "cli:" + os_user()


def issuer_settings(args: argparse.Namespace) -> IssuerSettings:
    from ..settings import load_settings

    return load_settings(data_dir(args, "vendor"), getattr(args, "database_url", None))


def issuer_store(args: argparse.Namespace) -> Any:
    from ..store import Store

    return Store(issuer_settings(args).database_url)


def issuer_service(args: argparse.Namespace, *, check: bool = True) -> IssuerService:
    from ..migrate import require_head

    st = issuer_store(args)
    if check:
        require_head(st)
    return IssuerService(st)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]) -> None:
    """``rows`` as JSON with ``--json``, else one ``line(row)`` each."""
    if args.json:
        print_json(rows)
        return
    for r in rows:
        print(line(r))


def features(args: argparse.Namespace) -> tuple[str, ...] | None:
    """``--feature`` given (repeatable), else None: the default applies."""
    return tuple(args.feature) if args.feature else None


#: The options that set a license's terms, where a command has them (``--feature`` apart).
_TERMS = ("type", "nodes", "months", "expires", "maintenance_until", "remote_clusters", "grace_days")


def overrides(args: argparse.Namespace) -> Overrides:
    """The terms the command's options give (None: the default applies), as ``license_terms`` takes them."""
    given: dict[str, Any] = {name: getattr(args, name) for name in _TERMS if hasattr(args, name)}
    return Overrides(**given, features=features(args))


def add_terms(sp: argparse.ArgumentParser) -> None:
    """The term options of ``issue`` and ``renew``."""
    when = sp.add_mutually_exclusive_group()
    when.add_argument("--months", type=count, help="term length (perpetual: maintenance length)")
    when.add_argument("--expires", type=date, help="subscription end, YYYY-MM-DD (UTC)")
    sp.add_argument("--maintenance-until", type=date, help="maintenance end, YYYY-MM-DD (UTC)")
    sp.add_argument("--remote-clusters", type=count)
    sp.add_argument("--feature", action="append", help="a paid feature; repeat for several")


def issued_out(args: argparse.Namespace, issued: Issued) -> None:
    lic = issued.license
    write_out(args.out, issued.file)
    extra = f", superseding {issued.supersedes}" if issued.supersedes else ""
    print(f"Issued license {lic.license_id} (serial {lic.serial}) for installation {lic.installation_id}{extra}", file=sys.stderr)
