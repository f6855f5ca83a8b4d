"""The issuer's license lifecycle: one live key per installation whichever path made it, states, and issue validation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from issuer_helpers import Server, ok

from licensor.identity import InstallationKey
from licensor.issuer import migrate
from licensor.issuer import store as s
from licensor.server.db import UTCDateTime
from licensor.testing import request_code

T = datetime(2025, 1, 1, tzinfo=UTC)


def issue(srv: Server, code: str, status: int = 201, **terms: Any) -> dict[str, Any]:
    with srv.client() as c:
        r = c.post("/api/v1/licenses", json={"request_code": code, **terms})
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()
    return data


def listed(srv: Server, installation_id: str) -> dict[str, dict[str, Any]]:
    with srv.client("reader") as c:
        r = c.get("/api/v1/licenses", params={"installation_id": installation_id})
    assert r.status_code == 200, r.text
    return {x["license_id"]: x for x in r.json()}


def console(srv: Server, path: str) -> httpx.Response:
    """A console page as a signed-in clerk sees it."""
    ok(srv.vendor("admin", "create-user", "clerk", "--password-stdin", input="a long clerk password\n"))
    with srv.client(None) as c:
        r = c.post("/api/v1/login", json={"username": "clerk", "password": "a long clerk password"})
        assert r.status_code == 200, r.text
        return c.get(path, headers={"Cookie": f"licensor_session={r.cookies['licensor_session']}"})


class TestSupersession:
    def test_new_request_supersedes_the_live_key_in_api_cli_and_console(self, server: Server) -> None:
        """A license issued from a new request code of the same installation supersedes its live key everywhere."""
        key, first_code = request_code(nodes=5)
        first = issue(server, first_code)
        assert first["state"] == "current" and first["supersedes"] is None
        _, second_code = request_code(key, nodes=8)
        second = issue(server, second_code)
        assert second["supersedes"] == first["license_id"]
        rows = listed(server, first["installation_id"])
        assert rows[first["license_id"]]["superseded_by"] == second["license_id"]
        assert rows[first["license_id"]]["state"] == "superseded"
        assert rows[second["license_id"]]["state"] == "current" and rows[second["license_id"]]["superseded_by"] is None
        out = json.loads(ok(server.vendor("list", "--installation", first["installation_id"], "--json")).out)
        assert {r["license_id"]: r["superseded_by"] for r in out} == {first["license_id"]: second["license_id"], second["license_id"]: None}
        page = console(server, "/licenses")
        assert page.status_code == 200
        assert f'superseded by <a href="/licenses/{second["license_id"]}"' in page.text

    def test_only_the_newest_of_many_is_live(self, server: Server) -> None:
        """Four keys of one installation (issue, issue, renew, issue): one is current, three are superseded."""
        key, code = request_code()
        a = issue(server, code)
        b = issue(server, request_code(key)[1])
        with server.client() as c:
            renewed = c.post(f"/api/v1/licenses/{b['license_id']}/renew", json={})
        assert renewed.status_code == 201, renewed.text
        d = issue(server, request_code(key)[1])
        states = {k: v["state"] for k, v in listed(server, a["installation_id"]).items()}
        assert states == {a["license_id"]: "superseded", b["license_id"]: "superseded", renewed.json()["license_id"]: "superseded",
                          d["license_id"]: "current"}  # fmt: skip


class TestIssueValidation:
    def test_refusals_in_words(self, server: Server) -> None:
        """0 nodes, an unknown feature, a plan/type mismatch and a past expiry are refused with sentences."""
        ok(server.vendor("product-set", "demo", "--feature", "multi-cluster", "--feature", "audit"))
        _, code = request_code()
        cases = [
            ({"nodes": 0}, "at least 1 node"),
            ({"features": ["multi-clustr"]}, "has no feature multi-clustr: its catalogue is audit, multi-cluster"),
            ({"plan": "perpetual", "type": "subscription"}, "The plan perpetual is perpetual, not subscription"),
            ({"expires": "2020-01-01T00:00:00Z"}, "is already past"),
        ]
        for terms, words in cases:
            data = issue(server, code, 400, **terms)
            assert words in data["hint"], data
            assert data["hint"][0].isupper(), data
        with server.client("reader") as c:
            assert c.get("/api/v1/licenses").json() == []

    def test_unknown_feature_with_confirmation_is_issued(self, server: Server) -> None:
        """``allow_unknown_features`` issues a feature outside the catalogue; the plan's own type is accepted."""
        ok(server.vendor("product-set", "demo", "--feature", "multi-cluster"))
        _, code = request_code()
        lic = issue(server, code, features=["multi-clustr"], allow_unknown_features=True, plan="perpetual", type="perpetual")
        assert lic["features"] == ["multi-clustr"] and lic["type"] == "perpetual"
        _, code = request_code()
        args = ["issue", "-", "--nodes", "2", "--type", "subscription", "--feature", "multi-clustr"]
        refused = server.vendor(*args, input=code)
        assert refused.code != 0 and "Product demo has no feature multi-clustr" in refused.err
        ok(server.vendor(*args, "--allow-unknown-features", input=code))
        states = [r["state"] for r in json.loads(ok(server.vendor("list", "--json")).out)]
        assert states == ["current", "current"]


#: The customers table as revision 0002 has it (later revisions add columns).
CUSTOMERS_0002 = sa.table("customers", *(sa.column(n) for n in ("id", "name", "email", "contact")), sa.column("created_at", UTCDateTime))


class TestMigration:
    def test_0003_supersedes_all_but_the_newest_live_key(self, database_url: str) -> None:
        """A database at 0002 with four live keys of one installation is corrected by the upgrade; other rows stay."""
        store = s.Store(database_url)
        migrate.upgrade(store, "0002")
        with store.engine.begin() as c:
            c.execute(CUSTOMERS_0002.insert(), {"id": 1, "name": "ACME", "email": "", "contact": "", "created_at": T})
            for iid in ("inst-a", "inst-b"):
                pub = InstallationKey.generate().public_key
                inst = {"installation_id": iid, "public_key": pub, "product": "demo", "version": "1", "customer_id": 1}
                inst.update(cluster_name="", factors="{}", contact_email="", first_seen=T, last_seen=T)
                c.execute(s.installations.insert(), inst)
            rows = [("a1", "inst-a", 1), ("a2", "inst-a", 2), ("a3", "inst-a", 3), ("a4", "inst-a", 4), ("b1", "inst-b", 1)]
            for lid, iid, serial in rows:
                c.execute(s.licenses.insert(), _row(lid, iid, serial))
        migrate.upgrade(store)
        assert migrate.current(store) == migrate.head()
        with store.engine.begin() as c:
            got = {r.license_id: (r.supersedes, r.superseded_by) for r in c.execute(s.licenses.select())}
        assert got == {
            "a1": (None, "a2"),
            "a2": ("a1", "a3"),
            "a3": ("a2", "a4"),
            "a4": ("a3", None),
            "b1": (None, None),
        }
        store.engine.dispose()


def _row(license_id: str, installation_id: str, serial: int) -> dict[str, Any]:
    issued = T + timedelta(days=30 * serial)
    return {
        "license_id": license_id, "installation_id": installation_id, "serial": serial, "customer_id": 1, "customer": "ACME",
        "product": "demo", "plan": None, "type": "subscription", "nodes": 5, "remote_clusters": 0, "features": "[]",
        "grace_days": 0, "issued_at": issued, "not_before": issued, "expires": issued + timedelta(days=365),
        "maintenance_until": issued + timedelta(days=365), "kid": "k1", "token": "t", "kind": "issue", "supersedes": None,
        "superseded_by": None, "issued_by": "test",
    }  # fmt: skip
