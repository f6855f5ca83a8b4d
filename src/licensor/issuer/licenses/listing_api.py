"""``GET /api/v1/licenses`` (search, filters, paging), ``/api/v1/licenses.csv`` (the same list as CSV), ``/api/v1/renewals``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from ...license import LicenseType
from ...server.inputs import Offset
from ...terms import State
from ..deps import Issuer, Reader
from .export import csv_filename, csv_text
from .listing import MAX_PAGE, Filters, Order

router = APIRouter(prefix="/api/v1", tags=["licenses"])
TOTAL = "X-Total-Count"


class ListQuery(BaseModel):
    """The filters of the license list; each given one must match."""

    q: str | None = Field(None, max_length=200, description="matches license id, customer, installation id, cluster name or product")
    state: State | None = Field(None, description="the license's state now (as the records' `state` says it)")
    type: LicenseType | None = None
    product: str | None = Field(None, max_length=200)
    customer: str | None = Field(None, max_length=200, description="the customer's exact name")
    installation_id: str | None = Field(None, max_length=100)
    due_days: int | None = Field(None, ge=1, le=3660, description="only the live keys that expire within this many days")
    order: Order = Field("newest", description="newest first (issue time), or soonest expiry first")

    def filters(self) -> Filters:
        return Filters(
            q=(self.q or "").strip(),
            state=self.state,
            type=self.type,
            product=self.product or None,
            customer=self.customer or None,
            installation_id=self.installation_id or None,
            due_days=self.due_days,
            order=self.order,
        )


class CSVResponse(Response):
    media_type = "text/csv"


@router.get(
    "/licenses",
    summary="list, search and filter licenses, newest first; X-Total-Count says how many match in all",
)
def list_licenses(
    p: Reader,
    svc: Issuer,
    response: Response,
    query: Annotated[ListQuery, Query()],
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[dict[str, Any]]:
    items, total = svc.listing.search(query.filters(), limit=limit, offset=offset)
    response.headers[TOTAL] = str(total)
    return items


@router.get(
    "/licenses.csv",
    summary="the filtered license list as a CSV file (every match, not one page)",
    response_class=CSVResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
def licenses_csv(p: Reader, svc: Issuer, query: Annotated[ListQuery, Query()]) -> CSVResponse:
    f = query.filters()
    text = csv_text(svc.listing.export(f))
    return CSVResponse(text, headers={"Content-Disposition": f'attachment; filename="{csv_filename(f, svc.clock())}"'})


@router.get("/renewals", summary="renewals due: the live keys that expire within `days` days, soonest first")
def renewals(
    p: Reader,
    svc: Issuer,
    response: Response,
    days: Annotated[int, Query(ge=1, le=3660)] = 30,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    offset: Annotated[Offset, Query()] = 0,
) -> list[dict[str, Any]]:
    items, total = svc.listing.search(Filters(due_days=days, order="expiry"), limit=limit, offset=offset)
    response.headers[TOTAL] = str(total)
    return items
