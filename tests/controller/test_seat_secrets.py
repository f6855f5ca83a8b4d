"""Seat secrets: a seat belongs to the agent that joined it, not to every holder of the join token.

The controller in process (``create_app``; served on 127.0.0.1 where an agent process calls it), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from licensor.agent import Agent, Result, session
from licensor.controller import store as s
from licensor.controller.migrate import upgrade
from licensor.controller.runtime import Controller, Op
from licensor.controller.store import Store
from tests.inprocess import licensed_controller

from .conftest import Server, agent_run, stop_agent
from .test_enforcement import wait_for


def _seat_ids(server: Server) -> list[str]:
    return [i["id"] for i in server.get("/api/v1/nodes").json()["items"]]


class TestAnotherAgentCannotTouchASeat:
    def test_join_token_holder_cannot_heartbeat_free_or_take_another_seat(self, server: Server) -> None:
        """Agent B, with the same join token, cannot heartbeat, leave or rejoin agent A's seat: 403/409 with code and hint; A keeps it."""
        server.activate(server.key(nodes=2))
        base, agent, http = "/api/v1/nodes", server.agent, server.http
        a = http.post(f"{base}/join", json={"node_id": "node-a"}, headers=agent)
        assert a.status_code == 200 and a.json()["status"] == "admitted", a.text
        a_secret = a.json().get("seat_secret", "")
        mine = {**agent, "x-seat-secret": a_secret}

        # B: no secret, a made-up one, and the hash-looking kind.
        for headers in (agent, {**agent, "x-seat-secret": "guess"}, {**agent, "x-seat-secret": "0" * 64}):
            hb = http.post(f"{base}/node-a/heartbeat", headers=headers)
            assert hb.status_code == 403 and hb.json()["code"] == "seat_secret", hb.text
            assert hb.json()["hint"].startswith("This is not the secret") and "X-Seat-Secret" in hb.json()["hint"]
            gone = http.delete(f"{base}/node-a", headers=headers)
            assert gone.status_code == 403 and gone.json()["code"] == "seat_secret", gone.text
        taken = http.post(f"{base}/join", json={"node_id": "node-a"}, headers=agent)
        assert taken.status_code == 409 and taken.json()["code"] == "seat_taken", taken.text
        assert "60 s after its last heartbeat" in taken.json()["hint"] and "admin" in taken.json()["hint"]
        assert "seat_secret" not in taken.json()

        # A still holds its seat, with the same secret; B's attempts left no trace but refusals.
        assert _seat_ids(server) == ["node-a"] and server.status()["nodes_used"] == 1
        assert http.post(f"{base}/node-a/heartbeat", headers=mine).status_code == 200
        assert server.get("/api/v1/audit?event=left").json() == []
        refused = server.get("/api/v1/audit?event=refused").json()
        assert {e["code"] for e in refused} == {"seat_secret", "seat_taken"} and len(refused) == 7

        # A leaves with its secret; then the secret is worth nothing.
        left = http.delete(f"{base}/node-a", headers=mine)
        assert left.status_code == 200 and left.json()["left"] is True
        assert http.post(f"{base}/node-a/heartbeat", headers=mine).json()["code"] == "not_joined"

    def test_an_admin_releases_any_seat_without_its_secret(self, server: Server) -> None:
        """The admin token frees a seat whose holder lost its secret (audited as released); an admin heartbeat still needs the secret."""
        server.activate(server.key(nodes=2))
        assert server.join("stuck").status_code == 200
        lost = server.seat_secrets[("node", "stuck")]
        hb = server.http.post("/api/v1/nodes/stuck/heartbeat", headers=server.admin)
        assert hb.status_code == 403 and hb.json()["code"] == "seat_secret"
        r = server.leave("stuck", admin=True)
        assert r.status_code == 200 and r.json()["left"] is True, r.text
        assert _seat_ids(server) == []
        released = server.get("/api/v1/audit?event=released").json()
        assert [(e["subject"], e["code"]) for e in released] == [("stuck", "admin")]
        # Free again: a new agent joins under the id with a new secret.
        again = server.join("stuck")
        assert again.status_code == 200 and again.json()["seat_secret"] != lost


class TestRejoin:
    def test_join_with_the_secret_is_the_same_holder(self, make_server: Any) -> None:
        """A rejoin with the secret keeps the one seat and the secret; without it the seat is taken until the TTL, then reclaimable."""
        server: Server = make_server(ttl=2.0)
        server.activate(server.key(nodes=1))
        first = server.join("n1")
        secret = first.json()["seat_secret"]
        assert len(secret) >= 22  # 128 bits or more, URL-safe base64
        for _ in range(3):
            again = server.join("n1", secret=secret)
            assert again.status_code == 200 and again.json()["status"] == "rejoined" and "seat_secret" not in again.json()
        assert server.status()["nodes_used"] == 1
        assert server.heartbeat("n1", secret=secret).status_code == 200
        assert server.join("n1").json()["code"] == "seat_taken"
        # Silent past the TTL: the seat frees itself, and a join without the old secret gets it with a new one.
        took = wait_for(lambda: (r := server.join("n1")).status_code == 200 and r, timeout=10, step=0.5)
        assert took.json()["status"] == "admitted" and took.json()["seat_secret"] != secret
        old = server.heartbeat("n1", secret=secret)
        assert old.status_code == 403 and old.json()["code"] == "seat_secret"
        assert server.heartbeat("n1").status_code == 200


class TestRestartedAgent:
    @pytest.mark.socket  # the agent is a ``licensor agent run`` process: killed, restarted, signalled
    def test_a_restart_with_the_state_file_rejoins_at_once(self, make_server: Any, tmp_path: Path) -> None:
        """``licensor agent run --state-file``: killed and started again, it rejoins its own seat at once (the TTL is 60 s)."""
        server: Server = make_server(ttl=60.0)
        server.activate(server.key(nodes=1))
        state = tmp_path / "agent-state.json"
        with agent_run(server, "edge-1", "--verbose", "--state-file", str(state)) as proc:
            wait_for(lambda: _seat_ids(server) == ["edge-1"])
            wait_for(state.exists)
            err = stop_agent(proc, signal.SIGKILL)
        assert "admitted" in err
        assert oct(state.stat().st_mode & 0o777) == "0o600"
        assert "seat_secret" not in err and state.read_text() not in err  # the secret is not logged
        before = server.get("/api/v1/nodes").json()["items"][0]["last_seen"]
        time.sleep(1.1)  # last_seen is shown to the second: a rejoin within the same second would look like no rejoin
        with agent_run(server, "edge-1", "--verbose", "--state-file", str(state)) as proc:
            wait_for(lambda: server.get("/api/v1/nodes").json()["items"][0]["last_seen"] != before, timeout=20, step=0.2)
            out = stop_agent(proc)
        assert "rejoined" in out and "seat_taken" not in out, out
        assert server.get("/api/v1/audit?event=refused").json() == []
        assert not state.exists()  # it left on SIGTERM: the secret is dropped with the seat
        assert _seat_ids(server) == []

    @pytest.mark.socket  # the Agent speaks HTTP over its own aiohttp connections
    def test_a_restart_without_its_secret_gets_the_seat_after_the_ttl(self, make_server: Any) -> None:
        """An agent that lost its secret (a new Agent, no state file) is refused seat_taken until its old seat times out, then joins."""
        server: Server = make_server(ttl=3.0)
        server.activate(server.key(nodes=1))

        async def go() -> tuple[list[str], float]:
            async with session() as client:
                first = Agent([server.base], server.join_token, "edge-2", client=client)
                assert (await first.join()).status == "admitted" and first.secret
                started = time.monotonic()
                again = Agent([server.base], server.join_token, "edge-2", client=client, backoff=(0.2, 0.5))
                seen: list[str] = []
                stop = asyncio.Event()

                def event(what: str, r: Result | Exception) -> None:
                    seen.append(r.code if isinstance(r, Result) and not r.ok else what)
                    if what == "admitted":
                        stop.set()

                await asyncio.wait_for(again.run(stop, event), timeout=30)
                return seen, time.monotonic() - started

        seen, took = asyncio.run(go())
        assert seen[0] == "seat_taken" and seen[-2:] == ["admitted", "left"], seen
        assert set(seen[:-2]) == {"seat_taken"} and took >= 2.5
        joined = server.get("/api/v1/audit?event=joined").json()
        assert [e["subject"] for e in joined] == ["edge-2", "edge-2"]


class TestInProcess:
    def _controller(self, url: str, nodes: int = 5) -> Controller:
        return licensed_controller(url, nodes)

    def test_one_batch_gives_a_new_seat_and_its_secret_once(self, database_url: str) -> None:
        """Two joins for one new id in one batch: the first gets the seat and the secret, the second finds it taken."""
        ctl = self._controller(database_url)
        try:
            first, second = ctl.apply([Op("join", "node", "x"), Op("join", "node", "x")])
            assert (first.status, bool(first.secret)) == ("admitted", True)
            assert (second.ok, second.code, second.secret) == (False, "seat_taken", "")
            beat, stray = ctl.apply([Op("heartbeat", "node", "x", secret=first.secret), Op("heartbeat", "node", "x", secret="x")])
            assert beat.status == "alive" and stray.code == "seat_secret"
            with ctl.store.tx() as c:
                stored = c.execute(select(s.seats.c.secret_hash)).scalar_one()
            assert stored is not None and first.secret not in stored and len(stored) == 64  # only a hash is kept
        finally:
            ctl.store.close()

    def test_seats_from_before_secrets_must_rejoin(self, database_url: str) -> None:
        """Migration 0004 keeps old seats without a secret: their heartbeats are refused, the first join takes the seat in its place."""
        store = Store(database_url)
        try:
            upgrade(store.engine, "0002")
            with store.tx() as c:
                c.exec_driver_sql(
                    "INSERT INTO seats (kind, seat_id, joined_at, last_seen, address) "
                    "VALUES ('node', 'old-1', '2020-01-01 00:00:00+00:00', '2020-01-01 00:00:00+00:00', '10.0.0.1')"
                )
            upgrade(store.engine)
        finally:
            store.close()
        ctl = self._controller(database_url)
        try:
            with ctl.store.tx() as c:
                row = c.execute(select(s.seats)).one()
            assert row.seat_id == "old-1" and row.secret_hash is None
            joined_at = row.joined_at
            with ctl.store.tx() as c:  # keep the legacy seat live, as if its agent had just heartbeat
                c.execute(s.seats.update().values(last_seen=ctl.clock()))
            (hb,) = ctl.apply([Op("heartbeat", "node", "old-1")])
            assert hb.code == "seat_secret" and "before seats had secrets" in hb.hint
            (gone,) = ctl.apply([Op("leave", "node", "old-1")])
            assert gone.code == "seat_secret"
            (j,) = ctl.apply([Op("join", "node", "old-1", "10.0.0.1")])
            assert j.ok and j.status == "admitted" and j.secret
            (hb,) = ctl.apply([Op("heartbeat", "node", "old-1", secret=j.secret)])
            assert hb.status == "alive"
            seats = ctl.seats("node")
            assert [x["id"] for x in seats] == ["old-1"] and seats[0]["joined_at"].startswith(joined_at.strftime("%Y-%m-%d"))
            assert [e["code"] for e in ctl.audit_entries(event="joined")] == ["seat_reclaimed"]
        finally:
            ctl.store.close()


class TestAgentStateFile:
    def test_only_this_seats_secret_is_taken_from_the_file(self, tmp_path: Path) -> None:
        """A state file for another id or kind, or a damaged one, gives no secret (the agent joins as new); its own does."""
        state = tmp_path / "state.json"

        def secret_for(text: str, seat_id: str = "n1", kind: str = "node") -> str:
            state.write_text(text)
            return Agent(["http://127.0.0.1:9"], "t", seat_id, kind=kind, state_file=state).secret

        good = '{"kind": "node", "seat_id": "n1", "seat_secret": "abc"}'
        assert secret_for(good) == "abc"
        assert secret_for(good, seat_id="n2") == "" and secret_for(good, kind="cluster") == ""
        for damaged in ("", "{", "[]", '{"kind": "node", "seat_id": "n1"}'):
            assert secret_for(damaged) == ""
        state.write_bytes(b"\xff\xfe")  # not UTF-8
        assert Agent(["http://127.0.0.1:9"], "t", "n1", state_file=state).secret == ""
        state.unlink()
        assert Agent(["http://127.0.0.1:9"], "t", "n1", state_file=state).secret == ""

    def test_an_unwritable_state_file_does_not_stop_the_agent(self, tmp_path: Path) -> None:
        """Keeping the secret where it cannot be written logs a warning; the secret stays in memory."""
        agent = Agent(["http://127.0.0.1:9"], "t", "n1", state_file=tmp_path / "missing-dir" / "state.json")
        agent._keep_secret("abc")
        assert agent.secret == "abc" and not (tmp_path / "missing-dir").exists()
