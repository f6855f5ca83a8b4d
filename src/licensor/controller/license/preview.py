"""The activation preview rendered: the key in force against a new one, term by term, for the console and the terminal.

The comparison document is ``activation.comparison``'s (the API's dry run and a ``confirmation_required``
refusal carry the same one); here it is only rendered.
"""

from __future__ import annotations

from typing import Any, TextIO

from ...errors import LicensorError
from ...web import when

#: The console's words for each change (sentence case).
CHANGE_WORDS = {"grows": "Grows", "shrinks": "Shrinks", "changes": "Changes", "same": "Same", "new": "New"}


def shown(value: Any) -> str:
    """One value of the comparison for people: a list joined, no end as 'never', nothing as '–'."""
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return "never" if value is None else str(value)


def cell(term: str, value: Any) -> str:
    """A value of ``term`` for people: dates as ``2027-06-30 00:00 UTC``, the rest as ``shown``."""
    return when(value) if value is not None and term in ("expires", "maintenance_until") else shown(value)


def preview_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    """The console's table rows: label, current, new, the change in words, and the change's code (for styling)."""
    return [
        {
            "label": t["label"],
            "current": "–" if t["change"] == "new" else cell(t["term"], t["current"]),
            "new": cell(t["term"], t["new"]),
            "words": CHANGE_WORDS[t["change"]],
            "change": t["change"],
        }
        for t in doc["terms"]
    ]


def comparison_text(doc: dict[str, Any]) -> str:
    """The comparison as a plain-text table: term, current, new, change."""
    rows = [("", "Current", "New", "")]
    rows += [(r["label"], r["current"], r["new"], r["change"]) for r in preview_rows(doc)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(text.ljust(w) for text, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def confirmed(refusal: LicensorError, stdin: TextIO, stdout: TextIO) -> bool:
    """Show the comparison of a ``confirmation_required`` refusal and ask (y/N); False without a terminal to ask on.

    Pass ``--yes`` in scripts.
    """
    doc = refusal.details.get("comparison")
    if not doc:
        return False
    print(f"This key takes something away: {', '.join(doc['shrinks'])}.", file=stdout)
    print(comparison_text(doc), file=stdout)
    if not stdin.isatty():
        return False
    stdout.write("Activate it anyway? (y/N) ")
    stdout.flush()
    return stdin.readline().strip().lower() in ("y", "yes")
