"""The seat API: nodes and remote clusters join, keep their seat with heartbeats, and leave; admins list them.

Join and heartbeat are the hot path: no dependency injection, the body is validated straight from bytes (same
model, same 422 errors as elsewhere), and each request waits for its batch (``app.state.batcher``).  Most of them
never reach these routes: ``hot.py`` answers them in front of the router from the same parts (``BODY``,
``join_op``, ``seated``) and hands the rest (credentials not checked a moment ago, a seat id the pattern refuses) here.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ... import seats
from ...server.errors import error_response
from ...server.inputs import json_body
from ..batch import Batcher
from ..deps import ID_PATTERN, Admin, Agent, Ctl, SeatId, agent, controller
from ..runtime import Controller
from .service import Op, Outcome
from .store import NOUN

#: The header a seat's holder presents its seat secret in (join: optional, to rejoin; heartbeat and leave: required).
SEAT_SECRET_HEADER = "x-seat-secret"  # noqa: S105 (a header name, not a secret)

router = APIRouter(prefix="/api/v1")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class NodeIn(_Strict):
    node_id: str = Field(pattern=ID_PATTERN, description="a stable id of the node, kept across restarts")
    address: str = Field(default="", max_length=200)


class ClusterIn(_Strict):
    cluster_id: str = Field(pattern=ID_PATTERN, description="a stable id of the remote controller cluster")
    address: str = Field(default="", max_length=200)


class Seated(BaseModel):
    admitted: bool
    status: str
    code: str
    hint: str
    heartbeat_ttl: int
    heartbeat_interval: float
    seat_secret: str | None = Field(
        default=None, description="a new seat's secret, answered once: send it in X-Seat-Secret with every heartbeat, leave and rejoin"
    )


async def _submit(request: Request, op: Op) -> Outcome:
    batcher: Batcher[Op, Outcome] = request.app.state.batcher
    return await batcher.submit(op)


def seated(ctl: Controller, o: Outcome) -> Response:
    """The answer to a join or heartbeat: the seat, or the refusal with its code, hint and HTTP status."""
    if not o.ok:
        return error_response(o.code, o.hint, o.http_status, {"status": o.status})
    ttl = ctl.ttl.total_seconds()
    body: dict[str, Any] = {"admitted": True, "status": o.status, "code": o.code, "hint": o.hint}
    body.update({"heartbeat_ttl": int(ttl), "heartbeat_interval": max(0.2, ttl / 3)})
    if o.secret:
        body["seat_secret"] = o.secret
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def join_op(kind: str, data: NodeIn | ClusterIn, secret: str) -> Op:
    """The join ``data`` (a validated body) asks for, presenting the seat ``secret`` (X-Seat-Secret; empty: none)."""
    return Op("join", kind, data.node_id if isinstance(data, NodeIn) else data.cluster_id, data.address, secret)


#: The body model of each kind's join.
BODY: dict[str, type[NodeIn] | type[ClusterIn]] = {"node": NodeIn, "cluster": ClusterIn}


def _join(kind: str) -> Callable[[Request], Awaitable[Response]]:
    async def join(request: Request) -> Response:
        await agent(request)
        op = join_op(kind, await json_body(request, BODY[kind]), request.headers.get(SEAT_SECRET_HEADER, ""))
        return seated(controller(request), await _submit(request, op))

    return join


def _heartbeat(kind: str) -> Callable[..., Awaitable[Response]]:
    async def heartbeat(request: Request, seat_id: SeatId) -> Response:
        await agent(request)
        op = Op("heartbeat", kind, seat_id, secret=request.headers.get(SEAT_SECRET_HEADER, ""))
        return seated(controller(request), await _submit(request, op))

    return heartbeat


_SecretHeader = Annotated[
    str, Header(alias="X-Seat-Secret", description="the seat's secret; an admin may leave it out to release any seat")
]


def _leave(kind: str) -> Callable[..., Awaitable[Any]]:
    async def leave(request: Request, seat_id: SeatId, role: Agent, x_seat_secret: _SecretHeader = "") -> Any:
        o = await _submit(request, Op("leave", kind, seat_id, secret=x_seat_secret, admin=role == "admin"))
        if not o.ok:
            return error_response(o.code, o.hint, o.http_status, {"status": o.status})
        return {"left": o.status == "left", "code": o.code, "hint": o.hint}

    return leave


def _listing(kind: str) -> Callable[..., dict[str, Any]]:
    def listing(ctl: Ctl, _: Admin) -> dict[str, Any]:
        v = ctl.verdict()
        items = ctl.seats(kind)
        used = sum(1 for i in items if i["alive"]) if v.keeps_seats else 0
        return {"items": items, "used": used, "limit": seats.limit(v, kind), "state": v.code}

    return listing


def _secret_doc(required: bool, what: str) -> dict[str, Any]:
    return {"name": "X-Seat-Secret", "in": "header", "required": required, "schema": {"type": "string"}, "description": what}


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": Seated},
    409: {"description": "not_joined: no seat held (heartbeat), join again; seat_taken: another agent holds this id's seat (join)"},
    422: {"description": "refused: code and hint (missing, expired, limit_reached, …)"},
}
_BEAT_RESPONSES = {**_RESPONSES, 403: {"description": "seat_secret: the heartbeat did not present the seat's secret (X-Seat-Secret)"}}


def add_routes(kind: str) -> None:
    plural, noun = f"{kind}s", NOUN[kind]
    body_doc = {
        "requestBody": {"content": {"application/json": {"schema": BODY[kind].model_json_schema()}}, "required": True},
        "parameters": [_secret_doc(False, "the seat's secret, to rejoin a seat this agent holds")],
    }
    beat_doc = {"parameters": [_secret_doc(True, "the seat's secret, answered by the join")]}

    def route(path: str, endpoint: Callable[..., Any], method: str, summary: str, **extra: Any) -> None:
        router.add_api_route(f"/{plural}{path}", endpoint, methods=[method], tags=[plural], summary=summary, **extra)

    route("/join", _join(kind), "POST", f"a {noun} asks for a seat", responses=_RESPONSES, openapi_extra=body_doc)
    route("/{seat_id}/heartbeat", _heartbeat(kind), "POST", f"a {noun} keeps its seat", responses=_BEAT_RESPONSES, openapi_extra=beat_doc)
    leave_doc = {403: {"description": "seat_secret: the leave did not present the seat's secret"}}
    route("/{seat_id}", _leave(kind), "DELETE", f"a {noun} leaves and frees its seat (an admin: releases it)", responses=leave_doc)
    route("", _listing(kind), "GET", f"{noun}s holding seats")


add_routes("node")
add_routes("cluster")
