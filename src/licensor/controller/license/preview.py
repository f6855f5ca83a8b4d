"""The activation preview as text: the key in force against a new one, term by term, and the terminal's question.

The comparison document is ``activation.comparison``'s (the API's dry run and a ``confirmation_required``
refusal carry the same one); here it is only rendered.
"""

from __future__ import annotations

from typing import Any, TextIO

from ...errors import LicensorError

def shown(value: Any) -> str:
    """One value of the comparison for people: a list joined, no end as 'never', nothing as '–'."""
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return "never" if value is None else str(value)


def comparison_text(doc: dict[str, Any]) -> str:
    """The comparison as a plain-text table: term, current, new, change."""
    rows = [("", "Current", "New", "")]
    rows += [(t["label"], "–" if t["change"] == "new" else shown(t["current"]), shown(t["new"]), t["change"]) for t in doc["terms"]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r[:3], widths, strict=True)) + "  " + r[3] for r in rows]
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
