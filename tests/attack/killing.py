"""What the kill harness needs beside the scenarios: kill a server, look into its database.

The controller server is the one the controller suites start (``tests.controller.conftest.Server``);
the issuer is started here from a database prepared in process (faster than the CLI
round trips of ``issuer_helpers.start_server``), then only ever restarted.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import wait_healthy

#: The seed of every random choice and delay: set LICENSOR_KILL_SEED to replay a run's choices.
SEED = int(os.environ.get("LICENSOR_KILL_SEED", "20261201"))


def sigkill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server's whole process group (uvicorn and anything it started) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


class Db:
    """Plain read access to a server's database (sqlite3 or psycopg), for checks after a restart."""

    def __init__(self, url: str):
        self.url = url
        self.sqlite = url.startswith("sqlite")

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
            try:
                return list(conn.execute(sql.replace("%s", "?"), params).fetchall())
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as c:
            return list(c.execute(sql, params).fetchall())  # type: ignore[arg-type]

    def write(self, sql: str, *params: Any) -> None:
        """Change the database behind the server's back (to show that the checks see damage)."""
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=30)
            try:
                with conn:
                    conn.execute(sql.replace("%s", "?"), params)
            finally:
                conn.close()
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(sql, params)  # type: ignore[arg-type]

    def integrity(self) -> list[str]:
        """Problems the database engine itself finds (empty when sound).

        SQLite: ``PRAGMA integrity_check`` and ``foreign_key_check``.  PostgreSQL: amcheck's
        ``bt_index_check`` on every B-tree index of the schema (heap and index agree).
        """
        if self.sqlite:
            problems = [str(r[0]) for r in self.rows("PRAGMA integrity_check") if r[0] != "ok"]
            return problems + [f"foreign key: {r}" for r in self.rows("PRAGMA foreign_key_check")]
        import psycopg

        out: list[str] = []
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
            indexes = c.execute(
                "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class r ON r.oid = i.indexrelid "
                "JOIN pg_am a ON a.oid = r.relam JOIN pg_namespace n ON n.oid = r.relnamespace "
                "WHERE a.amname = 'btree' AND n.nspname = 'public'"
            ).fetchall()
            for (name,) in indexes:
                try:
                    c.execute("SELECT bt_index_check(%s::regclass, true)", (name,))
                except psycopg.Error as e:
                    out.append(f"index {name}: {e}")
        return out


class Issuer:
    """A ``licensor vendor serve`` process on a prepared database, restarted after each kill."""

    def __init__(self, url: str, port: int, tmp: Path):
        from licensor.issuer.migrate import upgrade
        from licensor.issuer.service import SCOPES, IssuerService
        from licensor.issuer.store import Store

        self.url, self.port, self.data_dir = url, port, tmp / "vendor-data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.base = f"http://127.0.0.1:{port}"
        self.log = tmp / "issuer.log"
        store = Store(url)
        try:
            upgrade(store)
            svc = IssuerService(store)
            svc.init("kill-harness")
            self.token = svc.create_token("kill", SCOPES, actor="kill-harness")
            self.keyring = svc.public_set()
        finally:
            store.close()
        self.headers = {"authorization": f"Bearer {self.token}"}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Issuer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_")}
        args = ["vendor", "serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--database-url", self.url]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "licensor", *args], env=env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_healthy(self.proc, self.base, self.log, "issuer")
        return self

    def kill(self) -> None:
        if self.proc is not None:
            sigkill(self.proc)
        self.proc = None
