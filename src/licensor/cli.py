"""The ``licensor`` command: ``vendor …``, ``controller …``, ``demo``.

Exit codes: 0 done; 1 refused (the license problem: code and hint on stderr);
2 bad usage or malformed input; 141 the reader of the output went away
(``licensor … | head``: quietly, as a command killed by SIGPIPE would).  The command parses and renders only: the
work is done by the services.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .errors import LicensorError, MalformedError, UsageError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_PIPE = 0, 1, 2, 141

#: ``add(group, name, func, help) -> parser``: how area modules register their commands.
AddCommand = Callable[[Any, str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


class CliError(Exception):
    """An error with its exit code, printed as ``licensor: <code>: <hint>``."""

    def __init__(self, exit_code: int, code: str, hint: str):
        super().__init__(hint)
        self.exit_code, self.code, self.hint = exit_code, code, hint


def _exit_code(e: LicensorError) -> int:
    return EXIT_USAGE if isinstance(e, (MalformedError, UsageError)) else EXIT_REFUSED


def _now() -> datetime:
    return datetime.now(UTC)


def _read_input(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read(1024 * 1024)
    try:
        with open(path, "rb") as f:
            return f.read(1024 * 1024)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def _date(text: str) -> datetime:
    """``2027-06-30`` (start of that day, UTC) or a full ISO 8601 time with zone."""
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date: use YYYY-MM-DD") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _count(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is negative")
    return n


def _write_out(path: str | None, text: str) -> None:
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    Path(path).write_text(text)
    print(f"written to {path}", file=sys.stderr)


def _data_dir(args: argparse.Namespace, side: str) -> Path:
    return Path(args.data_dir or os.environ.get("LICENSOR_DATA_DIR") or ".licensor") / side


def _with_database_url(add: AddCommand, help: str) -> AddCommand:
    """``add`` that gives every command it makes a ``--database-url`` option."""

    def add_with_url(group: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = add(group, name, func, help_)
        sp.add_argument("--database-url", help=help)
        return sp

    return add_with_url


def _serve(app_factory: str, args: argparse.Namespace, **options: Any) -> None:
    """Run ``app_factory`` (``module:function``) under uvicorn on ``--host``, ``--port``, ``--workers``, ``--log-level``."""
    import uvicorn

    uvicorn.run(
        app_factory,
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        **options,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


# -- parser -----------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        # argparse drops write errors, so --help into a closed pipe would "succeed"; main() handles them.
        if message:
            (file or sys.stderr).write(message)

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise CliError(EXIT_USAGE, "usage", message)


def build_parser() -> argparse.ArgumentParser:
    common = _Parser(add_help=False)
    common.add_argument("--data-dir", help="where state lives (default $LICENSOR_DATA_DIR or ./.licensor)")

    p = _Parser(prog="licensor", description="Offline license keys for self-hosted software.")
    sub = p.add_subparsers(dest="area", required=True, parser_class=_Parser)

    def add(group: Any, name: str, func: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = group.add_parser(name, parents=[common], help=help, description=help)
        sp.set_defaults(func=func)
        return sp

    from .controller.cli import register as register_controller
    from .issuer.cli import register as register_vendor

    register_vendor(
        sub.add_parser("vendor", help="the vendor side: signing keys and license keys").add_subparsers(dest="cmd", required=True), add
    )
    register_controller(
        sub.add_parser("controller", help="the customer side: installation, requests, activation").add_subparsers(
            dest="cmd", required=True
        ),
        add,
    )

    from .agent.cli import register as register_agent

    register_agent(
        sub.add_parser("agent", help="the node side: hold a seat at a controller, or simulate many agents").add_subparsers(
            dest="cmd", required=True
        ),
        add,
    )

    from .demo import add_arguments as demo_arguments

    sp = sub.add_parser("demo", help="both web consoles and simulated agents on SQLite until Ctrl-C (--narrated: the CLI round trip)")
    demo_arguments(sp)
    sp.set_defaults(func=cmd_demo)
    return p


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
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except CliError as e:
        print(f"licensor: {e.code}: {e.hint}", file=sys.stderr)
        return e.exit_code
    except LicensorError as e:
        print(f"licensor: {e.code}: {e.hint}", file=sys.stderr)
        return _exit_code(e)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
