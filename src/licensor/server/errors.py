"""JSON errors with ``code`` and ``hint`` everywhere, never a traceback, never a 5xx for bad input.

``install_error_handlers(app)`` maps:

- ``LicensorError``            -> its class's ``http_status``, body ``{"code", "hint", "details"?}``
                                  (``RateLimited``: with ``Retry-After`` from ``details["retry_after"]``)
- request validation failures  -> 422 ``invalid_request`` naming the field
- ``HTTPException`` (404, 405…) -> its status with a code derived from it; a 405 lists the path's methods in ``Allow``
- ``RecursionError``           -> 400 ``malformed`` (crafted, absurdly nested input; the parsers refuse it first)
- a body over ``max_body``      -> 413 ``too_large`` (checked before the body is read)
- PostgreSQL out of reach       -> 503 ``unavailable`` (connection lost or refused: a client may retry, or try another replica)
- anything else                -> 500 ``internal`` (a bug: logged, never shown)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import LicensorError, RateLimited, Unavailable
from .inputs import TOO_DEEP

log = logging.getLogger("licensor.http")

_PARSE_FAILED = "There was an error parsing the body"  # FastAPI's words for a body it could not read

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def error_response(code: str, hint: str, status: int, details: dict[str, Any] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "hint": hint}
    if details:
        body["details"] = details
    return JSONResponse(body, status_code=status)


def _validation_hint(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors = exc.errors()
    parts = []
    for e in errors[:3]:
        where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
        parts.append(f"{where or 'body'}: {e.get('msg', 'invalid')}")
    clean = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors[:10]]
    return "The request is not valid: " + "; ".join(parts) + ": fix these fields and send it again", clean


def install_error_handlers(app: FastAPI, *, max_body: int = 256 * 1024) -> None:
    @app.exception_handler(LicensorError)
    async def _licensor(_req: Request, exc: LicensorError) -> JSONResponse:
        resp = error_response(exc.code, exc.hint, exc.http_status, exc.details or None)
        if isinstance(exc, RateLimited) and isinstance(exc.details.get("retry_after"), int):
            resp.headers["Retry-After"] = str(exc.details["retry_after"])
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation(_req: Request, exc: RequestValidationError) -> JSONResponse:
        hint, errors = _validation_hint(exc)
        return error_response("invalid_request", hint, 422, {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        if exc.detail == _PARSE_FAILED:
            hint = "The request body could not be read (not JSON, not UTF-8, or nested far too deeply): send JSON as /openapi.json shows"
        elif isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed"):
            hint = exc.detail[:1].upper() + exc.detail[1:]
        else:
            hint = {
                404: "There is no such endpoint or object: see /openapi.json for the API",
                405: f"This endpoint does not take that method (it takes {headers.get('Allow') or 'none'}): see /openapi.json for the API",
            }.get(exc.status_code, "The request was refused")
        resp = error_response(code, hint, exc.status_code)
        resp.headers.update(headers)
        return resp

    @app.exception_handler(RecursionError)
    async def _too_deep(_req: Request, _exc: RecursionError) -> JSONResponse:
        # Only crafted input nests deep enough to exhaust the parser; the parsers refuse it themselves, this is the last guard.
        log.warning("refused input nested too deeply to parse")
        return error_response("malformed", TOO_DEEP, 400)

    @app.exception_handler(OperationalError)
    async def _database(req: Request, exc: OperationalError) -> JSONResponse:
        # psycopg's OperationalError: the connection failed or broke (SQLite's also means a bug, e.g. a missing table)
        if not exc.connection_invalidated and not type(exc.orig).__module__.startswith("psycopg"):
            return await _internal(req, exc)
        log.warning("the database is out of reach: %s", exc.orig)
        down = Unavailable("The database is out of reach: try again in a moment, or another replica")
        return error_response(down.code, down.hint, down.http_status)

    @app.exception_handler(Exception)
    async def _internal(_req: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return error_response("internal", "the server hit an internal error; it was logged: report it to your vendor", 500)

    app.add_middleware(BodyLimit, max_body=max_body)


def allowed_methods(request: Request) -> str:
    """The methods every route at this request's path takes (what a 405's ``Allow`` header must list)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


class BodyLimit:
    """Refuse bodies over ``max_body`` bytes with 413 before handlers read them."""

    def __init__(self, app: ASGIApp, max_body: int):
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await error_response("too_large", f"The request body is over {self.max_body} bytes: send less", 413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await error_response("too_large", f"The request body is over {self.max_body} bytes: send less", 413)(scope, receive, send)


class _TooLarge(Exception):
    pass
