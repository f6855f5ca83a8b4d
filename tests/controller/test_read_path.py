"""``controller status``, ``history`` and ``audit verify``: the read path (stdlib sqlite3) prints what the service path prints.

Each test runs the same command twice on the same SQLite database: once as it runs (the read path answers),
once with the read path unable to answer (``readpath.sqlite_path`` finds no file), so the service runs; the two
outputs and exit codes must be identical.  A subprocess pins that the read path loads no ORM or web framework.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from licensor.controller import readpath
from licensor.controller.license import read
from licensor.controller.migrate import head
from licensor.policy import Installation
from licensor.testing import TestVendor

from ..inprocess import FACTOR_ENV, Ran, cli, make_controller, ok

GRACE_DAYS = 5


@dataclass
class Site:
    where: tuple[str, ...]
    vendor: TestVendor
    installation: Installation
    clock_file: Path

    def run(self, *args: str, env: dict[str, str] | None = None) -> Ran:
        fake = {"LICENSOR_UNSAFE_FAKE_CLOCK_FILE": str(self.clock_file), "LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK": "1"}
        return cli("controller", *args, *self.where, env={**FACTOR_ENV, **fake, **(env or {})})

    def activate(self, token: str) -> None:
        key = self.clock_file.parent / "license.key"
        key.write_text(token)
        ok(self.run("activate", str(key)))

    def shift_clock(self, delta: timedelta) -> None:
        self.clock_file.write_text(str(delta.total_seconds()))


@pytest.fixture
def site(tmp_path: Path) -> Site:
    url = f"sqlite:///{tmp_path / 'controller.db'}"
    setup = make_controller(url, tmp_path / "cli")
    clock_file = tmp_path / "clock-offset"
    clock_file.write_text("0")
    return Site(("--data-dir", str(tmp_path / "cli"), "--database-url", url), setup.vendor, setup.installation, clock_file)


def both(site: Site, monkeypatch: pytest.MonkeyPatch, *args: str, env: dict[str, str] | None = None) -> tuple[Ran, Ran]:
    """The command by the read path, then by the service path, on the same database."""
    url = site.where[-1]
    assert read.status(url, {}, datetime.now(UTC)) is not None and read.history(url) is not None  # the read path answers
    assert readpath.audit_check(url) is not None
    fast = site.run(*args, env=env)
    with monkeypatch.context() as m:
        m.setattr(readpath, "sqlite_path", lambda url: None)
        slow = site.run(*args, env=env)
    return fast, slow


def assert_same(site: Site, monkeypatch: pytest.MonkeyPatch, state: str, env: dict[str, str] | None = None) -> None:
    for args in (("status",), ("status", "--json"), ("history",), ("history", "--json"), ("audit", "verify")):
        fast, slow = both(site, monkeypatch, *args, env=env)
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err), args
    fast, _ = both(site, monkeypatch, "status", "--json", env=env)
    assert json.loads(fast.out)["state"] == state


def _subscription(site: Site, serial: int = 1, **kw: object) -> str:
    return site.vendor.issue(site.installation, now=datetime.now(UTC), serial=serial, grace_days=GRACE_DAYS, **kw)


class TestSameOutput:
    def test_no_license(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """Initialised, nothing activated: both paths say ``missing`` and exit 1 alike."""
        assert_same(site, monkeypatch, "missing")

    def test_valid(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """A valid license with features, after a replaced one: the same terms and the same history."""
        site.activate(_subscription(site, features=("sso",)))
        site.activate(_subscription(site, serial=2, features=("sso", "audit")))
        assert_same(site, monkeypatch, "valid")

    def test_grace_and_expired(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past its expiry the license is in grace, then expired: both paths agree at each step."""
        token = _subscription(site, months=1)
        site.activate(token)
        expires = site.vendor.license(site.installation, now=datetime.now(UTC), months=1).expires
        assert expires is not None
        site.shift_clock(expires - datetime.now(UTC) + timedelta(days=1))
        assert_same(site, monkeypatch, "grace")
        site.shift_clock(expires - datetime.now(UTC) + timedelta(days=GRACE_DAYS + 2))
        assert_same(site, monkeypatch, "expired")

    def test_foreign_host(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """The database copied to another host (other fingerprint factors): the same refusal from both paths."""
        site.activate(_subscription(site))
        other = {"LICENSOR_CLUSTER_ID": "another-cluster", "LICENSOR_MACHINE_ID": "another-machine"}
        fast, _ = both(site, monkeypatch, "status", "--json", env=other)
        assert json.loads(fast.out)["state"] != "valid"
        assert_same(site, monkeypatch, json.loads(fast.out)["state"], env=other)

    def test_vendor_key_no_longer_trusted(self, site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """The active key's vendor key removed from the trusted set: the same refusal, the history marks it unreadable."""
        site.activate(_subscription(site))
        other = tmp_path / "other.pub"
        other.write_text(TestVendor().keyring.to_text())
        ok(site.run("trust", str(other)))
        fast, _ = both(site, monkeypatch, "history", "--json")
        assert "unreadable" in json.loads(fast.out)[0]
        fast, _ = both(site, monkeypatch, "status", "--json")
        assert_same(site, monkeypatch, json.loads(fast.out)["state"])

    def test_not_initialised(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """No database yet: the read path steps aside and the service says how to initialise."""
        url = f"sqlite:///{tmp_path / 'none' / 'controller.db'}"
        ran = cli("controller", "status", "--database-url", url, env=FACTOR_ENV)
        assert ran.code == 2 and "not initialised" in ran.err


class TestAuditVerify:
    def test_intact_and_tampered(self, site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
        """An intact chain, then one with a changed entry, then one with its newest entry deleted: the same verdicts."""
        site.activate(_subscription(site))
        fast, _ = both(site, monkeypatch, "audit", "verify")
        assert fast.code == 0 and "hash chain verified" in fast.out
        db = Path(site.where[-1].removeprefix("sqlite:///"))
        with closing(sqlite3.connect(db)) as c, c:
            c.execute("UPDATE audit SET detail = detail || '!' WHERE id = 1")
        fast, slow = both(site, monkeypatch, "audit", "verify")
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err)
        assert fast.code == 1 and "entry 1 was changed" in fast.err
        with closing(sqlite3.connect(db)) as c, c:
            c.execute("UPDATE audit SET detail = substr(detail, 1, length(detail) - 1) WHERE id = 1")
            c.execute("DELETE FROM audit WHERE id = (SELECT max(id) FROM audit)")
        fast, slow = both(site, monkeypatch, "audit", "verify")
        assert (fast.code, fast.out, fast.err) == (slow.code, slow.out, slow.err)
        assert fast.code == 1 and "newest entries were deleted" in fast.err

    def test_old_schema_is_migrated_by_the_service(self, site: Site) -> None:
        """A database not at the newest revision: the read path steps aside (the service path migrates, as before)."""
        url = site.where[-1]
        assert readpath.audit_check(url) is not None
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as c, c:
            c.execute("UPDATE alembic_version SET version_num = '0001'")
        assert readpath.audit_check(url) is None

    def test_newest_revision_is_alembics_head(self) -> None:
        """The revision the read path expects, from the scripts' names, is the one Alembic migrates to."""
        assert readpath.newest_revision() == head()


HEAVY = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "aiohttp", "httpx", "psycopg")

PROBE = """
import sys
from licensor.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(HEAVY))
print("LOADED", code, ",".join(heavy), file=sys.stderr)
"""


def test_status_loads_no_orm_or_web_framework(site: Site) -> None:
    """``controller status``, ``history`` and ``audit verify`` in a fresh process: no ORM, web framework or HTTP client imported."""
    site.activate(_subscription(site))
    env = {**FACTOR_ENV, "PATH": "/usr/bin:/bin"}
    for cmd in ("status", "history", "audit verify"):
        probe = PROBE.replace("HEAVY", repr(HEAVY))
        p = subprocess.run(
            [sys.executable, "-c", probe, "controller", *cmd.split(), *site.where], env=env, capture_output=True, text=True, timeout=60
        )
        loaded = [line for line in p.stderr.splitlines() if line.startswith("LOADED")]
        assert loaded == ["LOADED 0 "], p.stderr
