"""Issue 12, the Seats page: refused nodes in words (each once, gone once seated), the ask link, the peaks chart, and the
refused activations apart from them; recorded with at most one statement per batch.  SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, select

from licensor.controller import store as s
from licensor.controller.runtime import Controller, Op
from tests.inprocess import PASSWORD, licensed_controller

from .conftest import Server


@contextmanager
def _signed_in(server: Server) -> Iterator[httpx.Client]:
    """A console client signed in as the admin."""
    c = server.client()
    try:
        r = c.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/"})
        assert r.status_code == 303, r.text
        yield c
    finally:
        c.close()


def _refused_ids(html: str) -> list[str]:
    """The ids of the Seats page's refused table, in order."""
    table = html.split('id="refused"', 1)[1].split("</table>", 1)[0] if 'id="refused"' in html else ""
    return re.findall(r"<tr><td><code>([^<]+)</code></td>", table)


def _groups(html: str) -> list[str]:
    ul = html.split('id="refusal-groups"', 1)[1].split("</ul>", 1)[0]
    return [re.sub(r"<[^>]+>", "", li).strip() for li in re.findall(r"<li>(.*?)</li>", ul)]


class TestSeatsPage:
    def test_refused_nodes_are_listed_once_in_words_until_they_get_a_seat(self, server: Server) -> None:
        """5 nodes allowed, 8 join (one of the refused tries twice): the 3 refused are listed once each with the reason, then the
        code; the ask link carries nodes=8; after a node leaves and a refused one joins, that one is no longer listed."""
        server.activate(server.key(nodes=5, remote_clusters=2))
        for i in range(8):
            assert server.join(f"n{i}").status_code == (200 if i < 5 else 422)
        assert server.join("n7").status_code == 422
        with _signed_in(server) as c:
            html = c.get("/seats").text
            assert _groups(html) == ["3 nodes were refused because the license allows 5 nodes (limit_reached)."]
            assert sorted(_refused_ids(html)) == ["n5", "n6", "n7"] and _refused_ids(html)[0] == "n7"  # newest first
            assert "The license allows 5 nodes and 5 were in use (<code>limit_reached</code>)" in html
            row7 = html.split("<code>n7</code>", 1)[1].split("</tr>", 1)[0]
            assert "<td>2</td>" in row7  # two tries, one row
            link = re.search(r'<a class="button primary" id="ask-more" href="([^"]+)">([^<]+)</a>', html)
            assert link and link.group(2) == "Ask for 3 more nodes"
            assert link.group(1).replace("&amp;", "&") == "/settings/license/request?nodes=8&remote_clusters=2"
            # The Nodes page and the dashboard say it too, in words.
            assert "3 nodes were refused because the license allows 5 nodes" in c.get("/nodes").text
            dash = c.get("/").text
            assert _groups(dash) == ["3 nodes were refused because the license allows 5 nodes (limit_reached)."] and 'href="/seats"' in dash

            assert server.leave("n0").status_code == 200
            assert server.join("n6").status_code == 200
            html = c.get("/seats").text
            assert sorted(_refused_ids(html)) == ["n5", "n7"]
            assert _groups(html) == ["2 nodes were refused because the license allows 5 nodes (limit_reached)."]
            assert "Ask for 2 more nodes" in html and "nodes=7" in html
            # n6 leaves again: it got in, so it is not listed as refused.
            assert server.leave("n6").status_code == 200
            assert sorted(_refused_ids(c.get("/seats").text)) == ["n5", "n7"]

    def test_clusters_and_a_taken_id_are_told_apart(self, server: Server) -> None:
        """A remote cluster refused at a limit of 0 and a node whose id another agent holds: their own words; only the
        cluster is asked for."""
        server.activate(server.key(nodes=2))
        assert server.join("c1", kind="cluster").status_code == 422
        assert server.join("a").status_code == 200
        assert server.join("a").status_code == 409  # another agent, the same id, no secret
        with _signed_in(server) as c:
            html = c.get("/seats").text
        assert _groups(html) == [
            "1 node was refused because another agent holds the seat of their node id (seat_taken).",
            "1 remote cluster was refused because the license allows no remote clusters (clusters_not_licensed).",
        ]
        assert "Another agent holds the seat of this node id (<code>seat_taken</code>)" in html
        assert "Ask for 1 more remote cluster<" in html and "nodes=2&amp;remote_clusters=1" in html

    def test_refused_activations_are_grouped_apart_from_the_nodes(self, server: Server) -> None:
        """Three bad keys of one kind are one row (3 times), in words then the code; no node refusal is mixed in."""
        server.activate(server.key(nodes=5))
        for _ in range(3):
            r = server.http.post(
                "/api/v1/license/activate", content="v4.public.bad", headers={**server.admin, "content-type": "text/plain"}
            )
            assert r.status_code == 400, r.text
        with _signed_in(server) as c:
            for path in ("/seats", "/"):
                html = c.get(path).text
                table = html.split('id="activation-refusals"', 1)[1].split("</table>", 1)[0]
                rows = re.findall(r"<tr><td>(.*?)</td><td>(\d+)</td>", table)
                assert len(rows) == 1 and rows[0][1] == "3", rows
                assert rows[0][0].endswith("(<code>malformed</code>)") and rows[0][0][0].isupper()
                assert "No node or remote cluster was refused" in html

    def test_the_chart_shows_the_month_peak_against_the_limit(self, server: Server) -> None:
        """The SVG names itself (title, desc) and the table beside it says the month's peak and limit."""
        server.activate(server.key(nodes=3))
        for i in range(4):
            server.join(f"n{i}")
        month = server.now().strftime("%Y-%m")
        with _signed_in(server) as c:
            html = c.get("/seats").text
        svg = html.split('<svg viewBox="0 0 640 240" width="100%" role="img" aria-labelledby="chart-node-title chart-node-desc"', 1)[1]
        assert '<title id="chart-node-title">Nodes used against the limit, by month</title>' in svg
        assert f"{month}: peak 3 nodes, limit 3." in svg
        assert f"<tr><td>{month}</td><td>3</td><td>3</td></tr>" in html.split('id="peaks-node"', 1)[1]
        assert 'id="chart-cluster"' not in html  # no remote cluster allowed or seen


@contextmanager
def _statements(ctl: Controller) -> Iterator[list[str]]:
    """The SQL statements the controller's engine runs meanwhile."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(ctl.store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(ctl.store.engine, "before_cursor_execute", note)


def _seat_ids(html: str) -> list[str]:
    table = html.split('id="seats"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr><td><code>([^<]+)</code></td>", table)


class TestNodesPages:
    def test_the_nodes_page_shows_a_hundred_seats_at_a_time(self, server: Server) -> None:
        """250 seats: three pages of the longest held first, each linking to the next and the one before; a page past
        the end says so and links back; a page number that is not one is the first page."""
        from licensor.controller.seats.views import PAGE_SIZE

        server.activate(server.key(nodes=300))
        ids = [f"n{i:03d}" for i in range(250)]
        for start in range(0, 250, 50):
            assert all(r.status_code == 200 for r in server.join_all(ids[start : start + 50]))
        with _signed_in(server) as c:
            first = c.get("/nodes").text
            assert PAGE_SIZE == 100 and len(_seat_ids(first)) == 100
            assert "Seats 1–100 of 250, longest held first." in first and "Page 1 of 3" in first
            assert 'href="/nodes?page=2" rel="next"' in first and 'rel="prev"' not in first
            pages = [_seat_ids(c.get(f"/nodes?page={n}").text) for n in (1, 2, 3)]
            assert [len(p) for p in pages] == [100, 100, 50]
            assert sorted(i for p in pages for i in p) == ids  # every seat once
            last = c.get("/nodes?page=3").text
            assert "Seats 201–250 of 250" in last and 'href="/nodes?page=2" rel="prev"' in last and 'rel="next"' not in last
            past = c.get("/nodes?page=9")
            assert past.status_code == 200 and "There is no page 9: 250 seats fill 3 pages." in past.text
            assert 'href="/nodes?page=3" rel="prev"' in past.text
            for odd in ("abc", "-1", "0", "", "1e9", "99999999999"):
                assert _seat_ids(c.get(f"/nodes?page={odd}").text) == pages[0], odd
            clusters = c.get("/clusters").text
            assert "No remote cluster holds a seat." in clusters and "Page 1" not in clusters


class TestRecording:
    def test_one_statement_per_batch_and_one_row_per_id(self, database_url: str) -> None:
        """A batch of refused joins writes them with one statement (an id asked twice: one row, two tries); a batch that
        seats writes one delete; a batch of heartbeats touches nothing of it."""

        ctl = licensed_controller(database_url, nodes=2)
        svc = ctl.svc
        try:
            joined = ctl.apply([Op("join", "node", "a"), Op("join", "node", "b")])
            assert [o.status for o in joined] == ["admitted", "admitted"]
            with _statements(ctl) as seen:
                out = ctl.apply([Op("join", "node", i) for i in ("x", "y", "x", "z")])
            assert [o.code for o in out] == ["limit_reached"] * 4
            assert sum("seat_refusals" in q for q in seen) == 1
            with ctl.store.tx() as c:
                rows = {r.seat_id: (r.code, r.tries, r.allowed) for r in c.execute(select(s.seat_refusals))}
            assert rows == {"x": ("limit_reached", 2, 2), "y": ("limit_reached", 1, 2), "z": ("limit_reached", 1, 2)}
            with _statements(ctl) as seen:
                ctl.apply([Op("heartbeat", "node", "a", secret=joined[0].secret)])
            assert not any("seat_refusals" in q for q in seen)
            ctl.apply([Op("leave", "node", "a", secret=joined[0].secret)])
            with _statements(ctl) as seen:
                assert [o.status for o in ctl.apply([Op("join", "node", "x")])] == ["admitted"]
            assert sum("seat_refusals" in q for q in seen) == 1
            with ctl.store.tx() as c:
                assert sorted(r.seat_id for r in c.execute(select(s.seat_refusals))) == ["y", "z"]
        finally:
            svc.store.close()


class TestScale:
    def test_the_page_reads_the_same_few_rows_whatever_the_refused(self, database_url: str) -> None:
        """The Seats page's queries do not grow with the refused: the same statements for 4 and for 700, and at most
        ``SHOWN`` rows listed while the counts cover all of them."""
        from licensor.controller.seats import overview

        ctl = licensed_controller(database_url, nodes=3)
        svc = ctl.svc
        try:
            ctl.apply([Op("join", "node", f"n{i}") for i in range(7)])
            overview.seats_overview(ctl)  # the verdict is read once and cached
            with _statements(ctl) as few:
                small = overview.seats_overview(ctl)
            ctl.apply([Op("join", "node", f"m{i}") for i in range(overview.SHOWN + 196)])
            with _statements(ctl) as many:
                big = overview.seats_overview(ctl)
            assert len(few) == len(many)
            assert (small["refused_total"], len(small["refused"])) == (4, 4)
            assert (big["refused_total"], len(big["refused"])) == (overview.SHOWN + 200, overview.SHOWN)
            assert big["ask"]["href"] == f"/settings/license/request?nodes={3 + overview.SHOWN + 200}&remote_clusters=0"
        finally:
            svc.store.close()
