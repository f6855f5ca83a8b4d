"""Usage reports: verified against the installation's own key, stored once, shown with overage."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Row

from ...errors import BadSignatureError, NotFound
from ...license import fmt_time
from ...usage import UsageReport, decode_usage_report
from .. import store as s
from ..ledger import Ledger


def usage_view(summary: dict[str, Any], lic: Row[Any] | None, already: bool = False) -> dict[str, Any]:
    """A report's summary with the license it ran under and the overage against it."""
    out = dict(summary)
    out["already_imported"] = already
    if lic is None:
        out.update(license=None, overage={"nodes": 0, "clusters": 0}, over=False)
        return out
    over_n = max(0, out["peak_nodes"] - lic.nodes)
    over_c = max(0, out["peak_clusters"] - lic.remote_clusters)
    out["license"] = {"license_id": lic.license_id, "serial": lic.serial, "nodes": lic.nodes, "remote_clusters": lic.remote_clusters}
    out["overage"] = {"nodes": over_n, "clusters": over_c}
    out["over"] = bool(over_n or over_c)
    return out


def _license_of(c: Connection, rep: UsageReport) -> Row[Any] | None:
    """The license the report names, else the installation's newest."""
    lic = None
    if rep.license_id:
        lic = c.execute(select(s.licenses).where(s.licenses.c.license_id == rep.license_id)).first()
    if lic is None:
        lic = c.execute(
            select(s.licenses).where(s.licenses.c.installation_id == rep.installation_id).order_by(s.licenses.c.serial.desc()).limit(1)
        ).first()
    return lic


class UsageService:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def import_report(self, text: str | bytes, *, actor: str) -> dict[str, Any]:
        """Verify a controller's usage report and show its peak use against the license."""
        rep = decode_usage_report(text)

        def run(c: Connection) -> dict[str, Any]:
            inst = c.execute(select(s.installations).where(s.installations.c.installation_id == rep.installation_id)).first()
            if inst is None:
                raise NotFound(
                    f"Installation {rep.installation_id} is not known here: it never sent a request code to this issuer",
                    code="unknown_installation",
                )
            if bytes(inst.public_key) != rep.public_key:
                raise BadSignatureError(f"This report was not signed by installation {rep.installation_id}'s key")
            lic = _license_of(c, rep)
            u = s.usage_reports
            dup = c.execute(
                select(u.c.id).where(
                    u.c.installation_id == rep.installation_id, u.c.month == rep.month, u.c.generated_at == rep.generated_at
                )
            ).first()
            if dup is None:
                self._store(c, rep, lic)
                self.ledger.record(c, actor, "usage.import", rep.installation_id, month=rep.month, peak_nodes=rep.peak_nodes)
            return usage_view(rep.summary(), lic, already=dup is not None)

        return self.ledger.retry(run)

    def _store(self, c: Connection, rep: UsageReport, lic: Row[Any] | None) -> None:
        c.execute(
            s.usage_reports.insert().values(
                installation_id=rep.installation_id,
                month=rep.month,
                peak_nodes=rep.peak_nodes,
                peak_clusters=rep.peak_clusters,
                generated_at=rep.generated_at,
                imported_at=self.ledger.clock(),
                license_id=lic.license_id if lic is not None else None,
                report=rep.text,
            )
        )

    def reports(self, installation_id: str | None = None) -> list[dict[str, Any]]:
        """Imported reports, newest month first, with overage."""
        u, lt = s.usage_reports, s.licenses
        q = select(u, lt.c.nodes, lt.c.remote_clusters, lt.c.serial).join(lt, lt.c.license_id == u.c.license_id, isouter=True)
        if installation_id:
            q = q.where(u.c.installation_id == installation_id)
        rows = self.ledger.rows(q.order_by(u.c.month.desc(), u.c.id.desc()))
        out = []
        for r in rows:
            summary = {
                "installation_id": r.installation_id,
                "month": r.month,
                "peak_nodes": r.peak_nodes,
                "peak_clusters": r.peak_clusters,
                "generated_at": fmt_time(r.generated_at),
                "imported_at": fmt_time(r.imported_at),
            }
            view = usage_view(summary, r if r.license_id and r.nodes is not None else None, already=True)
            view.pop("already_imported")
            out.append(view)
        return out
