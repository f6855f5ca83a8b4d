"""The agent as a product's node runs it: ``licensor agent run`` against a real controller process."""

from __future__ import annotations

import time

from ..helpers import free_port
from .conftest import Server, agent_run, stop_agent
from .test_enforcement import wait_for


def _dead_url() -> str:
    """A controller URL nothing listens on (a port the kernel just gave out and took back)."""
    return f"http://127.0.0.1:{free_port()}"


class TestAgentRun:
    def test_fails_over_to_the_next_controller_and_leaves_on_sigterm(self, server: Server) -> None:
        """With the first controller URL dead, the agent joins through the second; SIGTERM makes it leave and free the seat."""
        server.activate(server.key(nodes=2))
        with agent_run(server, "edge-01", urls=(_dead_url(), server.base)) as proc:
            wait_for(lambda: [i["id"] for i in server.get("/api/v1/nodes").json()["items"]] == ["edge-01"])
            assert server.status()["nodes_used"] == 1
            err = stop_agent(proc)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "left" in err
        assert server.status()["nodes_used"] == 0
        left = server.get("/api/v1/audit?event=left").json()
        assert [e["subject"] for e in left] == ["edge-01"]

    def test_refused_agent_says_why_and_keeps_trying(self, server: Server) -> None:
        """Without a license the agent logs the refusal's code and hint, stays up retrying, and joins once a key is activated."""
        with agent_run(server, "edge-02") as proc:
            # Its first refusal (the server counts it), then a while longer: it stays up, holding nothing.
            wait_for(lambda: 'licensor_refusals_total{code="missing"}' in server.get("/metrics").text, timeout=60)
            time.sleep(1.0)
            assert proc.poll() is None
            assert server.status()["nodes_used"] == 0
            server.activate(server.key(nodes=1))
            wait_for(lambda: server.status()["nodes_used"] == 1, timeout=60)
            err = stop_agent(proc)
        assert "refused: missing:" in err
        assert proc.returncode == 0
