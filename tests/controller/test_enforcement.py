"""The controller as a service, on SQLite and PostgreSQL.

In process (``create_app``), or a real server process where its workers are under test."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest

from licensor.agent import Agent, session
from licensor.usage import decode_usage_report

from ..helpers import sql
from ..inprocess import cli
from .conftest import Server


def wait_for(predicate: Any, timeout: float = 15.0, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting")


def codes(responses: list[httpx.Response]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in responses:
        key = "admitted" if r.status_code == 200 else r.json()["code"]
        out[key] = out.get(key, 0) + 1
    return out


class TestNoLicense:
    @pytest.mark.socket  # the simulator calls the controller's address
    def test_twenty_agents_all_refused_missing(self, server: Server) -> None:
        """With no license, 20 simulated agents are all refused with code missing and a hint; the node count is 0."""
        r = cli("agent", "simulate", "--controller", server.base, "--token", server.join_token, "--count", "20", "--json")
        out = json.loads(r.stdout)
        assert r.returncode == 1, r.stderr
        assert out["admitted"] == 0 and out["by_code"] == {"missing": 20}
        assert "make a request code" in out["hints"]["missing"]
        st = server.status()
        assert st["code"] == "missing" and st["nodes_used"] == 0
        assert server.get("/api/v1/nodes").json()["used"] == 0
        one = server.join("lonely")
        assert one.status_code == 422 and one.json()["code"] == "missing" and one.json()["hint"]
        assert 'licensor_refusals_total{code="missing"} 21.0' in server.get("/metrics").text


class TestSeats:
    def test_exactly_the_limit_admitted_rejoin_and_ttl(self, make_server: Any) -> None:
        """Agents wait; a key for 5 nodes is activated: exactly 5 of 20 hold seats (2 workers); rejoin keeps one seat; silence frees it."""
        server: Server = make_server(ttl=2.0, workers=2)  # a subprocess: two worker processes share the limit

        async def waiting_agents() -> list[Agent]:
            stop = asyncio.Event()
            async with session(connections=40) as client:
                agents = [Agent([server.base], server.join_token, f"w{i:02d}", client=client, backoff=(0.2, 0.4)) for i in range(20)]
                tasks = [asyncio.create_task(a.run(stop)) for a in agents]
                await asyncio.sleep(1.0)
                assert not any(a.admitted for a in agents)
                assert {a.last.code for a in agents if a.last} == {"missing"}
                await asyncio.to_thread(server.activate, server.key(nodes=5))
                await asyncio.sleep(3.0)
                admitted = [a for a in agents if a.admitted]
                refused = {a.last.code for a in agents if not a.admitted and a.last}
                used = (await asyncio.to_thread(server.status))["nodes_used"]
                stop.set()
                await asyncio.gather(*tasks)
                assert len(admitted) == 5 and used == 5
                assert refused == {"limit_reached"}
                return agents

        asyncio.run(waiting_agents())
        wait_for(lambda: server.status()["nodes_used"] == 0)  # they left on stop

        burst = server.join_all([f"b{i:02d}" for i in range(20)])
        assert codes(burst) == {"admitted": 5, "limit_reached": 15}
        assert all(r.json()["hint"] for r in burst)
        seated = [r.json() for r in burst if r.status_code == 200]
        assert len(seated) == 5
        members = [i["id"] for i in server.get("/api/v1/nodes").json()["items"]]
        assert len(members) == 5
        again = server.join(members[0], secret=None)  # with its seat secret: the same holder
        assert again.status_code == 200 and again.json()["status"] == "rejoined" and "seat_secret" not in again.json()
        assert server.status()["nodes_used"] == 5
        assert server.join("late").json()["code"] == "limit_reached"

        # All but one keep heartbeating; the silent one loses its seat after the TTL and a newcomer gets it.
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            for m in members[1:]:
                assert server.heartbeat(m).status_code == 200
            time.sleep(0.4)
        gone = server.heartbeat(members[0])
        assert gone.status_code == 409 and gone.json()["code"] == "not_joined"
        assert server.join("newcomer").status_code == 200
        audit = server.get("/api/v1/audit?event=expired").json()
        assert [e["subject"] for e in audit] == [members[0]]

    def test_remote_clusters_up_to_their_limit(self, server: Server) -> None:
        """Remote clusters join up to remote_clusters, and not at all when the license allows none."""
        server.activate(server.key(nodes=3, remote_clusters=0))
        r = server.join("dc-2", kind="cluster")
        assert r.status_code == 422 and r.json()["code"] == "clusters_not_licensed"
        server.activate(server.key(nodes=3, remote_clusters=2))
        assert codes(server.join_all(["dc-2", "dc-3", "dc-4", "dc-5"], kind="cluster")) == {"admitted": 2, "limit_reached": 2}
        assert server.heartbeat("dc-2", kind="cluster").status_code in (200, 409)
        listed = server.get("/api/v1/clusters").json()
        assert listed["used"] == 2 and listed["limit"] == 2
        left = server.leave(listed["items"][0]["id"], kind="cluster")
        assert left.json()["left"] is True
        assert server.join("dc-9", kind="cluster").status_code == 200


class TestExpiry:
    def test_expired_subscription_refuses_and_releases(self, server: Server) -> None:
        """Past expiry, heartbeats lose their seats and joins are refused with code expired; warnings come before."""
        now = server.now()
        server.activate(server.key(nodes=5, expires=now + timedelta(days=10), features=("sso",)))
        assert codes(server.join_all(["a", "b", "c"])) == {"admitted": 3}
        st = server.status()
        assert any("License expires in 10 days" in w for w in st["warnings"])
        assert server.get("/api/v1/features/sso", admin=False).json()["enabled"] is True
        server.shift_clock(days=11)
        hb = server.heartbeat("a")
        assert hb.status_code == 422 and hb.json()["code"] == "expired" and "renew" in hb.json()["hint"]
        j = server.join("d")
        assert j.json()["code"] == "expired"
        st = server.status()
        assert st["code"] == "expired" and st["nodes_used"] == 0
        assert server.get("/api/v1/features/sso", admin=False).json()["enabled"] is False
        assert 'licensor_license_state{state="expired"} 1.0' in server.get("/metrics").text

    def test_grace_keeps_connected_nodes_only(self, server: Server) -> None:
        """Within grace_days after expiry, connected nodes keep their seats, no new node joins, the status says so."""
        server.activate(server.key(nodes=5, expires=server.now() + timedelta(seconds=3), grace_days=7))
        assert server.join("a").status_code == 200
        wait_for(lambda: server.heartbeat("a").status_code == 200 and server.status()["code"] == "grace", timeout=10, step=0.5)
        assert server.heartbeat("a").status_code == 200
        j = server.join("b")
        assert j.status_code == 422 and j.json()["code"] == "grace" and "no new node" in j.json()["hint"]
        st = server.status()
        assert st["code"] == "grace" and st["nodes_used"] == 1 and st["grace_until"]

    def test_perpetual_past_maintenance(self, server: Server) -> None:
        """A perpetual license runs on after maintenance end; updates released after it are refused, before it allowed."""
        server.activate(server.key(nodes=5, type="perpetual", months=1))
        end = server.now() + timedelta(days=31)
        server.shift_clock(days=45)
        assert server.join("p1").status_code == 200
        st = server.status()
        assert st["code"] == "valid" and any("Maintenance ended" in w for w in st["warnings"])

        def check(version: str, released: timedelta) -> dict[str, Any]:
            params = {"version": version, "released": (end + released).date().isoformat()}
            return dict(server.get("/api/v1/updates", admin=False, params=params).json())

        late = check("2.0", timedelta(days=5))
        assert late["allowed"] is False and late["code"] == "maintenance_expired" and "renew maintenance" in late["hint"]
        early = check("1.9", timedelta(days=-5))
        assert early["allowed"] is True


class TestRenewalAndRestart:
    def test_lower_limit_keeps_longest_connected_and_restart_keeps_all(self, server: Server) -> None:
        """A renewal with fewer nodes keeps the longest-connected and audits evictions; a restart keeps license, nodes and audit."""
        server.activate(server.key(nodes=5))
        for n in ["n1", "n2", "n3", "n4", "n5"]:
            assert server.join(n).status_code == 200
        act = server.activate(server.key(nodes=3, remote_clusters=1))
        assert act["replaced"] and act["status"]["nodes_limit"] == 3
        assert [i["id"] for i in server.get("/api/v1/nodes").json()["items"]] == ["n1", "n2", "n3"]
        evicted = server.get("/api/v1/audit?event=evicted").json()
        assert sorted(e["subject"] for e in evicted) == ["n4", "n5"] and all(e["code"] == "limit_lowered" for e in evicted)
        assert server.heartbeat("n4").json()["code"] == "not_joined"
        before = server.get("/api/v1/audit?limit=1000").json()

        server.restart()
        st = server.status()
        assert st["code"] == "valid" and st["nodes"] == 3 and st["nodes_used"] == 3
        assert [i["id"] for i in server.get("/api/v1/nodes").json()["items"]] == ["n1", "n2", "n3"]
        assert server.get("/api/v1/audit?limit=1000").json() == before
        assert len(server.get("/api/v1/license/history").json()) == 2
        assert server.heartbeat("n1").status_code == 200  # the join token (configuration) still works

        r = server.cli("controller", "usage-report", "--month", server.now().strftime("%Y-%m"))
        assert r.returncode == 0, r.stderr
        rep = decode_usage_report(r.stdout)
        assert rep.peak_nodes == 5 and rep.installation_id == server.installation.id


class TestClockAndAudit:
    def test_clock_rollback_reported_and_audit_tamper_caught(self, server: Server) -> None:
        """A clock 3 days behind trusted time is clock_rollback; small skew is fine; audit verify catches edits and deletions."""
        server.activate(server.key(nodes=5, now=server.now() - timedelta(hours=3)))
        assert server.join("n1").status_code == 200
        server.shift_clock(hours=-2)
        assert server.status()["code"] == "valid"
        server.shift_clock(days=-3)
        st = server.status()
        assert st["code"] == "clock_rollback" and "clock" in st["hint"]
        j = server.join("n2")
        assert j.status_code == 422 and j.json()["code"] == "clock_rollback"
        assert 'licensor_license_state{state="clock_rollback"} 1.0' in server.get("/metrics").text
        server.shift_clock(days=0)
        assert server.status()["code"] == "valid"

        ok = server.cli("controller", "audit", "verify")
        assert ok.returncode == 0 and "intact" in ok.stdout
        assert server.get("/api/v1/audit/verify").json()["ok"] is True
        original = sql(server.url, "SELECT detail FROM audit WHERE id = 4").scalar_one()
        sql(server.url, "UPDATE audit SET detail = 'nothing to see' WHERE id = 4")
        bad = server.cli("controller", "audit", "verify")
        assert bad.returncode == 1 and "entry 4 was changed" in bad.stderr
        check = server.get("/api/v1/audit/verify").json()
        assert check["ok"] is False and check["bad_id"] == 4
        sql(server.url, "UPDATE audit SET detail = :detail WHERE id = 4", detail=original)
        last = sql(server.url, "SELECT max(id) FROM audit").scalar_one()
        assert server.cli("controller", "audit", "verify").returncode == 0
        sql(server.url, "DELETE FROM audit WHERE id = :id", id=last)
        tail = server.cli("controller", "audit", "verify")
        assert tail.returncode == 1 and "newest entries were deleted" in tail.stderr
        sql(server.url, "DELETE FROM audit WHERE id = 2")
        gone = server.cli("controller", "audit", "verify")
        assert gone.returncode == 1 and "entry 2 is missing" in gone.stderr
