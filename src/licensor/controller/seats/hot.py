"""The hot path of the seat API: joins and heartbeats answered without the router and FastAPI's request handling.

An agent fleet sends almost nothing else, and for those two requests the route lookup (a scan of the routes with a
regular expression each), the dependency solver and the response classes cost more than the seat batch itself.
``install(app)`` puts ``HotPath`` in front of the app's router, inside the app's middleware (body limit, error
handlers), so what it raises is answered exactly as a route's exception is.

It answers only what it can answer the way the routes in ``api.py`` would, from the same parts (the body model, the
credentials cache, the batcher, ``seated``); anything else goes on to the router untouched, where those routes answer it:

- a path that is not exactly a join or heartbeat, a seat id the route's pattern refuses (the route's 422);
- credentials not checked a moment ago (``Accounts.cached_role``): the route checks them in a thread, and caches them.

A body that is not a valid ``NodeIn`` / ``ClusterIn`` raises the same ``RequestValidationError`` as ``json_body``.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ...server.inputs import json_body
from ..batch import Batcher
from ..deps import ID_PATTERN
from ..runtime import Controller
from .api import BODY, SEAT_SECRET_HEADER, join_op, seated
from .service import Op, Outcome

_ID = re.compile(ID_PATTERN)
_PREFIX = "/api/v1/"
_KINDS = {"nodes": "node", "clusters": "cluster"}
_SECRET = SEAT_SECRET_HEADER.encode()


def route(path: str) -> tuple[str, str] | None:
    """``(kind, "")`` for a join's path, ``(kind, seat id)`` for a heartbeat's; None for any other path."""
    if not path.startswith(_PREFIX):
        return None
    plural, _, rest = path[len(_PREFIX) :].partition("/")
    kind = _KINDS.get(plural)
    if kind is None:
        return None
    if rest == "join":
        return kind, ""
    seat_id, _, tail = rest.partition("/")
    # The route's own check (``SeatId``: pattern and length); a seat id it refuses goes to the route for its 422.
    if tail == "heartbeat" and len(seat_id) <= 200 and _ID.fullmatch(seat_id):
        return kind, seat_id
    return None


class HotPath:
    """ASGI: seat joins and heartbeats of agents whose credentials were checked a moment ago; the rest goes on to ``app``."""

    def __init__(self, app: ASGIApp, ctl: Controller, batcher: Batcher[Op, Outcome]) -> None:
        self.app, self.ctl, self.batcher = app, ctl, batcher

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = route(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path") else None
        if hit is None:
            await self.app(scope, receive, send)
            return
        auth, secret = _headers(scope)
        # ``deps.agent``'s fast case: a bearer token answered from memory; anything else is the route's to check.
        if auth[:7].lower() != "bearer " or self.ctl.accounts.cached_role(auth[7:].strip()) is None:
            await self.app(scope, receive, send)
            return
        kind, seat_id = hit
        if seat_id:
            op = Op("heartbeat", kind, seat_id, secret=secret)
        else:
            op = join_op(kind, await json_body(Request(scope, receive), BODY[kind]), secret)
        await seated(self.ctl, await self.batcher.submit(op))(scope, receive, send)


def _headers(scope: Scope) -> tuple[str, str]:
    """The first ``Authorization`` and ``X-Seat-Secret`` headers (empty if absent), as ``Request.headers`` reads them."""
    auth = secret = None
    for k, v in scope["headers"]:
        if k == b"authorization" and auth is None:
            auth = v.decode("latin-1")
        elif k == _SECRET and secret is None:
            secret = v.decode("latin-1")
    return auth or "", secret or ""


def install(app: FastAPI) -> None:
    """Put ``HotPath`` in front of ``app``'s router (``app.state.controller`` and ``app.state.batcher`` must be set)."""
    app.router.middleware_stack = HotPath(app.router.middleware_stack, app.state.controller, app.state.batcher)
