"""The sweep ``licensor vendor serve`` runs by itself every ``[reminders] interval_minutes`` (off when 0).

Every worker and replica may run it: the claims in the database keep each reminder to one mail.
A sweep that fails is logged and the next one runs on time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from ...errors import LicensorError
from ..service import IssuerService
from ..settings import IssuerSettings

log = logging.getLogger("licensor.issuer.reminders")
ACTOR = "schedule:reminders"


async def sweep_every(svc: IssuerService, settings: IssuerSettings) -> None:
    """Sleep one interval, sweep, forever (until cancelled)."""
    while True:
        await asyncio.sleep(settings.reminder_interval_minutes * 60)
        try:
            out = await asyncio.to_thread(svc.reminders.send_due, settings.smtp, window_days=settings.reminder_days, actor=ACTOR)
        except LicensorError as e:
            log.warning("expiry reminders not sent: %s: %s", e.code, e.hint)
        except Exception:
            log.exception("expiry reminder sweep failed; the next one runs in %s minutes", settings.reminder_interval_minutes)
        else:
            if out.sent or out.failed:
                log.warning("expiry reminders: %d sent, %d failed", len(out.sent), len(out.failed))


@asynccontextmanager
async def scheduled(svc: IssuerService, settings: IssuerSettings) -> AsyncIterator[None]:
    """Run ``sweep_every`` while the app runs, when an interval is set."""
    if settings.reminder_interval_minutes <= 0:
        yield
        return
    task = asyncio.create_task(sweep_every(svc, settings), name="licensor-reminders")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
