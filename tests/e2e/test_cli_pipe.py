"""The ``licensor`` command when the reader of its output goes away (``licensor … | head``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "LICENSOR_CLUSTER_ID": "cluster-pipe", "LICENSOR_MACHINE_ID": "machine-pipe"}


def run(*args: str | Path, stdout: int | None = subprocess.PIPE, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "licensor", *map(str, args)], stdout=stdout, stderr=subprocess.PIPE, env=env, timeout=60)


def into_closed_pipe(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """Run with stdout a pipe whose reading end is already closed: the first write meets a reader that went away."""
    read, write = os.pipe()
    os.close(read)
    try:
        return run(*args, stdout=write, env=env)
    finally:
        os.close(write)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vendor and a controller that trusts it, with an audit log of a few entries."""
    d = tmp_path_factory.mktemp("pipe")
    for args in (
        ("vendor", "init"),
        ("vendor", "public-key", "--out", d / "vendor.pub"),
        ("controller", "init", "--trust", d / "vendor.pub"),
        ("controller", "join-token"),
        ("controller", "admin", "token"),
    ):
        r = run(*args, "--data-dir", d)
        assert r.returncode == 0, r.stderr.decode()
    return d


# Help (argparse's own printing), a status, a listing, a key set: each prints, so each meets the closed pipe.
COMMANDS = [("--help",), ("controller", "status"), ("controller", "audit", "list"), ("vendor", "public-key")]


class TestReaderGoesAway:
    @pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
    @pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
    def test_quiet_exit_when_stdout_is_a_closed_pipe(self, args: tuple[str, ...], buffered: bool, data: Path) -> None:
        """No traceback and no 'Exception ignored' on stderr; exit 141, as for a command SIGPIPE stopped (so it did print).

        Buffered, the error shows at the last flush; unbuffered (PYTHONUNBUFFERED), at the first write."""
        env = {k: v for k, v in ENV.items() if k != "PYTHONUNBUFFERED"} if buffered else {**ENV, "PYTHONUNBUFFERED": "1"}
        extra = () if "--help" in args else ("--data-dir", data)
        r = into_closed_pipe(*args, *extra, env=env)
        assert r.stderr == b"", f"{args}: {r.stderr.decode()}"
        assert r.returncode == 141, f"{args}: exit {r.returncode}"

    def test_head_two_lines_of_a_long_output(self, data: Path) -> None:
        """``licensor controller audit list --json | head -2`` over more than a pipe's buffer: two lines, no traceback."""
        from licensor.controller.license.service import ControllerService
        from licensor.controller.runtime import Controller
        from licensor.controller.store import Store, sqlite_url

        store = Store(sqlite_url(data / "controller"))
        try:
            ctl = Controller(ControllerService(store, factors={"cluster": "cluster-pipe"}))
            for i in range(600):
                ctl.create_token("join_token", f"agent group {i}")
        finally:
            store.close()
        full = run("controller", "audit", "list", "--json", "--limit", "1000", "--data-dir", data)
        assert len(full.stdout) > 128 * 1024, "the output must overflow the pipe's buffer for the reader to go away mid-write"
        proc = subprocess.run(
            ["sh", "-c", f"'{sys.executable}' -m licensor controller audit list --json --limit 1000 --data-dir '{data}' | head -2"],
            capture_output=True,
            env=ENV,
            timeout=60,
        )
        assert proc.stdout.decode().splitlines() == full.stdout.decode().splitlines()[:2]
        assert proc.stderr == b"", proc.stderr.decode()
