"""The console's seat pages: ``/nodes`` and ``/clusters`` (the seats held), ``/seats`` (who was refused and why, the peaks)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ...web import Session
from ..runtime import Controller
from ..web.chart import Point, usage_chart
from ..web.shell import console, show
from . import overview

router = APIRouter(include_in_schema=False)


def license_limits(ctl: Controller) -> dict[str, int]:
    """The nodes and remote clusters of the key in force (0 without one), whatever its state: what a request asks more than."""
    lic = ctl.verdict().license
    return {"node": lic.nodes if lic else 0, "cluster": lic.remote_clusters if lic else 0}


def refused_of(ctl: Controller) -> dict[str, Any]:
    """The refused nodes and clusters, their groups and the ask link (the dashboard shows these too)."""
    return overview.refused(ctl.store, ctl.clock(), license_limits(ctl))


def _seat_page(ctl: Controller, kind: str) -> dict[str, Any]:
    more = refused_of(ctl)
    return {"items": ctl.seats(kind), "kind": kind, "groups": [g for g in more["groups"] if g.kind == kind]}


def seats_overview(ctl: Controller) -> dict[str, Any]:
    """Everything the Seats page shows."""
    shown = refused_of(ctl)
    months = overview.peaks(ctl.store, ctl.clock(), ctl.svc.history())
    charts = []
    for kind, title in (
        ("node", "Nodes used against the limit, by month"),
        ("cluster", "Remote clusters used against the limit, by month"),
    ):
        points = [Point(m, p, lim) for m, p, lim in months[kind]]
        if kind == "cluster" and not any(p.peak or p.limit for p in points):
            continue  # no remote cluster allowed or seen: no chart to read
        noun = "node" if kind == "node" else "remote cluster"
        charts.append(
            {
                "kind": kind,
                "title": title,
                "points": points,
                "svg": usage_chart(points, noun=noun, title=title, ident=f"chart-{kind}"),
            }
        )
    shown.update(charts=charts, activations=overview.activations(ctl.store))
    return shown


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
