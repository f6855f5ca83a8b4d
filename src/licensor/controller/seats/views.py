"""The console's seat pages: ``/nodes`` and ``/clusters``, the seats held."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...web import Session
from ..web.shell import console, show

router = APIRouter(include_in_schema=False)


@router.get("/nodes")
@console.page
async def nodes(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seats.html", "Nodes", more=lambda ctl: {"items": ctl.seats("node"), "kind": "node"})


@router.get("/clusters")
@console.page
async def clusters(request: Request, sess: Session) -> Response:
    return await show(request, sess, "seats.html", "Remote clusters", more=lambda ctl: {"items": ctl.seats("cluster"), "kind": "cluster"})
