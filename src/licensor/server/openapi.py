"""The services' OpenAPI documents say what the services really answer, and their docs page works air-gapped.

``document_errors(app, guarded)`` declares, once for every operation, the
error answers the shared layers give (``install_error_handlers``, the auth
dependencies, the services' refusals), all with one body schema ``Error``
``{code, hint, details?}``; ``guarded(path)`` says which paths need a caller
(they also answer 401, 403 and 429).  FastAPI's own 422 schema (``detail``)
is replaced: our 422 is an ``Error`` like the rest.

``mount_docs(app)`` serves Swagger UI at ``/docs`` from the files the
``fastapi-offline`` package ships (installed with ``licensor[server]``): no
CDN, no outside host (a Content-Security-Policy says so to the browser too),
so the page works without Internet access.  ReDoc is not offered: one page is
enough, and it would load outside fonts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from .errors import error_response

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["code", "hint"],
    "properties": {
        "code": {"type": "string", "description": "stable: what scripts match on"},
        "hint": {"type": "string", "description": "a sentence a person can act on"},
        "details": {"type": "object", "description": "more about the refusal, e.g. the fields that are wrong"},
    },
    "additionalProperties": False,
}

ERRORS: dict[int, str] = {
    400: "malformed: the body, key or code cannot be read",
    401: "no credentials, or unknown or revoked ones",
    403: "the credentials lack the right (scope, role or CSRF token)",
    404: "no such object",
    409: "conflicts with the current state",
    413: "the request body is too large",
    422: "refused: a field is invalid, or the request cannot be honoured here and now",
    429: "too many attempts: wait, then try again",
}
#: The docs page's own inline script starts Swagger UI; the browser may load nothing from anywhere but this app.
DOCS_CSP = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
_ANYONE = (400, 413, 422)  # what any request can meet: an unreadable or oversized body, a bad parameter
_GUARDED = (400, 401, 403, 404, 409, 413, 422, 429)


def document_errors(app: FastAPI, guarded: Callable[[str], bool]) -> None:
    """Make ``app.openapi()`` declare every operation's error answers with the ``Error`` schema."""
    plain_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = plain_openapi()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["Error"] = ERROR_SCHEMA
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        ref = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        for path, operations in doc.get("paths", {}).items():
            for op in operations.values():
                responses = op.setdefault("responses", {})
                for status in _GUARDED if guarded(path) else _ANYONE:
                    declared = responses.setdefault(str(status), {})
                    declared.setdefault("description", ERRORS[status])
                    declared["content"] = ref
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs``, its script and style served by the app itself from the installed ``fastapi-offline``."""
    import fastapi_offline

    assets = Path(fastapi_offline.__file__).parent / "static"
    files = {
        "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "swagger-ui.css": "text/css; charset=utf-8",
        "favicon.png": "image/png",
    }

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title}: API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
            # Swagger UI would otherwise send the document to an outside validator for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/docs/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        if name not in files:
            return error_response("not_found", "there is no such file of the API docs page: open /docs", 404)
        return Response((assets / name).read_bytes(), media_type=files[name], headers={"Cache-Control": "max-age=3600"})


__all__ = ["ERRORS", "ERROR_SCHEMA", "document_errors", "mount_docs"]
