"""The running controller: the domain services of one installation, wired together.

``Controller`` holds ``svc`` (the ``ControllerService``: identity, the license), ``verdicts`` (its cached
verdict), ``seating``, ``accounts``, ``usage`` and reads the audit log; the API routers, the console views, the CLI and tests reach the
services through it.  It decides nothing itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from .. import seats as core_seats
from ..clock import Clock
from ..license import fmt_time
from ..policy import Verdict
from ..trusted_time import Watch
from . import audit
from .accounts.service import Accounts
from .license.activation import Activation
from .license.service import ControllerService, status_document
from .license.verdicts import Verdicts
from .seats.service import Op, Outcome, Seats
from .usage.service import Usage

#: How often (monotonic seconds) a process feeds a clock reading to the trusted-time mark, unless the clock jumped.
TRUSTED_TIME_STEP = 60.0

__all__ = ["Controller", "Op", "Outcome"]


class Controller:
    def __init__(self, svc: ControllerService, *, heartbeat_ttl: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self.svc = svc
        self.store = svc.store
        self.ttl = timedelta(seconds=heartbeat_ttl)
        self.monotonic = monotonic
        self._watch: Watch | None = None  # this process's clock readings (see licensor.trusted_time)
        self.verdicts = Verdicts(svc)
        self.seating = Seats(svc.store, self.verdicts, svc.clock, self.ttl, self._observe_time)
        self.accounts = Accounts(svc.store, svc.clock)
        self.usage = Usage(svc, svc.clock)

    @property
    def clock(self) -> Clock:
        return self.svc.clock

    @property
    def refusals(self) -> Counter[str]:
        return self.seating.refusals

    @property
    def _peaks(self) -> dict[tuple[str, str], int]:
        return self.seating.peaks

    def _observe_time(self, c: Connection, now: Any) -> None:
        """Feed a reading to the trusted-time mark: once a minute, or at once when the clock jumped."""
        mono = self.monotonic()
        w = self._watch
        if w is None or mono - w.anchor_mono >= TRUSTED_TIME_STEP or w.jumped(now, mono):
            self._watch = self.svc.observe_time(c, w, now, mono)
            self.verdicts.invalidate()

    # -- the license --------------------------------------------------------------------------------

    def verdict(self) -> Verdict:
        return self.verdicts.get()

    def activate(self, text: str | bytes, *, confirm: bool = True) -> Activation:
        try:
            return self.svc.activate(text, confirm=confirm)
        finally:
            self.verdicts.invalidate()

    def acknowledge_clock(self, actor: str) -> dict[str, Any]:
        """An admin vouches for the clock (audited); the status afterwards."""
        try:
            self.svc.acknowledge_clock(actor)
        finally:
            self.verdicts.invalidate()
        return self.status()

    def status(self) -> dict[str, Any]:
        """The status document of the API and the console: the verdict, the terms, seats used, the trusted time."""
        self.verdicts.invalidate()
        verdict = self.verdicts.get()
        doc = status_document(verdict, self.svc.installation_id())
        used = self.seating.used(verdict)
        doc["nodes_used"], doc["nodes_limit"] = used["node"], core_seats.limit(verdict, "node")
        doc["clusters_used"], doc["clusters_limit"] = used["cluster"], core_seats.limit(verdict, "cluster")
        doc["keeps_seats"] = verdict.keeps_seats
        doc["heartbeat_ttl"] = int(self.ttl.total_seconds())
        with self.store.tx() as c:
            mark = self.svc.mark(c)
        for key, t in (("trusted_time", mark.value), ("trusted_time_proven", mark.proven), ("trusted_time_observed", mark.observed)):
            doc[key] = fmt_time(t) if t else None
        doc["now"] = fmt_time(self.clock())
        lic = verdict.license
        if verdict.code == "grace" and lic is not None and lic.expires is not None:
            doc["grace_until"] = fmt_time(lic.expires + timedelta(days=lic.grace_days))
        return doc

    # -- seats, accounts, audit, usage: the services' own methods, named as the CLI and tests call them --

    def apply(self, ops: Sequence[Op]) -> list[Outcome]:
        return self.seating.apply(ops)

    def apply_now(self, ops: Sequence[Op]) -> list[Outcome] | None:
        return self.seating.apply_now(ops)

    def sweep(self) -> int:
        return self.seating.sweep()

    def seats(self, kind: str) -> list[dict[str, Any]]:
        return self.seating.listing(kind)

    def create_token(self, kind: str, name: str = "") -> str:
        return self.accounts.create_token(kind, name)

    def set_admin_password(self, password: str) -> None:
        self.accounts.set_admin_password(password)

    def list_credentials(self) -> list[dict[str, Any]]:
        return self.accounts.list_credentials()

    def revoke(self, cred_id: int) -> None:
        self.accounts.revoke(cred_id)

    def audit_verify(self) -> audit.AuditCheck:
        with self.store.tx() as c:
            return audit.check(c)

    def audit_entries(self, limit: int = 100, event: str | None = None) -> list[dict[str, Any]]:
        with self.store.tx() as c:
            return list(audit.entries(c, limit=limit, event=event))

    def usage_report(self, month: str) -> str:
        return self.usage.report(month)
