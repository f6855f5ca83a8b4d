"""``/api/v1/usage-reports``: import a controller's usage report; list them with overage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ..deps import Issuer, Reader, UsageWriter

router = APIRouter(prefix="/api/v1", tags=["usage"])


class UsageBody(BaseModel):
    report: str = Field(..., max_length=65536, description="the armoured usage report a controller made")


@router.post("/usage-reports", summary="import a controller's usage report; shows overage")
def import_usage(body: UsageBody, p: UsageWriter, svc: Issuer) -> dict[str, Any]:
    return svc.usage.import_report(body.report, actor=p.actor)


@router.get("/usage-reports", summary="imported usage reports with overage")
def usage_reports(p: Reader, svc: Issuer, installation_id: str | None = None) -> list[dict[str, Any]]:
    return svc.usage.reports(installation_id)
