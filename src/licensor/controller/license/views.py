"""The console's License page: status card, Request code dialog, Activate (paste or upload), history, the clock.

GET  /settings/license                  status card, Request code dialog, Activate (paste or upload), history
GET  /settings/license/request          the Request code form as a page of its own (the dialog's address, and what it is
                                        without JavaScript); prefilled for a renewal; ?nodes=N&remote_clusters=N&months=N
POST /settings/license/request          make a request code: a page with what was asked, Copy, Download, E-mail, QR code
POST /settings/license/request/download the request file as an attachment, request-<cluster>-<date>.txt
POST /settings/license/activate         activate a pasted or uploaded key; a refusal's hint is shown inline; a key that
                                        takes something away shows the activation preview first (confirm=yes applies it)
POST /settings/license/clock/acknowledge  an admin vouches for the clock (audited)
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import ConfirmationRequired, InvalidInput, LicensorError, UsageError
from ...request import Contact, decode_request, request_file
from ...server.inputs import MAX_CLUSTERS, MAX_MONTHS, MAX_NODES, is_address
from ...web import Session, attachment, form_number, form_text, plain, qr_svg, redirect, refusal, upload_or_text
from ..runtime import Controller
from ..web.shell import console, shell, show
from .config import configuration
from .preview import preview_rows
from .request_code import remember_contact, request_filename, request_mailto, request_summary, safe_prefill

router = APIRouter(prefix="/settings/license", include_in_schema=False)
REQUEST_FIELDS = ("name", "email", "company", "nodes", "months", "remote_clusters")


def _more(ctl: Controller) -> dict[str, Any]:
    req, renewal, _ = safe_prefill(ctl, {})
    return {"history": ctl.svc.history(), "config": configuration(ctl.store), "now": ctl.clock(), "req": req, "renewal": renewal}


async def license_page(request: Request, sess: Session, status_code: int = 200, **extra: Any) -> Response:
    return await show(request, sess, "license.html", "License", status_code, _more, **extra)


async def request_page(
    request: Request, sess: Session, status_code: int = 200, query: dict[str, str] | None = None, **extra: Any
) -> Response:
    """The Request code form: prefilled (``query`` from the link), or as the admin filled it in (``req`` given)."""

    def more(ctl: Controller) -> dict[str, Any]:
        req, renewal, wrong = safe_prefill(ctl, query or {})
        shown: dict[str, Any] = {"req": req, "renewal": renewal, "config": configuration(ctl.store)}
        if wrong is not None:
            shown["request_error"] = refusal(wrong, "The link asks for something out of bounds: not prefilled from it")
        return shown

    return await show(request, sess, "license_request.html", "Request code", status_code, more, **extra)


@router.get("")
@console.page
async def license_view(request: Request, sess: Session, activated: str | None = None) -> Response:
    flash = f"License {activated[:60]} activated: the console and the agents use it now." if activated else None
    return await license_page(request, sess, flash=flash)


@router.get("/request")
@console.page
async def request_form(request: Request, sess: Session) -> Response:
    query = {k: request.query_params[k][:20] for k in ("nodes", "remote_clusters", "months") if k in request.query_params}
    return await request_page(request, sess, query=query)


def _asked(form: FormData, req: dict[str, str]) -> tuple[int, int, int]:
    nodes = form_number(form, "nodes", "Nodes", lo=1, hi=MAX_NODES)
    months = form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS)
    remote = form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS, default=0)
    if nodes is None or months is None or remote is None:
        raise InvalidInput("Nodes, months and remote clusters are whole numbers: fill them in")
    if not is_address(req["email"]):
        raise InvalidInput("The e-mail must be one plain address such as name@example.com: the vendor sends the license there")
    return nodes, months, remote


@router.post("/request")
@console.form
async def make_request(request: Request, sess: Session, form: FormData) -> Response:
    ctl = shell(request).ctl
    req = {k: form_text(form, k) for k in REQUEST_FIELDS}
    try:
        nodes, months, remote = _asked(form, req)
        contact = Contact(req["name"], req["email"], req["company"])
        code, _ = await run_in_threadpool(ctl.svc.request, contact, nodes=nodes, months=months, remote_clusters=remote)
    except LicensorError as e:
        return await request_page(request, sess, 422, req=req, request_error=refusal(e, "No request code made"))
    await run_in_threadpool(remember_contact, ctl.store, req)
    config = await run_in_threadpool(configuration, ctl.store)
    asked = decode_request(code)
    made = {
        "code": code,
        "qr": qr_svg(code, "QR code of the request code"),
        "mailto": request_mailto(config, asked, code),
        "filename": request_filename(asked),
        "summary": request_summary(asked),
    }
    return await show(request, sess, "license_request_made.html", "Request code made", made=made)


@router.post("/request/download")
@console.form
async def download_request(request: Request, sess: Session, form: FormData) -> Response:
    code = form_text(form, "code", 16384)
    try:
        asked = decode_request(code)
        text = request_file(code, asked)
    except (LicensorError, RecursionError) as e:
        shown = refusal(e, "")
        return plain(f"{shown['code']}: {shown['hint']}", 400)
    return attachment(text, request_filename(asked))


@router.post("/activate")
@console.form
async def activate(request: Request, sess: Session, form: FormData) -> Response:
    pasted = form.get("key") if isinstance(form.get("key"), str) else ""
    try:
        text = await upload_or_text(form, "file", "key")
        if not text.strip():
            raise UsageError("No license key was given: paste the key or the whole license file, or choose the file")
        act = await run_in_threadpool(shell(request).ctl.activate, text, confirm=form.get("confirm") == "yes")
    except ConfirmationRequired as e:
        doc = e.details["comparison"]
        return await show(request, sess, "license_preview.html", "Activation preview", preview=doc, rows=preview_rows(doc), key=text)
    except (LicensorError, RecursionError) as e:
        return await license_page(request, sess, 422, activate_error=refusal(e, "Not activated"), pasted=pasted)
    lic = act.verdict.license
    return redirect("/settings/license?activated=" + (lic.license_id if lic else ""))


@router.post("/clock/acknowledge")
@console.form
async def acknowledge_clock(request: Request, sess: Session, form: FormData) -> Response:
    try:
        await run_in_threadpool(shell(request).ctl.acknowledge_clock, f"admin via console ({sess.user})")
    except LicensorError as e:
        return await license_page(request, sess, 422, clock_error=refusal(e, "Not acknowledged"))
    return redirect("/settings/license")
