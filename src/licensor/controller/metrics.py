"""``/healthz`` and ``/metrics`` (Prometheus text): license state, days left, seats used and limits, refusals by code."""

from __future__ import annotations

import math

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from .. import seats
from ..policy import STATES
from .deps import Ctl
from .runtime import Controller

router = APIRouter(tags=["service"])

#: The states /metrics always exports (0 or 1), in the order the policy checks them.
METRIC_STATES = tuple(s.code for s in STATES if s.metric)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: answers without touching the database."""
    return {"status": "ok"}


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(ctl: Ctl) -> PlainTextResponse:
    """Prometheus text format: license state, days left, seats used and limits, refusals by code."""
    return PlainTextResponse(render_metrics(ctl), media_type="text/plain; version=0.0.4")


def render_metrics(ctl: Controller) -> str:
    v = ctl.verdict()
    now = ctl.clock()
    used = ctl.seating.used(v)
    out: list[str] = []

    def metric(name: str, help: str, kind: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else repr(float(value)))
            out.append(f"{name}{labels} {text}")

    shown = [*METRIC_STATES, v.code] if v.code not in METRIC_STATES else list(METRIC_STATES)
    metric("licensor_license_state", "1 for the current license state", "gauge", [(f'{{state="{s}"}}', float(s == v.code)) for s in shown])
    metric("licensor_license_valid", "1 when new nodes may join", "gauge", [("", 1.0 if v.valid else 0.0)])
    lic = v.license
    if lic is not None:
        if lic.expires is not None:
            days = (lic.expires - now).total_seconds() / 86400
            metric("licensor_license_days_to_expiry", "days until the license expires (negative: since)", "gauge", [("", days)])
        days = (lic.maintenance_until - now).total_seconds() / 86400
        metric("licensor_license_days_to_maintenance_end", "days until maintenance ends (negative: since)", "gauge", [("", days)])
    metric("licensor_nodes_used", "agent nodes holding a seat", "gauge", [("", used["node"])])
    metric("licensor_nodes_limit", "agent nodes the license allows", "gauge", [("", seats.limit(v, "node"))])
    metric("licensor_clusters_used", "remote clusters holding a seat", "gauge", [("", used["cluster"])])
    metric("licensor_clusters_limit", "remote clusters the license allows", "gauge", [("", seats.limit(v, "cluster"))])
    refusals = [(f'{{code="{c}"}}', float(n)) for c, n in sorted(ctl.refusals.items())] or [('{code="limit_reached"}', 0.0)]
    metric("licensor_refusals_total", "joins refused by this process, by code", "counter", refusals)
    return "\n".join(out) + "\n"
