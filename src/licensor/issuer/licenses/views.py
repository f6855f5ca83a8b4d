"""The console's license pages: issue (paste, preview, sign), search, one license, download, renew, rehost, send."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import LicensorError, UsageError
from ...license import LicenseType
from ...server.inputs import MAX_CLUSTERS, MAX_GRACE_DAYS, MAX_MONTHS, MAX_NODES
from ...terms import Ask, Overrides, license_terms
from ...web import attachment, form_number, form_text, mailto, plain, redirect, refusal, upload_or_text
from ..accounts.service import Principal
from ..catalog.service import as_plan
from ..service import IssuerService
from ..web import MAX_CODE, console, expiry, features, issuer, not_found, render, settings_of
from . import renewal_form

router = APIRouter(include_in_schema=False)
_FIELDS = ("plan", "type", "customer", "nodes", "months", "remote_clusters", "features", "grace_days")


def license_mailto(lic: dict[str, Any], to: str, file: str) -> str:
    subject = f"Your {lic['product']} license for {lic['customer']} (serial {lic['serial']})"
    body = (
        f"Hello {lic['customer']},\n\nhere is your {lic['product']} license. Paste it (or upload it as a file) on the product's "
        f"License page and click Activate.\n\nLicense {lic['license_id']}\nInstallation {lic['installation_id']}\n"
        f"Nodes {lic['nodes']}, remote clusters {lic['remote_clusters']}, expires {lic['expires'] or 'never'}\n\n{file}\n"
    )
    return mailto(to, subject, body)


# -- issue -----------------------------------------------------------------------


async def issue_form(request: Request, p: Principal, code: int = 200, error: Any = None, code_text: str = "") -> Response:
    recent = await run_in_threadpool(lambda: issuer(request).licenses.search(limit=5))
    return render(request, p, "issue.html", code, page_title="Issue a license", recent=recent, error=error, code_text=code_text)


@router.get("/issue")
@console.page
async def issue_page(request: Request, p: Principal) -> Response:
    return await issue_form(request, p)


def plan_defaults(plans: list[dict[str, Any]], now: datetime, ask: Ask) -> dict[str, dict[str, Any]]:
    """Each plan's issue defaults for this request (``license_terms``; "" is no plan): the form shows them as the plan changes."""
    out = {}
    for pl in [None, *plans]:
        t = license_terms("issue", now, plan=as_plan(pl), ask=ask)
        shown: dict[str, Any] = {"type": t.type, "nodes": t.nodes, "months": t.months, "remote_clusters": t.remote_clusters}
        shown |= {"features": ", ".join(t.features), "grace_days": t.grace_days}
        out[pl["name"] if pl else ""] = shown
    return out


def preview_context(
    svc: IssuerService,
    text: str,
    terms: dict[str, Any] | None = None,
    renew: dict[str, str] | None = None,
    given: Overrides | None = None,
) -> dict[str, Any]:
    """The request, its installation's earlier licenses, the renewal of its live license (``renew``: the fields as
    posted, ``given``: their overrides), the plans with their defaults, and the issue form: as posted, else the defaults."""
    req = svc.licenses.inspect(text)
    earlier = svc.licenses.search(installation_id=req.installation_id, limit=50)
    plans = svc.catalog.plans()
    defaults = plan_defaults(plans, svc.clock(), Ask(req.nodes, req.months, req.remote_clusters))
    chosen = "subscription" if "subscription" in defaults else ""
    if terms is None:
        terms = {**defaults[chosen], "plan": chosen, "customer": req.contact.company or req.contact.name, "expires": ""}
        terms["type"] = ""  # the plan's type, unless the clerk chooses one
    renewal = svc.licenses.renewal(req, given)
    return {
        "req": req.summary(),
        "earlier": earlier,
        "plans": plans,
        "defaults": defaults,
        "terms": terms,
        "code_text": text,
        "renewal": renewal_form.view(renewal, renew) if renewal else None,
        "renew_error": None,
    }


@router.post("/issue/preview")
@console.form
async def preview(request: Request, p: Principal, form: FormData) -> Response:
    text = ""
    try:
        text = await upload_or_text(form, "file", "request_code", MAX_CODE)
        if not text.strip():
            raise UsageError("No request code was given: paste the code (or the request file) or choose the file")
        ctx = await run_in_threadpool(preview_context, issuer(request), text)
    except (LicensorError, RecursionError) as e:
        return await issue_form(request, p, 422, error=refusal(e, "This request code cannot be used"), code_text=text)
    return render(request, p, "preview.html", page_title="Request preview", error=None, **ctx)


def _issue_terms(form: FormData, terms: dict[str, str]) -> Overrides:
    """The issue form's terms (the days and numbers checked) as ``license_terms`` takes them; no type: the plan's."""
    typ: LicenseType | None = "perpetual" if terms["type"] == "perpetual" else "subscription" if terms["type"] == "subscription" else None
    expires = expiry(terms["expires"])
    nodes = form_number(form, "nodes", "Nodes", lo=0, hi=MAX_NODES)
    months = None if expires else form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS)
    remote = form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS)
    grace = form_number(form, "grace_days", "Grace days", lo=0, hi=MAX_GRACE_DAYS)
    return Overrides(typ, nodes, months, expires, None, remote, features(terms["features"]), grace)


async def _renew(request: Request, p: Principal, form: FormData, text: str) -> Response:
    """The preview's renewal form: show the difference (``action`` compare), fill in what the request asks (asked),
    or renew the live license ``renews`` (renew), which supersedes it."""
    svc, action, renews = issuer(request), form_text(form, "action", 20), form_text(form, "renews", 100)
    fields = renewal_form.posted(form)
    try:
        if action == "asked":
            fields = renewal_form.asked(svc.licenses.inspect(text), fields)
        given = renewal_form.overrides(fields)
        if action == "renew":
            issued = await run_in_threadpool(lambda: svc.licenses.renew_request(text, renews, actor=p.actor, terms=given))
            return redirect(f"/licenses/{issued.license.license_id}?new=1")
        ctx = await run_in_threadpool(preview_context, svc, text, None, fields, given)
        return render(request, p, "preview.html", page_title="Request preview", error=None, **ctx)
    except (LicensorError, RecursionError) as e:
        try:
            ctx = await run_in_threadpool(preview_context, svc, text, None, fields)
        except (LicensorError, RecursionError) as e2:
            return await issue_form(request, p, 422, error=refusal(e2, "This request code cannot be used"), code_text=text)
        ctx["renew_error"] = refusal(e, "Not renewed")
        return render(request, p, "preview.html", 422, page_title="Request preview", error=None, **ctx)


@router.post("/issue")
@console.form
async def issue(request: Request, p: Principal, form: FormData) -> Response:
    svc = issuer(request)
    text = form_text(form, "request_code", MAX_CODE)
    if form_text(form, "renews", 100):
        return await _renew(request, p, form, text)
    terms = {k: form_text(form, k, 2000) for k in _FIELDS}
    terms["expires"] = form_text(form, "expires", 40)
    terms["allow_unknown_features"] = form_text(form, "allow_unknown_features", 10)
    try:
        given, plan, customer = _issue_terms(form, terms), terms["plan"] or None, terms["customer"] or None
        unknown_ok = bool(terms["allow_unknown_features"])
        issued = await run_in_threadpool(
            lambda: svc.licenses.issue(text, actor=p.actor, plan=plan, customer=customer, terms=given, allow_unknown_features=unknown_ok)
        )
    except (LicensorError, RecursionError) as e:
        try:
            ctx = await run_in_threadpool(preview_context, svc, text, terms)
        except (LicensorError, RecursionError) as e2:
            return await issue_form(request, p, 422, error=refusal(e2, "This request code cannot be used"), code_text=text)
        return render(request, p, "preview.html", 422, page_title="Request preview", error=refusal(e, "Not issued"), **ctx)
    typed = "plan-type" if plan and given.type is None else "1"  # no type chosen: the plan's applies, and the page says so
    return redirect(f"/licenses/{issued.license.license_id}?new={typed}")


# -- licenses ------------------------------------------------------------------------


# The list (GET /licenses), its CSV and the renewals due: listing_views.py.


def license_context(svc: IssuerService, license_id: str, smtp: bool) -> dict[str, Any]:
    lic = svc.licenses.get(license_id)
    issued = svc.licenses.issued(license_id)
    try:
        to = svc.licenses.contact_email(license_id)
    except LicensorError:
        to = ""
    return {
        "lic": lic,
        "file": issued.file,
        "to": to,
        "mailto": license_mailto(lic, to, issued.file),
        "smtp": smtp,
        "chain": svc.licenses.search(installation_id=lic["installation_id"], limit=50),
        "renewal": None if lic["superseded_by"] else svc.licenses.renewal_of(license_id),
    }


async def license_page(request: Request, p: Principal, license_id: str, code: int = 200, **extra: Any) -> Response:
    try:
        smtp = settings_of(request).smtp.configured
        ctx = await run_in_threadpool(license_context, issuer(request), license_id[:100], smtp)
    except LicensorError as e:
        return not_found(request, p, e)
    ctx.update(extra)
    ctx.setdefault("error", None)
    return render(request, p, "license.html", code, page_title="License " + ctx["lic"]["license_id"][:8], **ctx)


@router.get("/licenses/{license_id}")
@console.page
async def license_view(request: Request, p: Principal, license_id: str, new: str | None = None, sent: str | None = None) -> Response:
    flash = "License issued: copy it, download it or send it to the customer." if new else None
    if new == "plan-type":
        flash = "License issued with its plan's type (see Terms): copy it, download it or send it to the customer."
    if sent:
        flash = f"License sent to {sent[:320]}."
    return await license_page(request, p, license_id, flash=flash)


@router.get("/licenses/{license_id}/download")
@console.page
async def download(request: Request, p: Principal, license_id: str) -> Response:
    try:
        issued = await run_in_threadpool(issuer(request).licenses.issued, license_id[:100])
    except LicensorError as e:
        return plain(f"{e.code}: {e.hint}", 404)
    return attachment(issued.file, issued.filename)


@router.post("/licenses/{license_id}/renew")
@console.form
async def renew(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
    try:
        feats = form_text(form, "features", 2000)
        given = Overrides(
            months=form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS),
            nodes=form_number(form, "nodes", "Nodes", lo=0, hi=MAX_NODES),
            remote_clusters=form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS),
            features=features(feats) if feats else None,
        )
        issued = await run_in_threadpool(lambda: issuer(request).licenses.renew(license_id, actor=p.actor, terms=given))
    except LicensorError as e:
        return await license_page(request, p, license_id, 422, error=refusal(e, "Not renewed"))
    return redirect(f"/licenses/{issued.license.license_id}?new=1")


@router.post("/licenses/{license_id}/rehost")
@console.form
async def rehost(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
    try:
        text = await upload_or_text(form, "file", "request_code", MAX_CODE)
        if not text.strip():
            raise UsageError("Paste the new installation's request code to rehost this license")
        issued = await run_in_threadpool(lambda: issuer(request).licenses.rehost(license_id, text, actor=p.actor))
    except (LicensorError, RecursionError) as e:
        return await license_page(request, p, license_id, 422, error=refusal(e, "Not rehosted"))
    return redirect(f"/licenses/{issued.license.license_id}?new=1")


@router.post("/licenses/{license_id}/send")
@console.form
async def send(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
    from ..mail import license_message
    from ..mail import send as smtp_send

    svc, smtp = issuer(request).licenses, settings_of(request).smtp
    try:
        issued = await run_in_threadpool(svc.issued, license_id)
        to = form_text(form, "to", 320) or await run_in_threadpool(svc.contact_email, license_id)
        await run_in_threadpool(smtp_send, smtp, license_message(issued, sender=smtp.sender, to=to))
        await run_in_threadpool(svc.record_sent, license_id, to, p.actor)
    except LicensorError as e:
        return await license_page(request, p, license_id, 422, error=refusal(e, "Not sent"))
    return redirect(f"/licenses/{quote(license_id, safe='')}?sent={quote(to, safe='@')}")
