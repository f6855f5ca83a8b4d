"""The console's seat pages: ``/nodes`` and ``/clusters`` (the seats held), ``/seats`` (who was refused and why, the peaks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...web import Session
from ..runtime import Controller
from ..web.shell import console, show
from .overview import refused_of, seats_overview

router = APIRouter(include_in_schema=False)


#: Seats on one page of ``/nodes`` and ``/clusters``.
PAGE_SIZE = 100


def _page_number(text: str) -> int:
    """``?page=`` read leniently (a link is typed, pasted, cut short): anything but a page number is the first page."""
    text = text.strip()
    return max(1, min(10**6, int(text))) if text.isdigit() and len(text) <= 7 else 1


def _seat_page(ctl: Controller, kind: str, path: str, page: int) -> dict[str, Any]:
    more = refused_of(ctl, shown=0)  # the groups only
    items, total = ctl.seating.page(kind, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    pager = {
        "page": page,
        "pages": pages,
        "total": total,
        "first": (page - 1) * PAGE_SIZE + 1,
        "prev": f"{path}?page={min(page, pages + 1) - 1}" if page > 1 else None,
        "next": f"{path}?page={page + 1}" if page < pages else None,
    }
    return {"items": items, "kind": kind, "groups": [g for g in more["groups"] if g.kind == kind], "pager": pager}


@router.get("/nodes")
@console.page
async def nodes(request: Request, sess: Session, page: str = "1") -> Response:
    n = _page_number(page)
    return await show(request, sess, "seats.html", "Nodes", more=lambda ctl: _seat_page(ctl, "node", "/nodes", n))


@router.get("/clusters")
@console.page
async def clusters(request: Request, sess: Session, page: str = "1") -> Response:
    n = _page_number(page)
    return await show(request, sess, "seats.html", "Remote clusters", more=lambda ctl: _seat_page(ctl, "cluster", "/clusters", n))


@router.get("/seats")
@console.page
async def seat_use(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seat_use.html", "Seats", more=seats_overview)
