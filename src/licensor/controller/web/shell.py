"""What every page of the controller's console shares: the sign-in gate, sessions, the page frame and its banner.

The views live with their domain (``license/views.py``, ``seats/views.py``, ``accounts/views.py``, ``web/views.py``);
each reaches the controller through ``shell(request)``.  Every form carries a CSRF token; sessions are signed
cookies that expire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ...nextstep import console_step
from ...policy import STATES
from ...web import Pages, Session, SignedSessions
from ...web.console import Console
from ..build import build_date as build_date  # re-exported: the About page's
from ..runtime import Controller

COOKIE = "licensor_controller_session"
NAV = [
    ("/", "Dashboard"),
    ("/nodes", "Nodes"),
    ("/clusters", "Clusters"),
    ("/seats", "Seats"),
    ("/settings/license", "License"),
    ("/settings/configuration", "Configuration"),
    ("/about", "About"),
]
#: The console's word for each verdict state (``licensor.policy.STATES``).
STATE_WORDS = {s.code: s.words for s in STATES if s.words}
PAGES = Pages(Path(__file__).parent / "templates", title="licensor controller", nav=NAV)


class Shell:
    """One app's console: its controller and its sessions (``app.state.console``)."""

    def __init__(self, ctl: Controller, hours: float) -> None:
        self.ctl, self.hours = ctl, hours
        self._sessions: SignedSessions | None = None

    def sessions(self) -> SignedSessions:
        if self._sessions is None:
            self._sessions = SignedSessions(self.ctl.accounts.session_secret(), ttl_seconds=self.hours * 3600)
        return self._sessions

    def current(self, request: Request) -> Session | None:
        gen = self.ctl.accounts.password_generation()
        if gen is None:
            return None
        return self.sessions().check(request.cookies.get(COOKIE), gen)


def shell(request: Request) -> Shell:
    s: Shell = request.app.state.console
    return s


async def _signed_in(request: Request) -> Session | None:
    return await run_in_threadpool(shell(request).current, request)


def session_hours() -> float:
    return float(os.environ.get("LICENSOR_CONSOLE_SESSION_HOURS", "8"))


console = Console(PAGES, user=_signed_in, cookie=COOKIE, home="/", hours=session_hours(), max_fields=20)


def page_context(ctl: Controller, sess: Session) -> dict[str, Any]:
    status = ctl.status()
    return {"user": sess.user, "csrf": sess.csrf, "status": status, "banner": banner(status), "state_words": STATE_WORDS}


async def show(
    request: Request,
    sess: Session,
    template: str,
    title: str,
    status_code: int = 200,
    more: Callable[[Controller], dict[str, Any]] | None = None,
    **ctx: Any,
) -> Response:
    """A page with what every page shows (the license state and its banner) and ``more(ctl)``, both read in a thread."""
    ctl = shell(request).ctl

    def data() -> dict[str, Any]:
        shown = page_context(ctl, sess)
        if more is not None:
            shown.update(more(ctl))
        return shown

    shown = await run_in_threadpool(data)
    return PAGES.render(request, template, status_code, page_title=title, **{**shown, **ctx})


def banner(status: dict[str, Any]) -> dict[str, Any] | None:
    """The banner every page shows while the license is not valid, or is near expiry or maintenance end."""
    if status.get("state") != "valid":
        state = status.get("state", "")
        step = console_step(state, status.get("details"))
        hints = [status.get("hint", "")] + ([step] if step else [])
        return {"level": "bad", "title": STATE_WORDS.get(state, "License problem"), "hints": hints}
    if status.get("warnings"):
        return {"level": "warn", "title": "License needs attention", "hints": list(status["warnings"])}
    return None
