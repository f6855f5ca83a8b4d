"""The controller's web console (customer side): sign-in, dashboard, License page, configuration, nodes, clusters, about.

``mount_console(app, ctl)`` adds the server-rendered pages to the controller app; the views live with their
domain (``accounts``, ``license``, ``seats``) and in ``web/views.py``, the frame they share in ``web/shell.py``.
"""

from __future__ import annotations

from fastapi import FastAPI

from ...web import mount_static
from ..accounts.views import router as accounts_views
from ..deps import serve_routes
from ..license.views import router as license_views
from ..runtime import Controller
from ..seats.views import router as seats_views
from . import shell
from .shell import COOKIE, Shell, banner
from .views import router as console_views


def mount_console(app: FastAPI, ctl: Controller, *, session_hours: float | None = None) -> None:
    """Serve the console of ``ctl`` on ``app``; sessions last ``session_hours`` (default ``$LICENSOR_CONSOLE_SESSION_HOURS`` or 8)."""
    app.state.console = Shell(ctl, session_hours or shell.session_hours())
    mount_static(app)
    serve_routes(app, accounts_views, console_views, license_views, seats_views)


__all__ = ["COOKIE", "banner", "mount_console"]
