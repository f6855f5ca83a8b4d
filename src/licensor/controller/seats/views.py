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


def _seat_page(ctl: Controller, kind: str) -> dict[str, Any]:
    more = refused_of(ctl, shown=0)  # the groups only
    return {"items": ctl.seats(kind), "kind": kind, "groups": [g for g in more["groups"] if g.kind == kind]}


@router.get("/nodes")
@console.page
async def nodes(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seats.html", "Nodes", more=lambda ctl: _seat_page(ctl, "node"))


@router.get("/clusters")
@console.page
async def clusters(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seats.html", "Remote clusters", more=lambda ctl: _seat_page(ctl, "cluster"))


@router.get("/seats")
@console.page
async def seat_use(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seat_use.html", "Seats", more=seats_overview)
