"""The hot path of the seat API: joins and heartbeats answered before the app's middleware and router.

An agent fleet sends almost nothing else, and for those two requests FastAPI's middleware (telemetry, two body
limits, the error layers, each wrapping ``send``), the route lookup (a scan of the routes with a regular expression
each), the dependency solver and the response classes cost more than the seat batch itself.  ``HotApp`` is the
controller's FastAPI app with ``HotPath`` at its front door: a join or heartbeat it can answer goes straight to the
batcher, everything else goes through the whole app as before.

It answers only what it can answer the way the routes in ``api.py`` would, from the same parts (the body model, the
credentials cache, the batcher, ``seated``), and hands everything else to the whole app, which answers it as ever:

- a path that is not exactly a join or heartbeat, a seat id the route's pattern refuses (the route's 422);
- credentials not checked a moment ago (``Accounts.cached_role``): the route checks them in a thread, and caches them;
- a body without a ``Content-Length`` or over the app's limit (the body limit's 413, or the route).

Anything raised on the way (a body that is not a valid ``NodeIn`` / ``ClusterIn``, a database out of reach, a bug)
is raised again inside the app, in front of the router (``Reraise``), so the app's error handlers answer it exactly
as they answer a route's exception.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...server.inputs import parse_json
from ..batch import Batcher
from ..deps import ID_PATTERN
from ..runtime import Controller
from .api import BODY, SEAT_SECRET_HEADER, join_op, seated
from .service import Op, Outcome

_ID = re.compile(ID_PATTERN)
_PREFIX = "/api/v1/"
_KINDS = {"nodes": "node", "clusters": "cluster"}
_SECRET = SEAT_SECRET_HEADER.encode()
#: The scope key under which ``HotPath`` hands an exception to ``Reraise``.
RAISE = "licensor.hot_path.raise"


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
    """ASGI: seat joins and heartbeats of agents whose credentials were checked a moment ago; the rest goes on to ``app``
    (the whole app: its middleware, its router)."""

    def __init__(self, app: ASGIApp, ctl: Controller, batcher: Batcher[Op, Outcome], max_body: int) -> None:
        self.app, self.ctl, self.batcher, self.max_body = app, ctl, batcher, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = route(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path") else None
        if hit is None:
            await self.app(scope, receive, send)
            return
        auth, secret, length = _headers(scope)
        # ``deps.agent``'s fast case: a bearer token answered from memory; anything else is the route's to check.
        kind, seat_id = hit
        if not _fits(length, not seat_id, self.max_body) or (
            auth[:7].lower() != "bearer " or self.ctl.accounts.cached_role(auth[7:].strip()) is None
        ):
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        try:
            if seat_id:
                op = Op("heartbeat", kind, seat_id, secret=secret)
            else:
                raw = await _body(receive, read)
                if raw is None:  # the client went away first: the app answers it as ever
                    await self.app(scope, _replay(read, receive), send)
                    return
                op = join_op(kind, parse_json(raw, BODY[kind]), secret)
            outcome = await self.batcher.submit(op)
        except Exception as exc:  # answered by the app's handlers, as a route's exception is
            await self.app({**scope, RAISE: exc}, _replay(read, receive), send)
            return
        await seated(self.ctl, outcome)(scope, receive, send)


def _fits(length: str, join: bool, max_body: int) -> bool:
    """Whether a request with this ``Content-Length`` (empty: none) is the hot path's: a join's body must state its
    length (else the route reads it); a length over ``max_body``, or not a number, is the body limit's 413."""
    if not length:
        return not join
    return length.isdigit() and int(length) <= max_body


async def _body(receive: Receive, read: list[Message]) -> bytes | None:
    """The request body, its messages kept in ``read``; None if the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(read: list[Message], receive: Receive) -> Receive:
    """``receive`` that first answers the messages already ``read``."""
    pending = list(read)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


def _headers(scope: Scope) -> tuple[str, str, str]:
    """The first ``Authorization`` and ``X-Seat-Secret`` headers, as ``Request.headers`` reads them, and the last
    ``Content-Length``, as the body limit reads it (empty if absent)."""
    auth = secret = length = None
    for k, v in scope["headers"]:
        if k == b"authorization" and auth is None:
            auth = v.decode("latin-1")
        elif k == _SECRET and secret is None:
            secret = v.decode("latin-1")
        elif k == b"content-length":
            length = v.decode("latin-1")
    return auth or "", secret or "", length or ""


class Reraise:
    """ASGI in front of the router: raises the exception ``HotPath`` handed over, where a route's would be raised."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = scope.get(RAISE)
        if exc is not None:
            raise exc
        await self.app(scope, receive, send)


class HotApp(FastAPI):
    """A FastAPI app with ``HotPath`` at its front door (``install``); without it, a plain FastAPI app."""

    hot: HotPath | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None:
            await self.hot(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def install(app: HotApp, max_body: int) -> None:
    """Put ``HotPath`` at ``app``'s front door (``app.state.controller`` and ``app.state.batcher`` must be set), and
    ``Reraise`` in front of its router; ``max_body``: the body limit the app's middleware enforces."""
    whole: Any = partial(FastAPI.__call__, app)
    app.hot = HotPath(whole, app.state.controller, app.state.batcher, max_body)
    app.router.middleware_stack = Reraise(app.router.middleware_stack)
