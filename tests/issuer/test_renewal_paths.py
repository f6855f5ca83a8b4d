"""One renewal: a license's Renew button and a new request code's preview sign the same terms for the same live license.

Both run ``terms.license_terms(kind="renew")``: the term runs on from the current end, nodes, remote clusters and
features carried over.  The preview shows the difference against the live license before anything is signed, and the
issue form takes the plan's type when none is chosen (and refuses a type the plan does not have).  In process, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from tests.inprocess import Running, issuer

from licensor.identity import InstallationKey
from licensor.terms import add_months
from licensor.testing import request_code

END = "2031-03-01T00:00:00Z"
FEATURES = ["multi-cluster", "sso"]


@pytest.fixture
def srv(database_url: str) -> Iterator[Running]:
    with issuer(database_url) as run:
        yield run


def live_license(srv: Running, key: InstallationKey) -> dict[str, Any]:
    """A live license for ``key``'s installation: 4 nodes, 2 remote clusters, sso and multi-cluster, ending END."""
    _, code = request_code(key, nodes=4, remote_clusters=2)
    with srv.client("admin") as c:
        r = c.post("/api/v1/licenses", json={"request_code": code, "remote_clusters": 2, "features": FEATURES, "expires": END})
    assert r.status_code == 201, r.text
    return dict(r.json())


def csrf(c: httpx.Client, path: str = "/issue") -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
    assert m
    return m.group(1)


def preview(c: httpx.Client, code: str) -> str:
    r = c.post("/issue/preview", data={"csrf_token": csrf(c), "request_code": code})
    assert r.status_code == 200, r.text[:500]
    return r.text


def diff(page: str) -> dict[str, list[str]]:
    """The preview's difference table: term -> [live, renewed, change]."""
    table = page.split('id="renew-diff"')[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row">([^<]+)</th><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>', table)
    return {r[0]: list(r[1:]) for r in rows}


def fetched(srv: Running, license_id: str) -> dict[str, Any]:
    with srv.client("admin") as c:
        return dict(c.get(f"/api/v1/licenses/{license_id}").json())


class TestOneRenewal:
    def test_the_request_preview_and_the_renew_button_sign_the_same_terms(self, srv: Running) -> None:
        """Two installations with identical live licenses: one renewed from a new request code (its defaults), one by
        the license's Renew button: same expiry (12 months on from the current end), nodes, clusters and features."""
        key_a, key_b = InstallationKey.generate(), InstallationKey.generate()
        a, b = live_license(srv, key_a), live_license(srv, key_b)
        _, new_code = request_code(key_a, nodes=9, months=3)  # asks for other numbers: the default carries the live terms
        with srv.client("session") as c:
            page = preview(c, new_code)
            assert "3. Renew: extends from 2031-03-01 00:00 UTC" in page
            fields = dict(re.findall(r'name="(renew_\w+)" type="\w+" value="([^"]*)"', page))
            assert fields == {
                "renew_nodes": "4",
                "renew_months": "12",
                "renew_remote_clusters": "2",
                "renew_features": "multi-cluster, sso",
            }
            assert diff(page)["Expires"] == ["2031-03-01 00:00 UTC", "2032-03-01 00:00 UTC", "Grows"]
            assert diff(page)["Features"][2] == "Same"
            form = {"csrf_token": csrf(c), "request_code": new_code, "renews": a["license_id"], "action": "renew", **fields}
            r = c.post("/issue", data=form)
            assert r.status_code == 303, r.text[:500]
            via_request = fetched(srv, r.headers["location"].split("/licenses/")[1].split("?")[0])
            r = c.post(f"/licenses/{b['license_id']}/renew", data={"csrf_token": csrf(c)})
            assert r.status_code == 303, r.text[:500]
            via_button = fetched(srv, r.headers["location"].split("/licenses/")[1].split("?")[0])
        expected = add_months(datetime.fromisoformat(END), 12).strftime("%Y-%m-%dT%H:%M:%SZ")
        for renewed, old in ((via_request, a), (via_button, b)):
            assert (renewed["kind"], renewed["supersedes"], renewed["serial"]) == ("renew", old["license_id"], 2)
            assert (renewed["expires"], renewed["nodes"], renewed["remote_clusters"]) == (expected, 4, 2)
            assert renewed["features"] == FEATURES
            assert fetched(srv, old["license_id"])["superseded_by"] == renewed["license_id"]

    def test_the_clerk_sees_what_grows_and_shrinks_before_signing(self, srv: Running) -> None:
        """'Use what the request asks' fills in its numbers; a dropped feature shows as a shrink; nothing is signed."""
        key = InstallationKey.generate()
        live = live_license(srv, key)
        _, new_code = request_code(key, nodes=9, months=3)
        base = {"request_code": new_code, "renews": live["license_id"], "renew_remote_clusters": "2"}
        with srv.client("session") as c:
            fields = {"renew_nodes": "4", "renew_months": "12", "renew_features": "multi-cluster, sso"}
            page = c.post("/issue", data={"csrf_token": csrf(c), **base, **fields, "action": "asked"}).text
            assert 'name="renew_nodes" type="number" value="9"' in page and 'name="renew_months" type="number" value="3"' in page
            assert diff(page)["Nodes"] == ["4", "9", "Grows"]
            assert diff(page)["Expires"][1] == "2031-06-01 00:00 UTC"
            fields = {"renew_nodes": "2", "renew_months": "12", "renew_features": "sso"}
            r = c.post("/issue", data={"csrf_token": csrf(c), **base, **fields, "action": "compare"})
            assert r.status_code == 200
            assert diff(r.text)["Nodes"] == ["4", "2", "Shrinks"]
            assert diff(r.text)["Features"] == ["multi-cluster, sso", "sso", "Shrinks"]
            assert "The renewal takes away: nodes, features." in r.text
        assert fetched(srv, live["license_id"])["superseded_by"] is None  # comparing signs nothing

    def test_a_renewal_of_a_key_no_longer_live_is_refused_in_words(self, srv: Running) -> None:
        key = InstallationKey.generate()
        first = live_license(srv, key)
        live_license(srv, key)  # a second issue supersedes the first
        _, new_code = request_code(key)
        with srv.client("session") as c:
            form = {"csrf_token": csrf(c), "request_code": new_code, "renews": first["license_id"], "action": "renew", "renew_nodes": "4"}
            r = c.post("/issue", data=form)
        assert r.status_code == 422, r.text[:300]
        assert "Not renewed" in r.text and "was superseded by" in r.text and "renew that one instead" in r.text

    def test_a_renewal_from_another_installations_request_is_refused_in_words(self, srv: Running) -> None:
        live = live_license(srv, InstallationKey.generate())
        _, other = request_code()
        with srv.client("session") as c:
            form = {"csrf_token": csrf(c), "request_code": other, "renews": live["license_id"], "action": "renew", "renew_nodes": "4"}
            r = c.post("/issue", data=form)
        assert r.status_code == 422 and "renew from its own request code" in r.text, r.text[:300]
        assert fetched(srv, live["license_id"])["superseded_by"] is None

    def test_an_installation_without_a_live_license_gets_no_renewal(self, srv: Running) -> None:
        _, code = request_code()
        with srv.client("session") as c:
            page = preview(c, code)
        assert 'id="renewal"' not in page and "3. Issue" in page and 'id="no-earlier"' in page


class TestPlanSetsType:
    def test_no_type_chosen_takes_the_plans_and_says_so(self, srv: Running) -> None:
        _, code = request_code()
        with srv.client("session") as c:
            page = preview(c, code)
            assert re.search(r'<option value="perpetual"[^>]*data-type="perpetual"', page)  # the form's script reads these
            form = {"csrf_token": csrf(c), "request_code": code, "plan": "perpetual", "type": "", "customer": "ACME", "nodes": "3"}
            r = c.post("/issue", data={**form, "months": "12"})
            assert r.status_code == 303, r.text[:500]
            assert r.headers["location"].endswith("?new=plan-type")
            page = c.get(r.headers["location"]).text
            assert "License issued with its plan&#39;s type" in page or "License issued with its plan's type" in page
            lid = r.headers["location"].split("/licenses/")[1].split("?")[0]
            r = c.post("/issue", data={**form, "csrf_token": csrf(c), "type": "subscription", "months": "12"})
        assert fetched(srv, lid)["type"] == "perpetual"
        assert r.status_code == 422 and "The plan perpetual is perpetual, not subscription" in r.text
