"""The console's license list (search, filters, pages), the renewals due and the CSV export of either.

    GET /licenses?q=&state=&type=&product=&page=     search and filter, a page of 50, "page X of Y"
    GET /licenses.csv?…                              the same filtered list, every page, as a CSV file
    GET /renewals?days=30|60|90&page=                the live keys expiring within that many days, soonest first

Query strings are read leniently (a link is typed, pasted, cut short): an unknown state, type or
number is left out rather than refused.  Views parse, call ``ListingService`` and render.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...due import RENEWAL_WINDOWS, STATES
from ...errors import LicensorError
from ...web import plain, security_headers
from ..accounts.service import Principal
from ..web import console, issuer, render
from .export import csv_filename, csv_text
from .listing import ORDERS, TYPES, Filters, Page, parse_state

router = APIRouter(include_in_schema=False)
MAX_TEXT = 200


def _number(text: str, default: int, lo: int, hi: int) -> int:
    try:
        return max(lo, min(hi, int(text.strip())))
    except ValueError:
        return default


def filters_from(q: str = "", state: str = "", type: str = "", product: str = "", due: str = "", order: str = "") -> Filters:
    """The filters of a console query string; what is not understood is left out."""
    typ = type if type in TYPES else None
    days = _number(due, 0, 0, 3660) if due.strip() else None
    return Filters(
        q=q.strip()[:MAX_TEXT],
        state=parse_state(state),
        type=typ,
        product=product.strip()[:MAX_TEXT] or None,
        due_days=days or None,
        order=order if order in ORDERS else "newest",
    )


def pager(path: str, f: Filters, page: Page, **extra: str) -> dict[str, Any]:
    """Page X of Y and the previous and next links, which keep the query."""

    def link(n: int) -> str:
        return f"{path}?{urlencode({**f.params(), **extra, 'page': n})}"

    return {
        "page": page.page,
        "pages": page.pages,
        "total": page.total,
        "prev": link(page.page - 1) if page.page > 1 else None,
        "next": link(page.page + 1) if page.page < page.pages else None,
    }


@router.get("/licenses")
@console.page
async def licenses(
    request: Request, p: Principal, q: str = "", state: str = "", type: str = "", product: str = "", page: str = "1"
) -> Response:
    f = filters_from(q, state, type, product)
    svc = issuer(request).listing
    found = await run_in_threadpool(svc.page, f, _number(page, 1, 1, 10**6))
    products = await run_in_threadpool(svc.products)
    return render(
        request,
        p,
        "licenses.html",
        page_title="Licenses",
        items=found.items,
        q=f.q,
        f=f,
        states=STATES,
        types=TYPES,
        products=products,
        pager=pager("/licenses", f, found),
        csv="/licenses.csv?" + urlencode(f.params()),
    )


@router.get("/licenses.csv")
@console.page
async def licenses_csv(
    request: Request, p: Principal, q: str = "", state: str = "", type: str = "", product: str = "", due: str = "", order: str = ""
) -> Response:
    f = filters_from(q, state, type, product, due, order)
    svc = issuer(request)
    try:
        text = await run_in_threadpool(lambda: csv_text(svc.listing.export(f)))
    except LicensorError as e:
        return plain(f"{e.code}: {e.hint}", e.http_status)
    return csv_response(text, csv_filename(f, svc.clock()))


def csv_response(text: str, filename: str) -> Response:
    """A CSV file the browser downloads as ``filename``."""
    headers = {**security_headers(), "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/renewals")
@console.page
async def renewals(request: Request, p: Principal, days: str = "", page: str = "1") -> Response:
    window = _number(days, RENEWAL_WINDOWS[0], 1, 3660) if days.strip() else RENEWAL_WINDOWS[0]
    f = Filters(due_days=window, order="expiry")
    svc = issuer(request).listing
    found = await run_in_threadpool(svc.page, f, _number(page, 1, 1, 10**6))
    counts = await run_in_threadpool(svc.count_due, RENEWAL_WINDOWS)
    return render(
        request,
        p,
        "renewals.html",
        page_title=f"Renewals due within {window} days",
        items=found.items,
        days=window,
        windows=RENEWAL_WINDOWS,
        counts=counts,
        pager=pager("/renewals", Filters(), found, days=str(window)),
        csv="/licenses.csv?" + urlencode(f.params()),
    )
