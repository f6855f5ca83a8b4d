"""The console's signing keys page: ``/keys``, rotate, remove, and the published set as a file."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import LicensorError
from ...web import attachment, redirect, refusal
from ..accounts.service import Principal
from ..web import console, issuer, render

router = APIRouter(include_in_schema=False)
_DONE = {"rotated": "A new signing key is active; the old one is retired but still published.", "removed": "Key removed."}


async def keys_page(request: Request, p: Principal, code: int = 200, **extra: Any) -> Response:
    svc = issuer(request).keys
    items = await run_in_threadpool(svc.list)
    public = await run_in_threadpool(lambda: svc.public_set().to_text())
    extra.setdefault("error", None)
    return render(request, p, "keys.html", code, page_title="Signing keys", items=items, public=public, **extra)


@router.get("/keys")
@console.page
async def keys(request: Request, p: Principal, done: str = "") -> Response:
    return await keys_page(request, p, flash=_DONE.get(done))


@router.get("/keys/public.txt")
@console.page
async def public_set(request: Request, p: Principal) -> Response:
    text = await run_in_threadpool(lambda: issuer(request).keys.public_set().to_text())
    return attachment(text, "vendor.pub")


@router.post("/keys/rotate")
@console.form
async def rotate(request: Request, p: Principal, form: FormData) -> Response:
    try:
        await run_in_threadpool(issuer(request).keys.rotate, p.actor)
    except LicensorError as e:
        return await keys_page(request, p, 422, error=refusal(e, "Not rotated"))
    return redirect("/keys?done=rotated")


@router.post("/keys/{kid}/remove")
@console.form
async def remove_key(request: Request, p: Principal, form: FormData, kid: str) -> Response:
    try:
        await run_in_threadpool(issuer(request).keys.remove, kid[:100], p.actor)
    except LicensorError as e:
        return await keys_page(request, p, 422, error=refusal(e, "Not removed"))
    return redirect("/keys?done=removed")
