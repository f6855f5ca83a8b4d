"""What the issuer's console views share: templates, the sign-in gate, rendering, form parsing.

The console is server-rendered pages beside the API (each domain's ``views.py``)::

    GET  /login  POST /login  POST /logout      admin sign-in (users from 'licensor vendor admin create-user')
    GET  /issue                                 paste or upload a request code
    POST /issue/preview                         the request: installation, contact, what is asked, factors, earlier
                                                licenses; an issue form prefilled from plan and request
    POST /issue                                 sign; then the license page shows it with Copy, Download, Send by e-mail
    GET  /licenses?q=&state=&type=&product=     search and filter licenses, page by page; /licenses.csv the same as CSV
    GET  /renewals?days=30|60|90                the live keys expiring within that many days
    GET  /licenses/{id}                         one license: file, Copy, Download, Send by e-mail, renew, rehost
    GET  /licenses/{id}/download                the license file
    POST /licenses/{id}/renew  …/rehost  …/send
    GET  /customers  /installations  /installations/{id}
    GET  /keys  POST /keys/rotate  POST /keys/{kid}/remove  GET /keys/public.txt   signing keys; the published set
    GET  /usage  POST /usage                    imported usage reports; import one
    GET  /reminders  POST /reminders/run        expiry reminders due, sent and failed; "Send reminders now"
    POST /customers/{id}/reminders              a customer's expiry reminders on or off

The session is the API's session cookie (``AccountService.login``); every form
carries that session's CSRF token.  Views parse, call the services and render.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...clock import parse_day
from ...errors import InvalidInput, LicensorError
from ...server.inputs import EARLIEST, LATEST, in_range
from ...web import Pages, refusal
from ...web.console import Console
from ..accounts.service import Principal
from ..deps import SESSION_COOKIE, settings_of
from ..deps import service_of as issuer
from ..settings import IssuerSettings

NAV = [
    ("/issue", "Issue"),
    ("/licenses", "Licenses"),
    ("/renewals", "Renewals due"),
    ("/customers", "Customers"),
    ("/installations", "Installations"),
    ("/keys", "Signing keys"),
    ("/usage", "Usage reports"),
    ("/reminders", "Reminders"),
]
MAX_CODE = 16384
PAGES = Pages(Path(__file__).parent / "templates", title="licensor issuer", nav=NAV)


async def principal(request: Request) -> Principal | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > 200:
        return None
    return await run_in_threadpool(issuer(request).accounts.session_principal, cookie)


def console_for(hours: float) -> Console[Principal]:
    """The sign-in gate; ``hours``: how long a new session's cookie lasts."""
    return Console(PAGES, user=principal, cookie=SESSION_COOKIE, home="/issue", hours=hours, max_fields=30)


#: The gate of every view (who is signed in, CSRF-checked forms); signing in takes the settings' session hours.
console = console_for(IssuerSettings.session_hours)


def render(request: Request, p: Principal, name: str, code: int = 200, **ctx: Any) -> Response:
    return PAGES.render(request, name, code, user=p.actor.removeprefix("user:"), csrf=p.csrf, **ctx)


def not_found(request: Request, p: Principal, e: LicensorError) -> Response:
    return render(request, p, "message.html", 404, page_title="Not found", error=refusal(e, "Not found"))


def features(text: str) -> tuple[str, ...]:
    """Feature names from a form field: comma- or line-separated, sorted, each once."""
    return tuple(sorted({f.strip() for f in text.replace("\n", ",").split(",") if f.strip()}))


def expiry(text: str) -> datetime | None:
    """The expiry day of a form (``YYYY-MM-DD``, read as UTC), None if empty; within the bounds a key can carry."""
    if not text:
        return None
    try:
        t = parse_day(text)
    except LicensorError:
        raise InvalidInput(f"'{text[:40]}' is not a date: use YYYY-MM-DD") from None
    if not in_range(t):
        raise InvalidInput(
            f"The expiry date must lie from {EARLIEST.year}-01-01 to before {LATEST.year}-01-01: for no expiry, leave it empty "
            "and choose the perpetual type"
        )
    return t


__all__ = [
    "MAX_CODE",
    "NAV",
    "PAGES",
    "console",
    "console_for",
    "expiry",
    "features",
    "issuer",
    "not_found",
    "principal",
    "render",
    "settings_of",
]
