"""Issuer test helpers: controllers driven by the CLI, the issuer's app in process.

Everything runs in this process: the ``licensor`` command through ``licensor.cli.main``
(``tests.inprocess.cli``), the issuer through ``create_app`` and httpx's ASGI transport.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tests.inprocess import ISSUER_SCOPES, App, Ran, cli, ok

from licensor.issuer.app import create_app
from licensor.issuer.settings import load_settings

__all__ = ["Controller", "Server", "licensor", "ok", "start_server"]


def licensor(*args: str, input: str = "", env: dict[str, str] | None = None) -> Ran:
    """The ``licensor`` command, in process, without the caller's ``LICENSOR_*`` settings."""
    return cli(*args, stdin=input, env=env)


@dataclass
class Controller:
    """A customer-side controller in its own data dir, driven through ``licensor controller``."""

    data_dir: Path

    def run(self, *args: str) -> Ran:
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

    def activate(self, license_text: str) -> Ran:
        f = self.data_dir / f"license-{time.monotonic_ns()}.txt"
        f.write_text(license_text)
        return self.run("activate", str(f))

    def status(self) -> dict[str, Any]:
        ran = self.run("status", "--json")
        assert ran.code in (0, 1), ran.err
        data: dict[str, Any] = json.loads(ran.out)
        return data


@dataclass
class Server:
    """The issuer as ``licensor vendor serve`` would run it, in process, and the means to call it."""

    data_dir: Path
    database_url: str
    env: dict[str, str]
    running: ExitStack = field(default_factory=ExitStack)
    app: App | None = None
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, token: str | None = "admin") -> httpx.Client:  # noqa: S107 - a token name
        assert self.app is not None, "the issuer is not running"
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return self.app.client(headers=headers)

    def vendor(self, *args: str, input: str = "", env: dict[str, str] | None = None) -> Ran:
        """``licensor vendor …`` on the same database as the server."""
        return licensor("vendor", *args, "--data-dir", str(self.data_dir), "--database-url", self.database_url, input=input, env=env)

    def stop(self) -> None:
        self.running.close()
        self.app = None


def start_server(data_dir: Path, database_url: str, env: dict[str, str] | None = None) -> Server:
    """``licensor vendor init``, then the app ``licensor vendor serve`` runs (settings from the data dir and ``env``)."""
    srv = Server(data_dir, database_url, dict(env or {}))
    ok(srv.vendor("init"))
    settings = load_settings(data_dir / "vendor", database_url, env=srv.env)
    srv.app = srv.running.enter_context(App(create_app(settings)))
    # Tokens are made the way an operator makes them: through the CLI.
    for name, scopes in {"admin": ISSUER_SCOPES, "reader": ("licenses:read",), "usage": ("usage:write",)}.items():
        scope_args = [a for s in scopes for a in ("--scope", s)]
        srv.tokens[name] = ok(srv.vendor("token", "create", "--name", name, *scope_args)).out.strip()
    return srv
