"""The console's ``/reminders`` page: who is due an expiry reminder, what was sent, and "Send reminders now"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import LicensorError
from ...web import redirect, refusal
from ...words import plural
from ..accounts.service import Principal
from ..service import IssuerService
from ..settings import IssuerSettings
from ..web import console, issuer, render, settings_of
from .service import decision_dict

router = APIRouter(include_in_schema=False)


def _context(svc: IssuerService, settings: IssuerSettings) -> dict[str, Any]:
    plan = svc.reminders.plan(settings.reminder_days)
    return {
        "window_days": settings.reminder_days,
        "interval_minutes": settings.reminder_interval_minutes,
        "smtp": settings.smtp.configured,
        "due": [decision_dict(d) for d in plan.due],
        "skipped": [decision_dict(d) for d in plan.skipped],
        "history": svc.reminders.history(100),
    }


async def reminders_page(request: Request, p: Principal, code: int, **extra: Any) -> Response:
    ctx = await run_in_threadpool(_context, issuer(request), settings_of(request))
    ctx = {"error": None, "flash": None, "warning": None, **ctx, **extra}
    return render(request, p, "reminders.html", code, page_title="Expiry reminders", **ctx)


def _outcome(sent: str, failed: str) -> dict[str, str | None]:
    """The notes after a sweep, from the counts in the address (anything else there shows none)."""
    if not (sent.isdigit() and failed.isdigit()):
        return {}
    n, bad = int(sent), int(failed)
    flash = "No reminder was due: nothing was sent." if n == 0 and bad == 0 else f"{plural(n, 'reminder')} sent." if n else None
    warning = f"{plural(bad, 'reminder')} could not be sent: see the list below; the next sweep tries again." if bad else None
    return {"flash": flash, "warning": warning}


@router.get("/reminders")
@console.page
async def reminders(request: Request, p: Principal, sent: str = "", failed: str = "") -> Response:
    return await reminders_page(request, p, 200, **_outcome(sent[:8], failed[:8]))


@router.post("/reminders/run")
@console.form
async def run(request: Request, p: Principal, form: FormData) -> Response:
    svc, settings = issuer(request), settings_of(request)
    try:
        out = await run_in_threadpool(lambda: svc.reminders.send_due(settings.smtp, window_days=settings.reminder_days, actor=p.actor))
    except LicensorError as e:
        return await reminders_page(request, p, 422, error=refusal(e, "No reminder sent"))
    return redirect(f"/reminders?sent={len(out.sent)}&failed={len(out.failed)}")
