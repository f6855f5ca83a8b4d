"""``/api/v1/reminders``: who is due an expiry reminder, what was sent; ``/api/v1/reminders/sweep`` sends them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ..deps import Issuer, Reader, Settings, Writer
from .service import decision_dict

router = APIRouter(prefix="/api/v1", tags=["reminders"])


class SweepBody(BaseModel):
    dry_run: bool = Field(False, description="only say who would get a reminder: nothing is sent or recorded")


@router.get("/reminders", summary="licenses due an expiry reminder now, those skipped (and why), reminders made")
def reminders(p: Reader, svc: Issuer, settings: Settings, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    plan = svc.reminders.plan(settings.reminder_days)
    return {
        "window_days": settings.reminder_days,
        "due": [decision_dict(d) for d in plan.due],
        "skipped": [decision_dict(d) for d in plan.skipped],
        "history": svc.reminders.history(limit),
    }


@router.post("/reminders/sweep", summary="send every expiry reminder due now, each at most once")
def sweep(p: Writer, svc: Issuer, settings: Settings, body: SweepBody | None = None) -> dict[str, Any]:
    dry_run = body.dry_run if body is not None else False
    out = svc.reminders.send_due(settings.smtp, window_days=settings.reminder_days, actor=p.actor, dry_run=dry_run)
    return out.as_dict()
