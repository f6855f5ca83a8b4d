"""Helpers the test suites share (import as ``tests.helpers``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import Result


def free_port() -> int:
    """A port of 127.0.0.1 that the kernel just gave out and took back: free now, most likely still free when a server binds it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_licensor(*args: str, env: Mapping[str, str], input: str | None = None, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the real ``licensor`` command in a subprocess, with ``env`` as its whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "licensor", *args],
        capture_output=True,
        text=True,
        input=input,
        env=env,
        timeout=timeout,
    )


def wait_healthy(proc: subprocess.Popen[bytes], base: str, log: Path | None, what: str, timeout: float = 60) -> None:
    """Wait until the server ``proc`` answers ``base/healthz``; fail with its log if it exits or never answers."""
    from licensor.demo import until_healthy

    def said() -> str:
        return log.read_text() if log is not None else "(no log kept)"

    try:
        up = until_healthy(base, proc, timeout)
    except TimeoutError:
        raise AssertionError(f"the {what} did not start: {said()}") from None
    if not up:
        raise AssertionError(f"the {what} exited with {proc.returncode}: {said()}")


def terminate(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM the process group of ``proc`` (SIGKILL after 15 s); nothing if it has already ended."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def sql(database_url: str, statement: str, **params: Any) -> Result[Any]:
    """Run one SQL statement on the database at ``database_url`` (committed) and return its rows, read whole.

    For tests that tamper with what a service stored, as someone with the database would."""
    from sqlalchemy import create_engine, text

    url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://") if database_url.startswith("postgresql://") else database_url
    engine = create_engine(url)
    try:
        with engine.begin() as c:
            result = c.execute(text(statement), params)
            return result.freeze()() if result.returns_rows else result
    finally:
        engine.dispose()
