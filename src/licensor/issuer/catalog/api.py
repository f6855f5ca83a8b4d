"""``/api/v1/products`` and ``/api/v1/plans``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ...license import LicenseType
from ...server.inputs import GraceDays, Months, Nodes
from ...terms import Plan
from ..deps import CatalogWriter, Issuer, Reader

router = APIRouter(prefix="/api/v1", tags=["catalogue"])

Features = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)]


class PlanBody(BaseModel):
    type: LicenseType
    months: Months | None = None
    maintenance_months: Months | None = None
    nodes: Nodes | None = None
    features: Features = []
    grace_days: GraceDays = 0


class ProductBody(BaseModel):
    features: Features = []


@router.get("/products", summary="products and their feature catalogues")
def products(p: Reader, svc: Issuer) -> list[dict[str, Any]]:
    return svc.catalog.products()


@router.put("/products/{name}", summary="create a product or set its feature catalogue")
def put_product(name: str, body: ProductBody, p: CatalogWriter, svc: Issuer) -> dict[str, Any]:
    return svc.catalog.set_product(name, body.features, actor=p.actor)


@router.get("/plans", summary="plans (defaults for issuing)")
def plans(p: Reader, svc: Issuer) -> list[dict[str, Any]]:
    return svc.catalog.plans()


@router.put("/plans/{name}", summary="create or change a plan")
def put_plan(name: str, body: PlanBody, p: CatalogWriter, svc: Issuer) -> dict[str, Any]:
    return svc.catalog.set_plan(Plan(name=name, **body.model_dump()), actor=p.actor)
