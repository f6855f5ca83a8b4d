"""The console's ``/customers`` (with each customer's expiry reminders on or off), ``/installations`` and ``/installations/{id}`` pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import LicensorError, NotFound
from ...web import form_text, redirect, refusal
from ..accounts.service import Principal
from ..web import console, issuer, not_found, render

router = APIRouter(include_in_schema=False)


@router.get("/customers")
@console.page
async def customers(request: Request, p: Principal) -> Response:
    items = await run_in_threadpool(issuer(request).customers.customers)
    return render(request, p, "customers.html", page_title="Customers", items=items, error=None)


@router.post("/customers/{customer_id}/reminders")
@console.form
async def set_reminders(request: Request, p: Principal, form: FormData, customer_id: str) -> Response:
    """Turn one customer's expiry reminders on (``enabled=1``) or off (``enabled=0``)."""
    svc = issuer(request).customers
    enabled = form_text(form, "enabled", 5) in ("1", "on", "true")
    try:
        if not (customer_id.isdigit() and len(customer_id) <= 9):
            raise NotFound("")
        await run_in_threadpool(lambda: svc.set_reminders(int(customer_id), enabled, actor=p.actor))
    except NotFound:
        missing = NotFound(f"There is no customer {customer_id[:20]}: choose one from the list on this page")
        items = await run_in_threadpool(svc.customers)
        return render(request, p, "customers.html", 404, page_title="Customers", items=items, error=refusal(missing, "Not changed"))
    return redirect("/customers")


@router.get("/installations")
@console.page
async def installations(request: Request, p: Principal, customer: str = "") -> Response:
    items = await run_in_threadpool(issuer(request).customers.installations, customer[:200] or None)
    return render(request, p, "installations.html", page_title="Installations", items=items, customer=customer[:200])


@router.get("/installations/{installation_id}")
@console.page
async def installation(request: Request, p: Principal, installation_id: str) -> Response:
    svc = issuer(request)
    try:
        inst = await run_in_threadpool(svc.customers.installation, installation_id[:100])
    except LicensorError as e:
        return not_found(request, p, e)
    lics = await run_in_threadpool(lambda: svc.licenses.search(installation_id=inst["installation_id"], limit=100))
    usage = await run_in_threadpool(svc.usage.reports, inst["installation_id"])
    return render(request, p, "installation.html", page_title="Installation", inst=inst, items=lics, usage=usage)
