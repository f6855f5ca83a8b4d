"""The console's ``/usage`` page: imported usage reports, and importing one."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import LicensorError, UsageError
from ...web import refusal, upload_or_text
from ..accounts.service import Principal
from ..web import console, issuer, render

router = APIRouter(include_in_schema=False)


@router.get("/usage")
@console.page
async def usage(request: Request, p: Principal) -> Response:
    items = await run_in_threadpool(issuer(request).usage.reports)
    return render(request, p, "usage.html", page_title="Usage reports", items=items, result=None, error=None)


@router.post("/usage")
@console.form
async def import_usage(request: Request, p: Principal, form: FormData) -> Response:
    svc = issuer(request).usage
    result, error = None, None
    try:
        text = await upload_or_text(form, "file", "report", 65536)
        if not text.strip():
            raise UsageError("No usage report was given: paste it or choose the file")
        result = await run_in_threadpool(lambda: svc.import_report(text, actor=p.actor))
    except (LicensorError, RecursionError) as e:
        error = refusal(e, "Not imported")
    items = await run_in_threadpool(svc.reports)
    return render(
        request, p, "usage.html", 422 if error else 200, page_title="Usage reports", items=items, result=result, error=error, json=json
    )
