"""What every area's commands share: how they register, read input, parse options and write output.

The area modules (``issuer/cli.py``, ``controller/cli.py``, ``agent/cli.py``, ``demo.py``) import this
module; ``licensor.cli`` imports them and owns only the parser and ``main``: no area imports ``licensor.cli``.

One style for every command:

- ``register(group, add)`` adds the area's subcommands with ``add(group, name, func, help)``;
- ``func(args) -> int`` parses nothing itself: options are typed by argparse (``date``, ``count``),
  files are read with ``read_input``, output goes through ``write_out``;
- it calls one service function and returns ``EXIT_OK`` (or ``EXIT_REFUSED`` for a negative answer);
- a refusal is raised as a ``LicensorError``: ``licensor.cli.main`` prints ``licensor: <code>: <hint>``
  and exits with the error's ``exit_code``.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .clock import parse_day
from .errors import EXIT_OK, EXIT_PIPE, EXIT_REFUSED, EXIT_USAGE, UsageError

__all__ = [
    "EXIT_OK",
    "EXIT_PIPE",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "AddCommand",
    "count",
    "data_dir",
    "date",
    "new_password",
    "os_user",
    "read_input",
    "serve",
    "with_database_url",
    "write_out",
]

#: ``add(group, name, func, help) -> parser``: how area modules register their commands.
AddCommand = Callable[[Any, str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def read_input(path: str) -> bytes:
    """The bytes of file ``path`` (``-``: standard input), at most 1 MiB."""
    if path == "-":
        return sys.stdin.buffer.read(1024 * 1024)
    try:
        with open(path, "rb") as f:
            return f.read(1024 * 1024)
    except OSError as e:
        raise UsageError(f"Cannot read {path}: {e.strerror}") from None


def date(text: str) -> datetime:
    """argparse type: ``2027-06-30`` (start of that day, UTC) or a full ISO 8601 time with zone."""
    try:
        return parse_day(text)
    except UsageError as e:
        raise argparse.ArgumentTypeError(e.hint) from None


def count(text: str) -> int:
    """argparse type: a whole number, 0 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' is negative")
    return n


def write_out(path: str | None, text: str) -> None:
    """``text`` to file ``path`` (saying so on stderr), or to stdout when ``path`` is ``None`` or ``-``."""
    if path is None or path == "-":
        sys.stdout.write(text)
        return
    Path(path).write_text(text)
    print(f"Written to {path}", file=sys.stderr)


def data_dir(args: argparse.Namespace, side: str) -> Path:
    """Where ``side`` (``vendor``, ``controller``) keeps its state: ``--data-dir``, ``$LICENSOR_DATA_DIR`` or ``./.licensor``."""
    return Path(args.data_dir or os.environ.get("LICENSOR_DATA_DIR") or ".licensor") / side


def new_password(prompt: str, *, from_stdin: bool = False) -> str:
    """A new password: the first line of stdin (``--password-stdin``), or typed twice at the terminal.

    Two different entries are a ``UsageError``."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass(prompt)
    if getpass.getpass("again: ") != password:
        raise UsageError("The two passwords differ: run the command again")
    return password


def os_user() -> str:
    """The operating-system user running the command (``?`` when it has none), for the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "?"


def with_database_url(add: AddCommand, help: str) -> AddCommand:
    """``add`` that gives every command it makes a ``--database-url`` option."""

    def add_with_url(group: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        sp = add(group, name, func, help_)
        sp.add_argument("--database-url", help=help)
        return sp

    return add_with_url


def serve(app_factory: str, args: argparse.Namespace, **options: Any) -> None:
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
