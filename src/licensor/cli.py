"""The ``licensor`` command: ``vendor …``, ``controller …``, ``agent …``, ``demo``.

This module owns the parser and ``main``; the areas' commands register themselves
(``licensor.cmdline`` holds what they share).  Any ``LicensorError`` is printed as
``licensor: <code>: <hint>`` and ends the command with its ``exit_code``: 0 done; 1 refused;
2 bad usage or malformed input; 141 the reader of the output went away (``licensor … | head``:
quietly, as a command killed by SIGPIPE would).  The command parses and renders only: the
work is done by the services.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from .cmdline import AddCommand
from .errors import EXIT_PIPE, LicensorError, UsageError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args, main)


# -- parser -----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops write errors, so --help into a closed pipe would "succeed"; main() handles them.
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser(argv: Sequence[str] | None = ()) -> argparse.ArgumentParser:
    """The parser; with ``argv`` naming an area only that area's commands are registered (``()``: every area)."""
    common = _Parser(add_help=False)
    common.add_argument("--data-dir", help="where state lives (default $LICENSOR_DATA_DIR or ./.licensor)")

    p = _Parser(prog="licensor", description="Offline license keys for self-hosted software.")
    sub = p.add_subparsers(dest="area", required=True, parser_class=_Parser)

    def add(group: Any, name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    # Only the area named on the command line registers its commands: the others' modules (and the web framework,
    # the ORM, the HTTP client they import) stay unloaded, so a command starts as fast as its own work allows.
    wanted = _area(argv)
    for area, help_text in AREAS.items():
        if area != "demo" and wanted in (None, area):
            group = sub.add_parser(area, help=help_text).add_subparsers(dest="cmd", required=True)
            _registrar(area)(group, add)
        elif area != "demo":
            sub.add_parser(area, help=help_text)

    sp = sub.add_parser("demo", help=AREAS["demo"])
    if wanted in (None, "demo"):
        from .demo import add_arguments as demo_arguments

        demo_arguments(sp)
    sp.set_defaults(func=cmd_demo)
    return p


#: The command's areas, in the order ``--help`` lists them.
AREAS = {
    "vendor": "the vendor side: signing keys and license keys",
    "controller": "the customer side: installation, requests, activation",
    "agent": "the node side: hold a seat at a controller, or simulate many agents",
    "demo": "both web consoles and simulated agents on SQLite until Ctrl-C (--narrated: the CLI round trip)",
}


def _area(argv: Sequence[str] | None) -> str | None:
    """The area the command line names (its first word), or None (``--help``, a typo): then every area registers."""
    words = sys.argv[1:] if argv is None else argv
    return words[0] if words and words[0] in AREAS else None


def _registrar(area: str) -> Callable[[Any, AddCommand], None]:
    if area == "vendor":
        from .issuer.cli import register as vendor

        return vendor
    if area == "controller":
        from .controller.cli import register as controller

        return controller
    from .agent.cli import register as agent

    return agent


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(argv)
        finally:
            # Output still buffered would otherwise meet a closed pipe at interpreter exit,
            # where the error can only be printed, never caught.
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more can be said to it.  Point stdout at
        # /dev/null so the interpreter's own final flush does not fail again, and stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_PIPE


def _run(argv: Sequence[str] | None) -> int:
    try:
        args = build_parser(argv).parse_args(argv)
        return int(args.func(args))
    except LicensorError as e:
        print(f"licensor: {e.code}: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
