"""Time as the rest of licensor reads it: one system clock, one day parser, one month rule.

The core never calls the clock itself: services take a ``Clock`` and pass ``now`` in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from .errors import UsageError

__all__ = ["MONTH_PATTERN", "Clock", "is_month", "parse_day", "parse_month", "system_clock"]

#: A function that tells the time (time-zone aware): ``system_clock`` in production, a fixed one in tests.
Clock = Callable[[], datetime]

#: A calendar month as licensor names it: ``YYYY-MM``.
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)


def system_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def parse_day(text: str) -> datetime:
    """``2027-06-30`` (the start of that day, UTC) or a full ISO 8601 time with its zone.

    Anything else is a ``UsageError`` that names the text."""
    try:
        t = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise UsageError(f"'{str(text)[:40]}' is not a date: use YYYY-MM-DD") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def is_month(text: object) -> bool:
    """Whether ``text`` names a month as licensor writes it: ``YYYY-MM``."""
    return isinstance(text, str) and _MONTH.fullmatch(text) is not None


def parse_month(text: str) -> str:
    """``text`` if it is a month (``YYYY-MM``); else a ``UsageError`` that names it."""
    if not is_month(text):
        raise UsageError(f"'{str(text)[:20]}' is not a month: use YYYY-MM")
    return text
