"""The verdict of the license in force, cached for a moment: every join and feature check reads it."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.engine import Connection

from ...policy import Verdict

if TYPE_CHECKING:
    from .service import ControllerService

#: How long a cached verdict is used before it is evaluated again (seconds).
VERDICT_TTL = 2.0


class Verdicts:
    """The license's verdict, re-evaluated every few seconds or when the clock jumps, or at once after ``invalidate``."""

    def __init__(self, svc: ControllerService) -> None:
        self.svc = svc
        self._verdict: Verdict | None = None
        self._at = (0.0, datetime.min.replace(tzinfo=UTC))
        self._lock = threading.Lock()

    def get(self) -> Verdict:
        now = self.svc.clock()
        cached = self.fresh(now)
        if cached is not None:
            return cached
        with self._lock:
            v = self.svc.status()
            self._verdict, self._at = v, (time.monotonic(), now)
            return v

    def fresh(self, now: datetime) -> Verdict | None:
        """The cached verdict while it is fresh (no database read); None when it must be evaluated again."""
        mono, at = self._at
        if self._verdict is not None and time.monotonic() - mono < VERDICT_TTL and abs((now - at).total_seconds()) < VERDICT_TTL:
            return self._verdict
        return None

    def invalidate(self) -> None:
        self._verdict = None

    def current(self, c: Connection, verdict: Verdict | None, now: datetime) -> Verdict:
        """``verdict`` if it is about the license in force, else that license's verdict (inside the lock; None: a
        cached verdict that was no longer fresh, evaluated here in ``c``).

        The cached verdict was read before the batch took the lock: an activation by another worker, replica or
        the CLI may have committed meanwhile, and deciding seats with its old limits would admit more than the
        license now allows.
        """
        if verdict is not None:
            cached = verdict.license.license_id if verdict.license is not None else None
            if self.svc.active_license_id(c) == cached and (cached is not None or verdict.code == "missing"):
                return verdict
        fresh = self.svc.verdict_in(c, now)
        # Not under the lock: get() holds it while it waits for the database lock this batch holds.
        self._verdict, self._at = fresh, (time.monotonic(), now)
        return fresh
