"""Fixtures shared by every suite: backends (SQLite, PostgreSQL) and a free port.

PostgreSQL is a required backend: with ``LICENSOR_REQUIRE_POSTGRES=1`` (set by
.ci/run) a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

from . import helpers

PG_ADMIN_URL = os.environ.get("LICENSOR_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_admin() -> str:
    if not _pg_available():
        if os.environ.get("LICENSOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}")
        pytest.skip("PostgreSQL not reachable (set LICENSOR_REQUIRE_POSTGRES=1 to make this a failure)")
    return PG_ADMIN_URL


@pytest.fixture
def fresh_pg(pg_admin: str) -> Iterator[Callable[[str], str]]:
    """``fresh_pg("ctl")`` -> URL of a new empty database, dropped after the test."""
    import psycopg

    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"lt_{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return pg_admin.rsplit("/", 1)[0] + "/" + name

    yield make
    with psycopg.connect(pg_admin, autocommit=True) as c:
        for name in made:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("fresh_pg")("t"))


@pytest.fixture
def free_port() -> int:
    return helpers.free_port()
