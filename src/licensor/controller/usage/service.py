"""Usage: the month's peak seats (recorded by every seat batch), signed by the installation key for the vendor's true-up."""

from __future__ import annotations

from sqlalchemy import select

from ...clock import Clock, parse_month
from ...usage import make_usage_report
from .. import store as s
from ..license.service import ControllerService


class Usage:
    def __init__(self, svc: ControllerService, clock: Clock) -> None:
        self.svc, self.clock = svc, clock

    def report(self, month: str) -> str:
        """The signed usage report of ``month`` (``YYYY-MM``): peak nodes and clusters, and the license in force."""
        parse_month(month)
        with self.svc.store.tx() as c:
            key = self.svc.identity(c)
            peaks = {r.kind: int(r.peak) for r in c.execute(select(s.usage).where(s.usage.c.month == month))}
            active = c.execute(select(s.licenses.c.license_id, s.licenses.c.serial).where(s.licenses.c.active.is_(True))).first()
        return make_usage_report(
            key,
            month=month,
            peak_nodes=peaks.get("node", 0),
            peak_clusters=peaks.get("cluster", 0),
            now=self.clock(),
            license_id=active.license_id if active else None,
            serial=active.serial if active else None,
        )
