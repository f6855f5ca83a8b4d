"""Issuer fixtures: an in-process service on each backend, a running issuer, controllers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from issuer_helpers import Controller, Server, start_server

from licensor.issuer.migrate import upgrade
from licensor.issuer.service import IssuerService
from licensor.issuer.store import Store
from licensor.testing import FixedClock


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def service(database_url: str, clock: FixedClock) -> Iterator[IssuerService]:
    """An issuer service on a migrated database (SQLite and PostgreSQL), with a signing key."""
    store = Store(database_url)
    upgrade(store)
    svc = IssuerService(store, clock=clock)
    svc.init("test")
    yield svc
    store.close()


@pytest.fixture
def controllers(tmp_path: Path) -> Any:
    made: list[Controller] = []

    def make(name: str = "ctl") -> Controller:
        c = Controller(tmp_path / f"{name}-{len(made)}")
        made.append(c)
        return c

    return make


@pytest.fixture
def server(tmp_path: Path, database_url: str, free_port: int) -> Iterator[Server]:
    srv = start_server(tmp_path / "vendor-data", database_url, free_port)
    yield srv
    srv.stop()
