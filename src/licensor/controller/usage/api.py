"""The usage API: a month's signed usage report."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import PlainTextResponse

from ...clock import MONTH_PATTERN
from ..deps import Admin, Ctl

router = APIRouter(prefix="/api/v1/usage", tags=["audit"])


@router.get("/{month}", response_class=PlainTextResponse)
def usage(month: Annotated[str, Path(pattern=MONTH_PATTERN)], ctl: Ctl, _: Admin) -> PlainTextResponse:
    """The signed usage report of a month (peak nodes and clusters) for the vendor's true-up."""
    return PlainTextResponse(ctl.usage_report(month))
