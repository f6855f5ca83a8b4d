"""``/api/v1/requests/inspect`` and ``/api/v1/licenses``: issue, list, show, download, renew, rehost, send."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field

from ...filenames import content_disposition
from ...license import LicenseType
from ...server.inputs import Clusters, GraceDays, Moment, Months, Nodes
from ...terms import Overrides
from ..catalog.api import Features
from ..deps import Issuer, Reader, Settings, Writer
from .records import Issued

router = APIRouter(prefix="/api/v1", tags=["licenses"])


class Successor(BaseModel):
    """The terms a rehost can change."""

    nodes: Nodes | None = None
    expires: Moment | None = None
    maintenance_until: Moment | None = None
    remote_clusters: Clusters | None = None
    features: Features | None = None


class Terms(Successor):
    months: Months | None = None


class IssueBody(Terms):
    request_code: str = Field(..., max_length=16384, description="the request code or request file text")
    plan: str | None = Field(None, max_length=100)
    type: LicenseType | None = None
    customer: str | None = Field(None, max_length=200)
    grace_days: GraceDays | None = None
    allow_unknown_features: bool = Field(False, description="issue features outside the product's catalogue (refused otherwise)")


class RenewBody(Terms):
    grace_days: GraceDays | None = None


class RehostBody(Successor):
    request_code: str = Field(..., max_length=16384)


class InspectBody(BaseModel):
    request_code: str = Field(..., max_length=16384)


class SendBody(BaseModel):
    to: str | None = Field(None, max_length=320, description="one plain e-mail address; default: the contact e-mail of the request code")


def _issued(issued: Issued, status: int = 201) -> JSONResponse:
    data = issued.as_dict()
    data["file"] = issued.file
    data["token"] = issued.token
    return JSONResponse(data, status_code=status)


@router.post("/requests/inspect", summary="check and decode a request code (nothing is stored)")
def inspect(body: InspectBody, p: Reader, svc: Issuer) -> dict[str, Any]:
    return svc.licenses.inspect(body.request_code).summary()


@router.post("/licenses", status_code=201, summary="issue a license from a request code")
def issue(body: IssueBody, p: Writer, svc: Issuer) -> JSONResponse:
    terms = Overrides(**body.model_dump(exclude={"request_code", "plan", "customer", "allow_unknown_features"}))
    unknown_ok = body.allow_unknown_features
    issued = svc.licenses.issue(
        body.request_code, actor=p.actor, plan=body.plan, customer=body.customer, terms=terms, allow_unknown_features=unknown_ok
    )
    return _issued(issued)


# GET /licenses (search, filters, paging) and /licenses.csv: listing_api.py.


@router.get("/licenses/{license_id}", summary="one license")
def get_license(license_id: str, p: Reader, svc: Issuer) -> dict[str, Any]:
    return svc.licenses.get(license_id)


@router.get("/licenses/{license_id}/file", summary="download the license file", response_class=PlainTextResponse)
def license_file(license_id: str, p: Reader, svc: Issuer) -> PlainTextResponse:
    issued = svc.licenses.issued(license_id)
    return PlainTextResponse(issued.file, headers={"Content-Disposition": content_disposition(issued.filename)})


@router.post("/licenses/{license_id}/renew", status_code=201, summary="renew: next serial, term extended")
def renew(license_id: str, body: RenewBody, p: Writer, svc: Issuer) -> JSONResponse:
    return _issued(svc.licenses.renew(license_id, actor=p.actor, terms=Overrides(**body.model_dump())))


@router.post("/licenses/{license_id}/rehost", status_code=201, summary="move to a new installation")
def rehost(license_id: str, body: RehostBody, p: Writer, svc: Issuer) -> JSONResponse:
    terms = Overrides(**body.model_dump(exclude={"request_code"}))
    return _issued(svc.licenses.rehost(license_id, body.request_code, actor=p.actor, terms=terms))


@router.post("/licenses/{license_id}/send", summary="e-mail the license file")
def send(license_id: str, body: SendBody, p: Writer, svc: Issuer, settings: Settings) -> dict[str, Any]:
    from ..mail import check_address, license_message
    from ..mail import send as smtp_send

    issued = svc.licenses.issued(license_id)
    to = check_address(body.to or svc.licenses.contact_email(license_id))
    smtp_send(settings.smtp, license_message(issued, sender=settings.smtp.sender, to=to))
    svc.licenses.record_sent(license_id, to, p.actor)
    return {"sent": True, "to": to, "license_id": license_id}
