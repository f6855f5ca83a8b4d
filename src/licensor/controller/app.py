"""The controller's HTTP service: ``create_app(settings)`` wires the domain routers, the console and the batcher.

Routes (all JSON; errors are ``{"code", "hint"}`` with the CLI's codes):

    GET  /healthz                               liveness, no auth                         metrics.py
    GET  /metrics                               Prometheus text, no auth                  metrics.py
    GET  /api/v1/license                        status            admin or agent          license/api.py
    POST /api/v1/license/request                request code      admin
    POST /api/v1/license/activate               activate a key    admin (raw text body or multipart file)
    POST /api/v1/license/clock/acknowledge      vouch for the clock  admin
    GET  /api/v1/license/history                                  admin
    GET  /api/v1/features/{name}                                  admin or agent
    GET  /api/v1/updates?version=V&released=D                     admin or agent
    POST /api/v1/nodes/join                     {"node_id"}       agent (join token) or admin; answers the seat_secret   seats/api.py
    POST /api/v1/nodes/{id}/heartbeat           X-Seat-Secret     agent or admin, with the seat's secret
    DELETE /api/v1/nodes/{id}                   leave             agent with the seat's secret; admin: release any seat
    GET  /api/v1/nodes                                            admin
    POST /api/v1/clusters/join                  {"cluster_id"}    agent or admin   (same for heartbeat, leave, list)
    GET  /api/v1/audit  /api/v1/audit/verify                      admin                   audit/api.py
    GET  /api/v1/usage/{YYYY-MM}                                  admin                   usage/api.py

Who may call what is in ``deps.py``; the console's pages in ``web/``.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI

from ..clock import Clock, system_clock
from ..errors import UsageError
from ..server.errors import install_error_handlers
from ..server.openapi import document_errors, mount_docs
from .audit.api import router as audit_api
from .batch import Batcher
from .clock import clock_from_env
from .deps import serve_routes
from .license.api import router as license_api
from .license.service import ControllerService
from .metrics import render_metrics
from .metrics import router as service_api
from .runtime import Controller
from .seats.api import router as seats_api
from .seats.hot import HotApp
from .seats.hot import install as seats_hot_path
from .seats.service import Op, Outcome
from .usage.api import router as usage_api

log = logging.getLogger("licensor.controller")


@dataclass
class ControllerSettings:
    """What ``create_app`` needs; ``from_env()`` reads ``LICENSOR_*`` variables (how ``serve`` passes them to workers)."""

    database_url: str
    heartbeat_ttl: float = 60.0
    max_body: int = 256 * 1024
    clock: Clock | None = None
    factors: dict[str, str] | None = None
    batch_max: int = 1000
    sweep_interval: float | None = None  # default: a third of the TTL
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> "ControllerSettings":
        url = os.environ.get("LICENSOR_DATABASE_URL")
        if not url:
            raise UsageError("LICENSOR_DATABASE_URL is not set: start the service with 'licensor controller serve'")
        return cls(database_url=url, heartbeat_ttl=float(os.environ.get("LICENSOR_HEARTBEAT_TTL", "60")), clock=clock_from_env())


async def _sweeper(ctl: Controller, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.to_thread(ctl.sweep)
        except Exception:  # the next round tries again; a DB hiccup must not stop the sweeper
            log.exception("sweeping silent seats failed")


def create_app(settings: ControllerSettings) -> HotApp:
    from .host import collect_factors
    from .store import Store
    from .web import mount_console  # the admin's web console: /, /settings/license, /nodes, …

    svc = ControllerService(
        Store(settings.database_url), factors=settings.factors or collect_factors(), clock=settings.clock or system_clock
    )
    svc.store.create_schema()
    ctl = Controller(svc, heartbeat_ttl=settings.heartbeat_ttl)
    ctl.seating.check_counts()  # a count that drifted while no controller ran is repaired (audited) before the first batch
    # On SQLite a batch runs on the event loop when the write lock is free at once, else in a thread (``Store.locked_now``)
    now = None if svc.store.is_postgres else ctl.apply_now
    batcher: Batcher[Op, Outcome] = Batcher(ctl.apply, settings.batch_max, now=now)
    interval = settings.sweep_interval or max(0.5, settings.heartbeat_ttl / 3)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        task = asyncio.get_running_loop().create_task(_sweeper(ctl, interval))
        try:
            yield
        finally:
            task.cancel()
            await batcher.stop()
            svc.store.close()

    app = HotApp(
        title="licensor controller",
        version="1",
        description="Enforces the license at the customer: admits agent nodes and remote clusters within its limits.",
        lifespan=lifespan,
        docs_url=None,  # mount_docs serves Swagger UI from the installed package, not from a CDN
        redoc_url=None,
    )
    install_error_handlers(app, max_body=settings.max_body)
    document_errors(app, guarded=lambda path: path.startswith("/api/"))
    mount_docs(app)
    app.state.controller, app.state.batcher = ctl, batcher
    serve_routes(app, service_api, license_api, seats_api, audit_api, usage_api)
    seats_hot_path(app, settings.max_body)  # agents' joins and heartbeats skip the middleware and the router
    mount_console(app, ctl)
    return app


def app_from_env() -> FastAPI:
    """The ASGI app factory ``serve`` points uvicorn at (settings from ``LICENSOR_*``)."""
    return create_app(ControllerSettings.from_env())


__all__ = ["ControllerSettings", "app_from_env", "create_app", "render_metrics"]
