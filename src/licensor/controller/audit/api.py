"""The audit API: the newest entries, and a check of the hash chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..deps import Admin, Ctl

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("")
def audit_list(
    ctl: Ctl, _: Admin, limit: Annotated[int, Query(ge=1, le=1000)] = 100, event: Annotated[str | None, Query(max_length=40)] = None
) -> list[dict[str, Any]]:
    """The newest audit entries."""
    return ctl.audit_entries(limit, event)


@router.get("/verify")
def audit_verify(ctl: Ctl, _: Admin) -> dict[str, Any]:
    """Check the audit log's hash chain."""
    r = ctl.audit_verify()
    return {"ok": r.ok, "entries": r.entries, "problem": r.problem, "bad_id": r.bad_id}
