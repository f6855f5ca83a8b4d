"""The peaks chart (``controller.usage.chart.usage_chart``): well-formed SVG that names itself and draws every point."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from licensor.controller.usage.chart import BAR, LIMIT, OVER, Point, describe, usage_chart


def _svg(points: list[Point]) -> ET.Element:
    text = usage_chart(points, noun="node", title="Nodes <used> & limit", ident="c")
    return ET.fromstring(text)  # noqa: S314 (our own output)


class TestUsageChart:
    def test_one_bar_per_month_and_the_limit_dashed(self) -> None:
        """A bar per point, a dashed limit segment per month with a limit; a peak over the limit is drawn in the warning colour."""
        svg = _svg([Point("2026-01", 3, 5), Point("2026-02", 5, 5), Point("2026-03", 7, 5), Point("2026-04", 2, None)])
        bars = svg.findall("rect")
        assert [b.get("fill") for b in bars] == [BAR, BAR, OVER, BAR]
        assert [b.findtext("title") for b in bars] == ["2026-01: peak 3", "2026-02: peak 5", "2026-03: peak 7", "2026-04: peak 2"]
        limits = [x for x in svg.findall("line") if x.get("stroke") == LIMIT]
        assert len(limits) == 3 and {x.get("y1") for x in limits} == {limits[0].get("y1")}
        heights = [float(b.get("height", "")) for b in bars]
        assert heights[2] > heights[1] > heights[0] > heights[3] > 0

    def test_it_names_itself_for_a_screen_reader(self) -> None:
        """role=img, labelled by its title and a description saying every figure; the title is escaped."""
        svg = _svg([Point("2026-01", 3, 5), Point("2026-02", 1, None)])
        assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c-title c-desc"
        assert svg.findtext("title") == "Nodes <used> & limit"
        assert svg.findtext("desc") == "2026-01: peak 3 nodes, limit 5; 2026-02: peak 1 node, no license."

    def test_it_scales_without_outside_assets(self) -> None:
        """A viewBox and a width of 100% (it fits a phone), no URL, no script, no style attribute (the CSP forbids them)."""
        text = usage_chart([Point(f"2026-{m:02d}", m * 100, 1000) for m in range(1, 13)], noun="node", title="t")
        assert 'viewBox="0 0 640 240"' in text and 'width="100%"' in text
        assert "http" not in text and "<script" not in text and "style=" not in text
        assert ">1,200<" in text and ">600<" in text  # the axis: the largest peak, two significant figures, and its half

    def test_no_points(self) -> None:
        """Nothing recorded yet: an empty chart that says so."""
        svg = _svg([])
        assert svg.findall("rect") == [] and svg.findtext("desc") == describe([], "node") == "No node has held a seat yet."
