"""What to do next about a verdict, in each edge's own words.

The verdict hints (``policy``, ``trusted_time``) name no command and no page, so every edge can show them as
they are; the console adds ``console_step`` (its page and button) and the command line ``cli_step`` (its command).
Pure, with no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["cli_step", "console_step"]

_NEW_KEY = ("wrong_product", "wrong_installation", "superseded", "expired", "grace", "malformed", "bad_signature", "unknown_key")

_CONSOLE = {
    "missing": "Open License, make a request code for your vendor, then activate the key you get back.",
    "clock_rollback": "Set the system clock right; if it is right now, open License and acknowledge it.",
    **dict.fromkeys(_NEW_KEY, "Open License and activate a new key."),
}

_CLI = {
    "missing": "Run 'licensor controller request', send the code to your vendor, then 'licensor controller activate KEY_FILE'.",
    "clock_rollback": "Set the system clock right; if it is right now, run 'licensor controller clock acknowledge'.",
    **dict.fromkeys(_NEW_KEY, "Run 'licensor controller activate KEY_FILE' with the new key."),
}


def _acknowledgeable(code: str, details: Mapping[str, Any] | None) -> bool:
    return code != "clock_rollback" or bool((details or {}).get("acknowledgeable"))


def console_step(code: str, details: Mapping[str, Any] | None = None) -> str | None:
    """The console's next step for a verdict ``code`` (None: nothing to do there).

    A clock rollback proven by a signed key cannot be acknowledged: only setting the clock helps.
    """
    if not _acknowledgeable(code, details):
        return "Set the system clock right (use NTP)."
    return _CONSOLE.get(code)


def cli_step(code: str, details: Mapping[str, Any] | None = None) -> str | None:
    """The command line's next step for a verdict ``code`` (None: nothing to do)."""
    if not _acknowledgeable(code, details):
        return "Set the system clock right (use NTP)."
    return _CLI.get(code)
