"""The issuer's HTTP API (REST v1, OpenAPI at ``/openapi.json``) and web console: ``create_app(settings)``.

Wiring only: the services (``IssuerService``), each domain's ``APIRouter`` and console
views, error handlers and docs.  Every ``/api/v1`` route except ``POST /api/v1/login``
needs a caller (``deps.py``).  Errors are JSON with ``code`` and ``hint``.  The app keeps
no state of its own: replicas share the database.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import APIRouter, FastAPI

from .. import __version__
from ..server.errors import install_error_handlers
from ..server.openapi import document_errors, mount_docs
from .accounts.api import router as accounts_api
from .catalog.api import router as catalog_api
from .customers.api import router as customers_api
from .deps import SESSION_COOKIE
from .keys.api import router as keys_api
from .licenses.api import router as licenses_api
from .licenses.listing_api import router as listing_api
from .service import IssuerService
from .settings import IssuerSettings, load_settings
from .store import Store
from .usage.api import router as usage_api

__all__ = ["SESSION_COOKIE", "create_app", "create_app_from_env"]


def create_app_from_env() -> FastAPI:
    """The app as ``licensor vendor serve`` runs it (settings from the data dir and environment)."""
    data_dir = Path(os.environ.get("LICENSOR_DATA_DIR") or ".licensor")
    return create_app(load_settings(data_dir / "vendor"))


async def healthz() -> dict[str, bool]:
    """For load balancers: says nothing but "up".  On the event loop: no thread hop, nothing a login flood queues."""
    return {"ok": True}


def create_app(settings: IssuerSettings, service: IssuerService | None = None) -> FastAPI:
    svc = service or IssuerService(
        Store(settings.database_url),
        login_limit=settings.login_limit,
        login_window=timedelta(minutes=settings.login_window_minutes),
        login_address_limit=settings.login_address_limit,
        session_ttl=timedelta(hours=settings.session_hours),
        group_commit=True,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from .reminders.schedule import scheduled

        async with scheduled(svc, settings):  # the reminder sweep, when [reminders] interval_minutes is set
            yield

    app = FastAPI(
        lifespan=lifespan,
        title="licensor issuer",
        version=__version__,
        description="The vendor's license issuer: request codes in, signed license keys out.",
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app, max_body=settings.max_body)
    document_errors(app, guarded=lambda path: path.startswith("/api/"))
    mount_docs(app)
    app.state.service = svc
    app.state.settings = settings

    app.add_api_route("/healthz", healthz, methods=["GET"], include_in_schema=False)
    for router in (accounts_api, listing_api, licenses_api, customers_api, catalog_api, keys_api, usage_api):
        _add_routes(app, router)
    mount_console(app)
    mount_reminders(app)
    return app


def mount_console(app: FastAPI) -> None:
    """The vendor's web console: /login, /issue, /licenses, /customers, /installations, /keys, /usage, /reminders."""
    from ..web import mount_static
    from .accounts.views import router as accounts_views
    from .customers.views import router as customers_views
    from .keys.views import router as keys_views
    from .licenses.listing_views import router as listing_views
    from .licenses.views import router as licenses_views
    from .usage.views import router as usage_views

    mount_static(app)
    for router in (accounts_views, listing_views, licenses_views, customers_views, keys_views, usage_views):
        _add_routes(app, router)


def mount_reminders(app: FastAPI) -> None:
    """Expiry reminders: ``/api/v1/reminders`` and the console's ``/reminders`` page."""
    from .reminders.api import router as api
    from .reminders.views import router as views

    _add_routes(app, api)
    _add_routes(app, views)


def _add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes, as routes of the app itself: one flat route table (what ``app.routes`` lists, and tests read).

    Each router states its own prefix and tags; ``include_router`` would add a lazy wrapper instead."""
    app.router.routes.extend(router.routes)
