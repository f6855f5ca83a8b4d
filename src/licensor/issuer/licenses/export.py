"""The license list as a CSV file: the columns, cells a spreadsheet will not run as formulas, and the file's name."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .listing import Filters

__all__ = ["COLUMNS", "csv_filename", "csv_text", "safe_cell"]

COLUMNS = (
    "license_id",
    "customer",
    "installation_id",
    "cluster_name",
    "product",
    "plan",
    "type",
    "serial",
    "kind",
    "nodes",
    "remote_clusters",
    "features",
    "issued_at",
    "expires",
    "days_left",
    "maintenance_until",
    "state",
    "superseded_by",
)
#: A text cell starting with one of these is a formula to a spreadsheet (or starts one, after a tab or line break).
_FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> str | int:
    """A CSV cell: numbers as they are, text prefixed with ``'`` when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return value
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def csv_text(records: Iterable[dict[str, Any]]) -> str:
    """The records as CSV (a header line, then one line per license, CRLF line ends as RFC 4180 has them)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    for r in records:
        w.writerow([safe_cell(r.get(col)) for col in COLUMNS])
    return out.getvalue()


def csv_filename(f: Filters, now: datetime) -> str:
    """``licenses-2026-12-02.csv``, or ``renewals-due-30-days-2026-12-02.csv`` for a renewals list."""
    day = now.strftime("%Y-%m-%d")
    if f.due_days is not None:
        return f"renewals-due-{f.due_days}-days-{day}.csv"
    return f"licenses-{day}.csv"
