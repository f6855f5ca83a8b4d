"""Finding licenses among thousands: search, filters, renewals due, paging, counted and ordered in SQL.

``Filters`` is what a clerk (console), a client (``GET /api/v1/licenses``) or the command asks for;
``where`` turns it into SQL conditions, the state and renewal windows coming from ``licensor.due``
(the same rule as ``terms.license_state``).  Only one page of rows (without the signed token) is
ever read, so the list stays fast at fleet size; the CSV export reads the filtered rows once,
up to ``MAX_EXPORT``.

``ListingService.renewals_due(days)`` is the query "which live keys expire within ``days``",
for the renewals view and for anyone else (reminders) who needs it; ``due_query`` is the same
query to run inside a transaction of one's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.engine import Connection, Row

from ...due import STATES, Window, days_left, due_window, state_window
from ...errors import UsageError
from ...license import LicenseType
from ...terms import State
from .. import store as s
from ..ledger import Ledger
from .records import license_record

__all__ = ["MAX_EXPORT", "MAX_PAGE", "Filters", "ListingService", "Page", "due_query", "listed_record", "where"]

#: A page has at most this many rows (the console shows ``PAGE_SIZE``).
MAX_PAGE = 1000
PAGE_SIZE = 50
#: A CSV export holds at most this many rows; a wider filter is refused with a sentence, never cut short.
MAX_EXPORT = 100_000

Order = Literal["newest", "expiry"]
ORDERS: tuple[Order, ...] = ("newest", "expiry")
TYPES: tuple[LicenseType, ...] = ("subscription", "perpetual")

_L, _I = s.licenses.c, s.installations.c
#: Every column of a listed license but the signed token (the list never shows it), and the installation's cluster name.
_COLUMNS = (*(col for col in s.licenses.c if col.name != "token"), _I.cluster_name)
_FROM = s.licenses.outerjoin(s.installations, _L.installation_id == _I.installation_id)
_ORDER_BY = {
    "newest": (_L.issued_at.desc(), _L.installation_id, _L.serial.desc()),
    "expiry": (_L.expires.asc(), _L.license_id),
}


@dataclass(frozen=True)
class Filters:
    """What to list: ``q`` matches license id, customer, installation id, cluster name or product (case-insensitive).

    ``state``, ``type``, ``product``, ``customer`` and ``installation_id`` must match exactly; ``due_days``
    keeps the live keys that expire within that many days (``due.due_window``)."""

    q: str = ""
    state: State | None = None
    type: LicenseType | None = None
    product: str | None = None
    customer: str | None = None
    installation_id: str | None = None
    due_days: int | None = None
    order: Order = "newest"

    def params(self, **changes: Any) -> dict[str, str]:
        """The filters as query parameters (empty ones left out), with ``changes``: the links that keep the query."""
        f = replace(self, **changes)
        pairs = {
            "q": f.q,
            "state": f.state,
            "type": f.type,
            "product": f.product,
            "customer": f.customer,
            "installation_id": f.installation_id,
            "due": f.due_days,
            "order": None if f.order == "newest" else f.order,
        }
        return {k: str(v) for k, v in pairs.items() if v not in (None, "")}


@dataclass(frozen=True)
class Page:
    """One page of a filtered list: its rows, the number of rows in all, and where this page is."""

    items: list[dict[str, Any]]
    total: int
    page: int
    size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _window(w: Window) -> ColumnElement[bool]:
    parts: list[ColumnElement[bool]] = [_L.superseded_by.is_not(None) if w.superseded else _L.superseded_by.is_(None)]
    bounded: list[ColumnElement[bool]] = []
    if w.after is not None:
        bounded.append(_L.expires > w.after)
    if w.until is not None:
        bounded.append(_L.expires <= w.until)
    if bounded:
        dated = and_(_L.expires.is_not(None), *bounded)
        parts.append(or_(dated, _L.expires.is_(None)) if w.never else dated)
    elif not w.never:
        parts.append(_L.expires.is_not(None))
    return and_(*parts)


def where(f: Filters, now: datetime) -> list[ColumnElement[bool]]:
    """The SQL conditions of ``f`` at ``now``."""
    conds: list[ColumnElement[bool]] = []
    if f.q:
        like = _like(f.q)
        columns = (_L.license_id, _L.customer, _L.installation_id, _I.cluster_name, _L.product)
        conds.append(or_(*(func.lower(col).like(like, escape="\\") for col in columns)))
    if f.state:
        conds.append(_window(state_window(f.state, now)))
    if f.due_days is not None:
        conds.append(_window(due_window(f.due_days, now)))
    for col, value in ((_L.type, f.type), (_L.product, f.product), (_L.customer, f.customer), (_L.installation_id, f.installation_id)):
        if value:
            conds.append(col == value)
    return conds


def _select(f: Filters, now: datetime) -> Select[Any]:
    return select(*_COLUMNS).select_from(_FROM).where(*where(f, now)).order_by(*_ORDER_BY[f.order])


def due_query(days: int, now: datetime) -> Select[Any]:
    """The live keys that expire within ``days`` of ``now``, soonest first (the renewals due; every column but the token)."""
    return _select(Filters(due_days=days, order="expiry"), now)


def listed_record(row: Row[Any], now: datetime) -> dict[str, Any]:
    """``records.license_record`` with the installation's cluster name and the whole days left (None: no expiry)."""
    rec = license_record(row, row, now)
    rec["cluster_name"] = row.cluster_name or ""
    rec["days_left"] = days_left(row.expires, now)
    return rec


def parse_state(text: str | None) -> State | None:
    """A state filter as a query string gives it (``expiring soon`` or ``expiring-soon``); None if empty or unknown."""
    value = (text or "").strip().replace("-", " ").replace("_", " ")
    return next((st for st in STATES if st == value), None)


class ListingService:
    """The license list: filtered, counted and paged in the database."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def _count(self, c: Connection, f: Filters, now: datetime) -> int:
        return int(c.execute(select(func.count()).select_from(_FROM).where(*where(f, now))).scalar() or 0)

    def search(self, f: Filters, *, limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """The rows ``offset`` to ``offset + limit`` of the filtered list, and how many it has in all."""
        now = self.ledger.clock()
        query = _select(f, now).limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))
        with self.ledger.tx(write=False) as c:
            total = self._count(c, f, now)
            rows = c.execute(query).all()
        return [listed_record(r, now) for r in rows], total

    def page(self, f: Filters, page: int = 1, size: int = PAGE_SIZE) -> Page:
        """Page ``page`` (from 1) of the filtered list; a page past the end is the last one."""
        size = max(1, min(size, MAX_PAGE))
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            total = self._count(c, f, now)
            last = max(1, -(-total // size))
            page = max(1, min(page, last))
            rows = c.execute(_select(f, now).limit(size).offset((page - 1) * size)).all()
        return Page([listed_record(r, now) for r in rows], total, page, size)

    def renewals_due(self, days: int, *, limit: int = MAX_PAGE, offset: int = 0) -> list[dict[str, Any]]:
        """The live keys whose expiry falls within the next ``days`` days, soonest first (``due.due_window``)."""
        now = self.ledger.clock()
        query = due_query(days, now).limit(max(1, min(limit, MAX_PAGE))).offset(max(0, offset))
        return [listed_record(r, now) for r in self.ledger.rows(query)]

    def count_due(self, windows: tuple[int, ...]) -> dict[int, int]:
        """How many renewals fall due within each of ``windows`` days."""
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            return {d: self._count(c, Filters(due_days=d), now) for d in windows}

    def products(self) -> list[str]:
        """The products licenses were issued for (the product filter's choices)."""
        return [str(r[0]) for r in self.ledger.rows(select(_L.product).distinct().order_by(_L.product))]

    def export(self, f: Filters) -> Iterator[dict[str, Any]]:
        """Every row of the filtered list, for a CSV file (each record made as it is written); refused beyond
        ``MAX_EXPORT`` rows rather than cut short."""
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            total = self._count(c, f, now)
            if total > MAX_EXPORT:
                raise UsageError(
                    f"The list holds {total:,} licenses, more than the {MAX_EXPORT:,} one export may hold: "
                    "narrow it with a search or a filter, then export again"
                )
            rows = c.execute(_select(f, now)).all()
        return (listed_record(r, now) for r in rows)
