"""The agent as a product's node runs it: ``licensor agent run`` against a real controller process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .conftest import ENV, Server


def _dead_url() -> str:
    """A controller URL nothing listens on (a port the kernel just gave out and took back)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _until(predicate: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


class TestAgentRun:
    def test_fails_over_to_the_next_controller_and_leaves_on_sigterm(self, server: Server) -> None:
        """With the first controller URL dead, the agent joins through the second; SIGTERM makes it leave and free the seat."""
        server.activate(server.key(nodes=2))
        cmd = [sys.executable, "-m", "licensor", "agent", "run", "--controller", _dead_url(), "--controller", server.base]
        cmd += ["--token", server.join_token, "--node-id", "edge-01"]
        proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _until(lambda: [i["id"] for i in server.get("/api/v1/nodes").json()["items"]] == ["edge-01"])
            assert server.status()["nodes_used"] == 1
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        assert "left" in err
        assert server.status()["nodes_used"] == 0
        left = server.get("/api/v1/audit?event=left").json()
        assert [e["subject"] for e in left] == ["edge-01"]

    def test_refused_agent_says_why_and_keeps_trying(self, server: Server) -> None:
        """Without a license the agent logs the refusal's code and hint, stays up retrying, and joins once a key is activated."""
        cmd = [sys.executable, "-m", "licensor", "agent", "run", "--controller", server.base]
        cmd += ["--token", server.join_token, "--node-id", "edge-02"]
        proc = subprocess.Popen(cmd, env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1.5)
            assert proc.poll() is None
            assert server.status()["nodes_used"] == 0
            server.activate(server.key(nodes=1))
            _until(lambda: server.status()["nodes_used"] == 1, timeout=60)
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "refused: missing:" in err
        assert proc.returncode == 0
