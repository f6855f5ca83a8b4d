"""``/api/v1/installations`` and ``/api/v1/customers`` (with each customer's expiry reminders on or off)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ..deps import Issuer, Reader, Writer

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


#: A customer's id, as ``/api/v1/customers`` lists it.
CustomerId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class RemindersBody(BaseModel):
    enabled: bool = Field(..., description="true: the customer gets expiry reminders (the default); false: opted out")


@router.put("/customers/{customer_id}/reminders", summary="turn a customer's expiry reminders on or off")
def set_reminders(customer_id: CustomerId, body: RemindersBody, p: Writer, svc: Issuer) -> dict[str, Any]:
    return svc.customers.set_reminders(customer_id, body.enabled, actor=p.actor)
