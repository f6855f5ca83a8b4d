"""The console's own pages: the dashboard, the configuration and about.

GET  /                                  dashboard: license state, seats used / limit, days left, refusals (in words, deduplicated)
GET  /settings/configuration  POST …    cluster name (carried by request codes), the vendor's licensing address
GET  /about                             version, build date, license, maintenance end and whether this build is covered
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ... import __version__
from ...errors import LicensorError
from ...web import Session, form_text, redirect, refusal
from ..build import coverage
from ..license.config import configuration, set_configuration
from ..runtime import Controller
from ..seats import overview
from ..seats.overview import refused_of
from .shell import build_date, console, shell, show

router = APIRouter(include_in_schema=False)


def refusals(ctl: Controller) -> dict[str, Any]:
    """The dashboard's refusals: the refused nodes and clusters in groups (the Seats page lists them) and the refused activations."""
    shown = refused_of(ctl, shown=0)  # the groups only: the Seats page lists them
    return {"groups": shown["groups"], "ask": shown["ask"], "activations": overview.activations(ctl.store)}


@router.get("/")
@console.page
async def dashboard(request: Request, sess: Session) -> Response:
    return await show(request, sess, "dashboard.html", "Dashboard", more=lambda ctl: {**refusals(ctl), "now": ctl.clock()})


@router.get("/settings/configuration")
@console.page
async def configuration_view(request: Request, sess: Session, saved: str | None = None) -> Response:
    flash = "Configuration saved: new request codes carry the cluster name." if saved else None
    return await show(
        request, sess, "configuration.html", "Configuration", more=lambda ctl: {"config": configuration(ctl.store)}, flash=flash
    )


@router.post("/settings/configuration")
@console.form
async def save_configuration(request: Request, sess: Session, form: FormData) -> Response:
    ctl = shell(request).ctl
    name, email = form_text(form, "cluster_name", 500), form_text(form, "vendor_email", 500)
    try:
        await run_in_threadpool(lambda: set_configuration(ctl.store, ctl.clock, cluster_name=name, vendor_email=email))
    except LicensorError as e:
        cfg = {"cluster_name": name, "vendor_email": email}
        return await show(request, sess, "configuration.html", "Configuration", 422, config=cfg, error=refusal(e, "Not saved"))
    return redirect("/settings/configuration?saved=1")


@router.get("/about")
@console.page
async def about(request: Request, sess: Session) -> Response:
    more = lambda ctl: {"config": configuration(ctl.store), "coverage": coverage(ctl.verdict().license)}  # noqa: E731
    return await show(request, sess, "about.html", "About", more=more, product_version=__version__, build_date=build_date())
