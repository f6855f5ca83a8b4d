"""``/api/v1/keys``: the published public set, the signing keys, rotation and removal."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from ..deps import Issuer, KeysAdmin, Reader

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])


@router.get("/public", summary="the public key set products trust", response_class=PlainTextResponse)
def public_keys(p: Reader, svc: Issuer) -> PlainTextResponse:
    return PlainTextResponse(svc.keys.public_set().to_text())


@router.get("", summary="signing keys and their states")
def keys(p: KeysAdmin, svc: Issuer) -> list[dict[str, Any]]:
    return svc.keys.list()


@router.post("/rotate", summary="a new active signing key; the old one is retired but still published")
def rotate(p: KeysAdmin, svc: Issuer) -> dict[str, Any]:
    return svc.keys.rotate(p.actor)


@router.delete("/{kid}", summary="remove a retired key from the published set", status_code=204)
def remove_key(kid: str, p: KeysAdmin, svc: Issuer) -> Response:
    svc.keys.remove(kid, p.actor)
    return Response(status_code=204)
