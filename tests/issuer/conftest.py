"""Issuer fixtures: the issuer in process on each backend, controllers driven by their CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from issuer_helpers import Controller, Server, start_server


@pytest.fixture
def controllers(tmp_path: Path) -> Any:
    made: list[Controller] = []

    def make(name: str = "ctl") -> Controller:
        c = Controller(tmp_path / f"{name}-{len(made)}")
        made.append(c)
        return c

    return make


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    srv = start_server(tmp_path / "vendor-data", database_url)
    yield srv
    srv.stop()
