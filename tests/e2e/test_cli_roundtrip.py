"""The offline round trip through the real ``licensor`` command, in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest


@dataclass
class Run:
    code: int
    out: str
    err: str


def licensor(*args: str | Path, data: Path, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
    e = {**os.environ, "LICENSOR_CLUSTER_ID": "cluster-home", **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", "licensor", *map(str, args), "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=e,
        input=stdin,
        timeout=60,
    )
    return Run(p.returncode, p.stdout, p.stderr)


def ok(r: Run) -> Run:
    assert r.code == 0, r
    return r


@pytest.fixture
def vendor(tmp_path: Path) -> Path:
    d = tmp_path / "vendor-side"
    ok(licensor("vendor", "init", data=d))
    ok(licensor("vendor", "public-key", "--out", tmp_path / "vendor.pub", data=d))
    return d


def new_controller(tmp_path: Path, name: str, env: dict[str, str] | None = None) -> Path:
    d = tmp_path / name
    ok(licensor("controller", "init", "--trust", tmp_path / "vendor.pub", data=d, env=env))
    return d


def request(ctl: Path, out: Path, env: dict[str, str] | None = None, **kw: str) -> Path:
    args = {"name": "Ada Admin", "email": "ada@example.com", "company": "ACME", "nodes": "5", "months": "12", **kw}
    flat = [x for k, v in args.items() for x in (f"--{k.replace('_', '-')}", v)]
    ok(licensor("controller", "request", *flat, "--out", out, data=ctl, env=env))
    return out


def status(ctl: Path, env: dict[str, str] | None = None) -> tuple[int, dict]:
    r = licensor("controller", "status", "--json", data=ctl, env=env)
    return r.code, json.loads(r.out)


class TestRoundTrip:
    def test_issue_and_activate_reports_exactly_what_was_issued(self, tmp_path: Path, vendor: Path) -> None:
        """vendor init → controller init → request → issue → activate → status --json is valid with the issued terms."""
        ctl = new_controller(tmp_path, "site-a")
        code, st = status(ctl)
        assert code == 1 and st["state"] == "missing" and st["nodes"] is None
        req = request(ctl, tmp_path / "req.txt", remote_clusters="2")
        info = json.loads(ok(licensor("vendor", "inspect-request", req, "--json", data=vendor)).out)
        assert info["installation_id"] == st["installation_id"]
        assert (info["nodes"], info["months"], info["remote_clusters"]) == (5, 12, 2)
        ok(
            licensor(
                "vendor", "issue", req, "--nodes", "7", "--type", "subscription", "--expires", "2031-06-30",
                "--maintenance-until", "2030-12-31", "--feature", "fips", "--feature", "multi-cluster",
                "--customer", "ACME Europe", "--out", tmp_path / "lic.txt", data=vendor,
            )
        )  # fmt: skip
        r = ok(licensor("controller", "activate", tmp_path / "lic.txt", data=ctl))
        assert "Activated license" in r.out
        code, st = status(ctl)
        assert code == 0
        assert {k: st[k] for k in ("state", "code", "customer", "type", "expires", "maintenance_until", "nodes", "remote_clusters")} == {
            "state": "valid",
            "code": "valid",
            "customer": "ACME Europe",
            "type": "subscription",
            "expires": "2031-06-30T00:00:00Z",
            "maintenance_until": "2030-12-31T00:00:00Z",
            "nodes": 7,
            "remote_clusters": 2,
        }
        assert st["features"] == ["fips", "multi-cluster"]
        assert st["installation_id"] == info["installation_id"] and st["hint"]

    def test_perpetual_has_no_expiry_and_a_year_of_maintenance(self, tmp_path: Path, vendor: Path) -> None:
        """A perpetual key from stdin: expires null, maintenance a year out, remote clusters from the request."""
        ctl = new_controller(tmp_path, "site-p")
        req = request(ctl, tmp_path / "req.txt", remote_clusters="1")
        lic = ok(licensor("vendor", "issue", "-", "--nodes", "3", "--type", "perpetual", data=vendor, stdin=req.read_text())).out
        ok(licensor("controller", "activate", "-", data=ctl, stdin=lic))
        _, st = status(ctl)
        assert st["state"] == "valid" and st["type"] == "perpetual" and st["expires"] is None
        assert st["remote_clusters"] == 1 and st["nodes"] == 3
        maintenance = datetime.fromisoformat(st["maintenance_until"])
        assert timedelta(days=364) < maintenance - datetime.now(UTC) <= timedelta(days=366)

    def test_renewal_replaces_atomically_and_keeps_history(self, tmp_path: Path, vendor: Path) -> None:
        """A second key replaces the first; the first stays in the history."""
        ctl = new_controller(tmp_path, "site-r")
        req = request(ctl, tmp_path / "req.txt")
        for n, nodes in ((1, "5"), (2, "9")):
            ok(licensor("vendor", "issue", req, "--nodes", nodes, "--type", "subscription", "--out", tmp_path / f"k{n}.txt", data=vendor))
        ok(licensor("controller", "activate", tmp_path / "k1.txt", data=ctl))
        r = ok(licensor("controller", "activate", tmp_path / "k2.txt", data=ctl))
        assert "replaces" in r.out
        _, st = status(ctl)
        assert st["nodes"] == 9 and st["serial"] == 2
        hist = json.loads(ok(licensor("controller", "history", "--json", data=ctl)).out)
        assert [(h["serial"], h["active"]) for h in hist] == [(2, True), (1, False)]


class TestRefusals:
    def test_key_for_another_installation(self, tmp_path: Path, vendor: Path) -> None:
        """A key issued for A, activated on B: exit 1, wrong_installation, hint naming both; B unchanged."""
        a = new_controller(tmp_path, "site-a")
        b = new_controller(tmp_path, "site-b")
        ok(licensor("vendor", "issue", request(a, tmp_path / "a.txt"), "--nodes", "5", "--type", "subscription",
                    "--out", tmp_path / "a-lic.txt", data=vendor))  # fmt: skip
        r = licensor("controller", "activate", tmp_path / "a-lic.txt", data=b)
        _, sa = status(a)
        _, sb = status(b)
        assert r.code == 1
        assert "wrong_installation" in r.err
        assert sa["installation_id"] in r.err and sb["installation_id"] in r.err
        assert sb["state"] == "missing"

    def test_copy_on_another_cluster_is_refused_but_failover_is_not(self, tmp_path: Path, vendor: Path) -> None:
        """The same database on another host of the cluster keeps working; on another cluster it is refused naming the factor."""
        ctl = new_controller(tmp_path, "site-c")
        ok(licensor("vendor", "issue", request(ctl, tmp_path / "r.txt"), "--nodes", "5", "--type", "subscription",
                    "--out", tmp_path / "l.txt", data=vendor))  # fmt: skip
        ok(licensor("controller", "activate", tmp_path / "l.txt", data=ctl))
        replica = {"LICENSOR_MACHINE_ID": "another-machine", "LICENSOR_HOSTNAME": "ctl-1", "LICENSOR_DMI_UUID": "x"}
        code, st = status(ctl, env=replica)
        assert (code, st["state"]) == (0, "valid")
        copy = tmp_path / "stolen"
        shutil.copytree(ctl, copy)
        code, st = status(copy, env={"LICENSOR_CLUSTER_ID": "cluster-elsewhere"})
        assert code == 1 and st["state"] == "wrong_installation"
        assert st["details"]["factors_changed"] == ["cluster"]

    def test_untrusted_vendor_key(self, tmp_path: Path, vendor: Path) -> None:
        """A key signed by a vendor key the controller does not trust: unknown_key."""
        ctl = new_controller(tmp_path, "site-u")
        req = request(ctl, tmp_path / "r.txt")
        rogue = tmp_path / "rogue"
        ok(licensor("vendor", "init", data=rogue))
        ok(licensor("vendor", "issue", req, "--nodes", "500", "--type", "perpetual", "--out", tmp_path / "l.txt", data=rogue))
        r = licensor("controller", "activate", tmp_path / "l.txt", data=ctl)
        assert r.code == 1 and "unknown_key" in r.err and "k4.pid." in r.err

    def test_older_serial_after_newer_is_superseded(self, tmp_path: Path, vendor: Path) -> None:
        """Serial 1 after serial 2 was activated: exit 1, superseded; serial 2 stays active."""
        ctl = new_controller(tmp_path, "site-s")
        req = request(ctl, tmp_path / "r.txt")
        for n in (1, 2):
            ok(licensor("vendor", "issue", req, "--nodes", str(n), "--type", "subscription", "--out", tmp_path / f"k{n}.txt", data=vendor))
        ok(licensor("controller", "activate", tmp_path / "k2.txt", data=ctl))
        r = licensor("controller", "activate", tmp_path / "k1.txt", data=ctl)
        assert r.code == 1 and "superseded" in r.err
        _, st = status(ctl)
        assert st["serial"] == 2 and st["state"] == "valid"

    @pytest.mark.parametrize("text", ["not a key at all", "v4.public.%%%", "\x00\x01binary"])
    def test_malformed_input_is_exit_2_without_traceback(self, tmp_path: Path, vendor: Path, text: str) -> None:
        """Malformed input: exit 2, code malformed, a hint, no traceback."""
        ctl = new_controller(tmp_path, "site-m")
        r = licensor("controller", "activate", "-", data=ctl, stdin=text)
        assert r.code == 2 and "malformed" in r.err and "Traceback" not in r.err

    def test_bad_usage_is_exit_2(self, tmp_path: Path, vendor: Path) -> None:
        """Missing options, unknown files and impossible asks are usage errors with a sentence."""
        req_dir = new_controller(tmp_path, "site-x")
        assert licensor("vendor", "issue", tmp_path / "nope.txt", "--nodes", "1", "--type", "perpetual", data=vendor).code == 2
        req = request(req_dir, tmp_path / "r.txt")
        r = licensor("vendor", "issue", req, "--nodes", "1", "--type", "perpetual", "--expires", "2030-01-01", data=vendor)
        assert r.code == 2 and "perpetual" in r.err
        assert licensor("controller", "request", "--name", "x", data=req_dir).code == 2
        assert licensor("controller", "status", data=tmp_path / "never-initialised").code == 2


class TestSecrets:
    def test_secrets_are_owner_only(self, tmp_path: Path, vendor: Path) -> None:
        """The vendor signing key and the controller database (installation key) are mode 0600."""
        ctl = new_controller(tmp_path, "site-perm")
        key_files = [p for p in vendor.rglob("*") if p.is_file() and ("key" in p.name or p.suffix in (".db", ".sqlite"))]
        assert key_files, list(vendor.rglob("*"))
        for p in [*key_files, *(q for q in ctl.rglob("*.db"))]:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p

    def test_demo_runs(self) -> None:
        """`licensor demo --narrated` (the non-interactive CLI round trip) completes the round trip."""
        p = subprocess.run([sys.executable, "-m", "licensor", "demo", "--narrated"], capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "state             valid" in p.stdout
