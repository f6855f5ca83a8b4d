"""The license API: status, request codes, activation, the clock, history, feature and update checks."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ...clock import parse_day
from ...errors import MalformedError, UsageError
from ...license import fmt_time
from ...policy import feature_enabled, update_allowed
from ...request import Contact
from ...server.inputs import EARLIEST, LATEST, Email, in_range
from ..deps import Admin, Agent, Ctl

MAX_KEY_BYTES = 64 * 1024

router = APIRouter(prefix="/api/v1", tags=["license"])


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class RequestIn(_Strict):
    name: str = Field(min_length=1, max_length=200)
    email: Email
    company: str = Field(min_length=1, max_length=200)
    nodes: int = Field(ge=1, le=10_000_000)
    months: int = Field(ge=1, le=1200)
    remote_clusters: int = Field(default=0, ge=0, le=100_000)


class ActivateKey(_Strict):
    key: str = Field(min_length=1, max_length=MAX_KEY_BYTES)


@router.get("/license")
def license_status(ctl: Ctl, _: Agent) -> dict[str, Any]:
    """The license state with code, hint, warnings, terms and seats used."""
    return ctl.status()


@router.post("/license/request")
def license_request(body: RequestIn, ctl: Ctl, _: Admin) -> dict[str, Any]:
    """Make a request code to send to the vendor."""
    contact = Contact(body.name, body.email, body.company)
    code, text = ctl.svc.request(contact, nodes=body.nodes, months=body.months, remote_clusters=body.remote_clusters)
    return {"code": code, "file": text}


_KEY_BODY = {
    "text/plain": {"schema": {"type": "string"}},
    "multipart/form-data": {"schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}},
    "application/json": {"schema": ActivateKey.model_json_schema()},
}


@router.post(
    "/license/activate",
    openapi_extra={"requestBody": {"content": _KEY_BODY, "required": True}},
    responses={409: {"description": "refused: confirmation_required (the key takes something away; details.comparison)"}},
)
async def license_activate(
    request: Request,
    ctl: Ctl,
    _: Admin,
    dry_run: Annotated[bool, Query(description="only compare the key with the one in force; nothing changes")] = False,
    confirm: Annotated[bool, Query(description="apply a key that takes something away (fewer nodes, a shorter term, ...)")] = False,
) -> dict[str, Any]:
    """Activate a license key or file: the raw text as the body, a multipart upload (field ``file``), or JSON ``{"key"}``.

    A key that takes something away is applied only with ``confirm=true`` (409 ``confirmation_required`` otherwise,
    nothing changed).  ``dry_run=true`` answers the comparison with the key in force and whether it needs confirmation.
    """
    text = await _key_from_request(request)
    if dry_run:
        return {"dry_run": True, **await asyncio.to_thread(ctl.svc.preview, text)}
    act = await asyncio.to_thread(ctl.activate, text, confirm=confirm)
    status = await asyncio.to_thread(ctl.status)
    lic = act.verdict.license
    return {
        "activated": not act.unchanged,
        "unchanged": act.unchanged,
        "license_id": lic.license_id if lic else None,
        "replaced": act.replaced,
        "status": status,
    }


@router.post(
    "/license/clock/acknowledge",
    responses={422: {"description": "refused: clock_not_behind (nothing to acknowledge) or clock_rollback (behind proven time)"}},
)
def clock_acknowledge(request: Request, ctl: Ctl, _: Admin) -> dict[str, Any]:
    """Vouch that the system clock is right now, when only the controller's own earlier readings put it behind (audited)."""
    who = request.client.host if request.client else "?"
    return ctl.acknowledge_clock(f"admin via API from {who}")


@router.get("/license/history")
def license_history(ctl: Ctl, _: Admin) -> list[dict[str, Any]]:
    """Every key activated here, newest first."""
    return ctl.svc.history()


@router.get("/features/{name}")
def feature(name: Annotated[str, Path(max_length=100)], ctl: Ctl, _: Agent) -> dict[str, Any]:
    """Is feature ``name`` on under the license in force?"""
    v = ctl.verdict()
    on = feature_enabled(v, name)
    if on:
        return {"feature": name, "enabled": True, "code": "valid", "hint": f"feature '{name}' is licensed"}
    if v.keeps_seats:
        return {
            "feature": name,
            "enabled": False,
            "code": "not_licensed",
            "hint": f"feature '{name}' is not in this license: ask your vendor to add it",
        }
    return {"feature": name, "enabled": False, "code": v.code, "hint": v.hint}


@router.get("/updates")
def updates(
    ctl: Ctl,
    _: Agent,
    version: Annotated[str, Query(min_length=1, max_length=100)],
    released: Annotated[str, Query(description="release date, YYYY-MM-DD or RFC 3339", max_length=40)],
) -> dict[str, Any]:
    """May the release ``version``, published on ``released``, be installed?"""
    when = _release_date(released)
    v = ctl.verdict()
    if v.license is None:
        return {"version": version, "allowed": False, "code": v.code, "hint": v.hint}
    u = update_allowed(v.license, when)
    return {
        "version": version,
        "allowed": u.valid,
        "code": u.code,
        "hint": u.hint,
        "maintenance_until": fmt_time(v.license.maintenance_until),
    }


def _release_date(text: str) -> datetime:
    t = parse_day(text)
    if not in_range(t):
        raise UsageError(f"'{text[:40]}' is not a plausible release date: give one from {EARLIEST.year} to {LATEST.year - 1}")
    return t


async def _key_from_request(request: Request) -> str:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=5)
        except Exception:
            raise UsageError("The upload is not a valid multipart form: send the license file in a field named 'file'") from None
        item = form.get("file")
        if item is None or isinstance(item, str):
            raise UsageError("The upload has no file: send the license file in a field named 'file'")
        raw = await item.read(MAX_KEY_BYTES + 1)
    elif ctype == "application/json":
        try:
            doc = ActivateKey.model_validate_json(await request.body())
        except ValueError:
            raise UsageError('The JSON body must be {"key": "<license key or file text>"}') from None
        raw = doc.key.encode()
    else:
        raw = await request.body()
    if not raw.strip():
        raise UsageError("No license key was sent: send the key or license file as the request body")
    if len(raw) > MAX_KEY_BYTES:
        raise UsageError(f"The upload is over {MAX_KEY_BYTES} bytes; a license file is far smaller")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("The input is not text (it is not valid UTF-8): send the license file itself, not a binary file") from None
