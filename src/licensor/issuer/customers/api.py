"""``/api/v1/installations`` and ``/api/v1/customers``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ..deps import Issuer, Reader

router = APIRouter(prefix="/api/v1", tags=["customers"])


@router.get("/installations", summary="installations learned from request codes")
def installations(p: Reader, svc: Issuer, customer: str | None = None) -> list[dict[str, Any]]:
    return svc.customers.installations(customer)


@router.get("/installations/{installation_id}", summary="one installation")
def installation(installation_id: str, p: Reader, svc: Issuer) -> dict[str, Any]:
    return svc.customers.installation(installation_id)


@router.get("/customers", summary="customers")
def customers(p: Reader, svc: Issuer) -> list[dict[str, Any]]:
    return svc.customers.customers()
