"""Issuer test helpers: controllers driven by the CLI, a real 'licensor vendor serve' process, request codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.helpers import run_licensor

from licensor.identity import InstallationKey, hash_factors
from licensor.issuer.service import SCOPES
from licensor.request import Contact, make_request
from licensor.testing import T0

ENV = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}


def licensor(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the real ``licensor`` command in a subprocess, without the caller's ``LICENSOR_*`` settings."""
    return run_licensor(*args, env={**ENV, **(env or {})}, input=input, timeout=timeout)


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def request_code(
    key: InstallationKey | None = None,
    *,
    product: str = "demo",
    nodes: int = 5,
    months: int = 12,
    remote_clusters: int = 0,
    company: str = "ACME",
) -> tuple[InstallationKey, str]:
    """A request code made in process (for service tests), with a fresh installation key."""
    key = key or InstallationKey.generate()
    code = make_request(
        key,
        product=product,
        version="1.0",
        contact=Contact("Ada Admin", "ada@example.com", company),
        nodes=nodes,
        months=months,
        remote_clusters=remote_clusters,
        factors=hash_factors(key.public_key, {"cluster": "c-1", "machine": "m-1"}),
        now=T0,
    )
    return key, code


@dataclass
class Controller:
    """A customer-side controller in its own data dir, driven through ``licensor controller``."""

    data_dir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return licensor("controller", *args, "--data-dir", str(self.data_dir))

    def init(self, public_set: str) -> str:
        (self.data_dir).mkdir(parents=True, exist_ok=True)
        pub = self.data_dir / "vendor.pub"
        pub.write_text(public_set)
        ok(self.run("init", "--trust", str(pub)))
        return str(self.status()["installation_id"])

    def trust(self, public_set: str) -> None:
        pub = self.data_dir / "vendor.pub"
        pub.write_text(public_set)
        ok(self.run("trust", str(pub)))

    def request(self, nodes: int = 5, months: int = 12, remote_clusters: int = 0) -> str:
        out = self.data_dir / "request.txt"
        args = ["--name", "Ada Admin", "--email", "ada@example.com", "--company", "ACME", "--nodes", str(nodes), "--months", str(months)]
        ok(self.run("request", *args, "--remote-clusters", str(remote_clusters), "--out", str(out)))
        return out.read_text()

    def activate(self, license_text: str) -> subprocess.CompletedProcess[str]:
        f = self.data_dir / f"license-{time.monotonic_ns()}.txt"
        f.write_text(license_text)
        return self.run("activate", str(f))

    def status(self) -> dict[str, Any]:
        proc = self.run("status", "--json")
        assert proc.returncode in (0, 1), proc.stderr
        data: dict[str, Any] = json.loads(proc.stdout)
        return data


@dataclass
class Server:
    """A running ``licensor vendor serve`` process and the means to call it."""

    url: str
    data_dir: Path
    database_url: str
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = "admin") -> httpx.Client:  # noqa: S107 - a token name
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def vendor(self, *args: str, input: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``licensor vendor …`` on the same database as the server."""
        return licensor("vendor", *args, "--data-dir", str(self.data_dir), "--database-url", self.database_url, input=input, env=env)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_server(data_dir: Path, database_url: str, port: int, env: dict[str, str] | None = None) -> Server:
    base = ["--data-dir", str(data_dir), "--database-url", database_url]
    ok(licensor("vendor", "init", *base))
    proc = subprocess.Popen(
        [sys.executable, "-m", "licensor", "vendor", "serve", "--port", str(port), *base],
        env={**ENV, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the issuer did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.1)
    srv = Server(url, data_dir, database_url, proc)
    # Tokens are made the way an operator makes them: through the CLI.
    for name, scopes in {"admin": SCOPES, "reader": ("licenses:read",), "usage": ("usage:write",)}.items():
        scope_args = [a for s in scopes for a in ("--scope", s)]
        srv.tokens[name] = ok(srv.vendor("token", "create", "--name", name, *scope_args)).stdout.strip()
    return srv
