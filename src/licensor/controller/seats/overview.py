"""What the Seats page and the dashboard show: who was refused and why, how many more seats to ask for, the months' peaks.

Read only, a few queries whatever the fleet's size: the refusals of the last ``refusals.KEEP`` (one row per id), the
month peaks (one row per month and kind), the keys activated here and the newest refused activations.  The words
come from the core (``licensor.seat_reasons``); the SVG from ``controller.usage.chart``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select, text

from ... import seat_reasons
from ...license import parse_time
from .. import store as s
from ..audit.chain import stamp
from ..runtime import Controller
from ..usage.chart import Point, usage_chart
from . import refusals

#: The Request code dialog the "Ask for more" link opens (``license/views.py``), prefilled by ``nodes`` and ``remote_clusters``.
REQUEST_DIALOG = "/settings/license/request"
#: At most this many refused ids are listed (the counts cover all of them).
SHOWN = 500
#: At most this many months are charted (the newest).
MONTHS = 12
#: The newest refused activations read to group them by code.
ACTIVATIONS = 500


def refused(store: s.Store, now: datetime, limits: dict[str, int], shown: int = SHOWN) -> dict[str, Any]:
    """The refused nodes and clusters (each once, the newest ``SHOWN``, with the reason in words), their groups and the ask link."""
    with store.tx() as c:
        rows = refusals.recent(c, now, shown) if shown else []
        counted = refusals.counted(c, now)
    words: dict[tuple[str, str, int], str] = {}
    for r in rows:
        key = (r["kind"], r["code"], r["allowed"])
        if key not in words:
            words[key] = seat_reasons.reason(*key)
        r["noun"], r["reason"] = seat_reasons.noun(r["kind"]), words[key]
    wanted = seat_reasons.more_seats(counted)
    return {
        "refused": rows,
        "refused_total": sum(n for *_, n in counted),
        "groups": seat_reasons.groups(counted),
        "wanted": wanted,
        "ask": ask_link(limits, wanted),
    }


def ask_link(limits: dict[str, int], wanted: dict[str, int]) -> dict[str, str] | None:
    """The link to the Request code dialog asking for the limits plus the refused (None: more seats would admit nobody)."""
    if not any(wanted.values()):
        return None
    query = {"nodes": limits.get("node", 0) + wanted.get("node", 0), "remote_clusters": limits.get("cluster", 0) + wanted.get("cluster", 0)}
    parts = [f"{wanted[k]:,} more {seat_reasons.noun(k)}{'' if wanted[k] == 1 else 's'}" for k in ("node", "cluster") if wanted.get(k)]
    return {"href": f"{REQUEST_DIALOG}?{urlencode(query)}", "text": "Ask for " + " and ".join(parts)}


def month_limits(months: Sequence[str], keys: Sequence[tuple[datetime, int, int]]) -> list[tuple[int, int] | None]:
    """For each ``YYYY-MM`` month, the (nodes, remote clusters) of the newest key activated before it ended (None: none yet)."""
    ordered = sorted(keys)
    out: list[tuple[int, int] | None] = []
    for m in months:
        year, mon = int(m[:4]), int(m[5:7])
        end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=UTC)
        before = [(n, rc) for at, n, rc in ordered if at < end]
        out.append(before[-1] if before else None)
    return out


def _months(first: str, now: datetime) -> list[str]:
    """Every month from ``first`` to ``now``'s, the newest ``MONTHS`` of them."""
    y, m = int(first[:4]), int(first[5:7])
    last = (now.year, now.month)
    out = []
    while (y, m) <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out[-MONTHS:]


def peaks(store: s.Store, now: datetime, history: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, int, int | None]]]:
    """Per kind, ``(month, peak, limit)`` for the charted months (a month without a recorded peak: 0)."""
    with store.tx() as c:
        rows = [(r.month, r.kind, int(r.peak)) for r in c.execute(select(s.usage.c.month, s.usage.c.kind, s.usage.c.peak))]
    keys = [(parse_time(h["activated_at"]), int(h["nodes"]), int(h["remote_clusters"])) for h in history if "nodes" in h]
    starts = [r[0] for r in rows] + [k[0].astimezone(UTC).strftime("%Y-%m") for k in keys]
    months = _months(min(starts), now) if starts else [now.astimezone(UTC).strftime("%Y-%m")]
    limits = month_limits(months, keys)
    got = {(m, k): p for m, k, p in rows}
    return {
        kind: [
            (m, got.get((m, kind), 0), None if lim is None else lim[0 if kind == "node" else 1])
            for m, lim in zip(months, limits, strict=True)
        ]
        for kind in ("node", "cluster")
    }


def activations(store: s.Store) -> list[dict[str, Any]]:
    """The refused activations (pasted keys) grouped by code, newest first: how many, when last, and the newest hint."""
    a = s.audit
    q = select(a.c.at, a.c.code, a.c.detail).where(text(s.ACTIVATION_REFUSED)).order_by(a.c.id.desc()).limit(ACTIVATIONS)
    with store.tx() as c:
        items = c.execute(q).all()
    by: dict[str, dict[str, Any]] = {}
    for at, code, detail in items:  # newest first: the first of a code is its newest
        g = by.setdefault(code, {"code": code, "count": 0, "at": stamp(at), "hint": detail})
        g["count"] += 1
    for g in by.values():
        hint = str(g["hint"]).rstrip(".")
        g["words"] = hint[:1].upper() + hint[1:] if hint else "The key was refused"
    return list(by.values())


def license_limits(ctl: Controller) -> dict[str, int]:
    """The nodes and remote clusters of the key in force (0 without one), whatever its state: what a request asks more than."""
    lic = ctl.verdict().license
    return {"node": lic.nodes if lic else 0, "cluster": lic.remote_clusters if lic else 0}


def refused_of(ctl: Controller, shown: int = SHOWN) -> dict[str, Any]:
    """The refused nodes and clusters, their groups and the ask link (the dashboard shows these too)."""
    return refused(ctl.store, ctl.clock(), license_limits(ctl), shown)


def seats_overview(ctl: Controller) -> dict[str, Any]:
    """Everything the Seats page shows."""
    shown = refused_of(ctl)
    months = peaks(ctl.store, ctl.clock(), ctl.svc.history())
    charts = []
    for kind, title in (
        ("node", "Nodes used against the limit, by month"),
        ("cluster", "Remote clusters used against the limit, by month"),
    ):
        points = [Point(m, p, lim) for m, p, lim in months[kind]]
        if kind == "cluster" and not any(p.peak or p.limit for p in points):
            continue  # no remote cluster allowed or seen: no chart to read
        noun = "node" if kind == "node" else "remote cluster"
        charts.append(
            {
                "kind": kind,
                "title": title,
                "points": points,
                "svg": usage_chart(points, noun=noun, title=title, ident=f"chart-{kind}"),
            }
        )
    shown.update(charts=charts, activations=activations(ctl.store))
    return shown
