"""Charts drawn on the server as inline SVG: no script, no outside asset, readable by a screen reader.

``usage_chart`` is a pure function from points to SVG text: one bar per month (the month's peak) and the limit in
force that month as a dashed line over it.  The SVG names itself (``role="img"``, a ``<title>`` and a ``<desc>``
saying every figure); the page shows the same points as a table beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from ...words import plural

#: The drawing's own units; the SVG scales to the width of its container (``viewBox``).
WIDTH, HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 44, 12, 14, 34
BAR, OVER, LIMIT = "#1a5fb4", "#a51d2d", "#8a5a00"


@dataclass(frozen=True)
class Point:
    """One month: its label (``2026-03``), the peak seats used and the limit in force (None: no license)."""

    label: str
    peak: int
    limit: int | None


def _scale(points: Sequence[Point]) -> int:
    """The top of the value axis: the largest peak or limit, rounded up to two significant figures (at least 1)."""
    top = max([1, *(p.peak for p in points), *(p.limit or 0 for p in points)])
    step = 10 ** max(0, len(str(top)) - 2)
    return int(-(-top // step) * step)


def describe(points: Sequence[Point], noun: str) -> str:
    """The chart in words: every month's peak and limit."""
    if not points:
        return f"No {noun} has held a seat yet."
    said = [f"{p.label}: peak {plural(p.peak, noun)}" + (f", limit {p.limit:,}" if p.limit is not None else ", no license") for p in points]
    return "; ".join(said) + "."


def usage_chart(points: Sequence[Point], *, noun: str, title: str, ident: str = "chart") -> str:
    """An SVG bar chart of ``points``: bars for the peaks (red where over the limit), a dashed line for the limit."""
    top = _scale(points)
    plot_w, plot_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    base = _TOP + plot_h

    def y(v: int) -> float:
        return round(base - plot_h * v / top, 1)

    out = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" id="{ident}" class="chart">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(describe(points, noun))}</desc>',
    ]
    for v in sorted({0, top // 2, top}):
        out.append(f'<line x1="{_LEFT}" y1="{y(v)}" x2="{WIDTH - _RIGHT}" y2="{y(v)}" stroke="#d5dae3" stroke-width="1"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{y(v) + 4}" text-anchor="end" font-size="14" fill="currentColor">{v:,}</text>')
    slot = plot_w / max(1, len(points))
    bar_w = max(2.0, min(48.0, slot * 0.6))
    every = max(1, -(-len(points) * 70 // plot_w))  # a label every few months when they would overlap
    for i, p in enumerate(points):
        x = _LEFT + slot * i + (slot - bar_w) / 2
        over = p.limit is not None and p.peak > p.limit
        out.append(
            f'<rect x="{x:.1f}" y="{y(p.peak)}" width="{bar_w:.1f}" height="{round(base - y(p.peak), 1)}" fill="{OVER if over else BAR}">'
            f"<title>{escape(p.label)}: peak {p.peak:,}</title></rect>"
        )
        if p.limit is not None:
            x1, x2 = _LEFT + slot * i, _LEFT + slot * (i + 1)
            dash = f'stroke="{LIMIT}" stroke-width="2" stroke-dasharray="6 4"'
            out.append(f'<line x1="{x1:.1f}" y1="{y(p.limit)}" x2="{x2:.1f}" y2="{y(p.limit)}" {dash}/>')
        if i % every == 0:
            cx = _LEFT + slot * i + slot / 2
            out.append(
                f'<text x="{cx:.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-size="14" fill="currentColor">{escape(p.label)}</text>'
            )
    out.append(f'<line x1="{_LEFT}" y1="{base}" x2="{WIDTH - _RIGHT}" y2="{base}" stroke="currentColor" stroke-width="1"/>')
    out.append("</svg>")
    return "".join(out)
