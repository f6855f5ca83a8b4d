"""Database errors name the statement, never the data: no customer names or e-mail addresses in raised or logged text."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from licensor.issuer import store as s
from licensor.issuer.migrate import upgrade
from licensor.issuer.store import Store

NAME = "Zyxwvut Geheimkunde GmbH"
EMAIL = "ada.lovelace.private@example.org"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    st = Store(database_url)
    upgrade(st)
    with st.tx() as c:
        c.execute(s.customers.insert().values(name=NAME, email=EMAIL, contact="Ada", created_at=NOW))
    yield st
    st.close()


def failing(store: Store, values: dict[str, Any]) -> DBAPIError:
    if isinstance(values.get("id"), str):  # a value of the wrong type, past SQLAlchemy's own checks
        statement: Any = text("INSERT INTO customers (id, name, email, contact, created_at) VALUES (:id, 'x', '', '', :at)")
        params = {"id": values["id"], "at": NOW}
    else:
        statement, params = s.customers.insert().values(**values), {}
    with pytest.raises(DBAPIError) as caught, store.tx() as c:
        c.execute(statement, params)
    return caught.value


def everything_said(e: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    """The exception as raised, as printed with its causes, and as our logging writes it."""
    log = logging.getLogger("licensor.http")
    with caplog.at_level(logging.ERROR, logger="licensor.http"):
        try:
            raise e
        except DBAPIError:
            log.exception("internal error")  # as the 500 handler logs a bug
    return "\n".join([str(e), repr(e), *traceback.format_exception(e), caplog.text, str(e.orig), repr(e.orig)])


class TestDatabaseErrorsHideData:
    @pytest.mark.parametrize(
        "values",
        [
            pytest.param({"name": NAME, "email": EMAIL, "contact": "Ada", "created_at": NOW}, id="unique"),
            pytest.param({"name": NAME + " 2", "email": EMAIL, "contact": "Ada", "created_at": None}, id="not-null"),
            pytest.param({"id": NAME}, id="wrong-type"),
        ],
    )
    def test_failed_insert_names_no_values(self, store: Store, values: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
        """A failing INSERT of a customer: the error and its log name the table, not the customer's name or e-mail."""
        e = failing(store, values)
        said = everything_said(e, caplog)
        assert "customers" in said, said  # the error still says where (the statement, the table)
        for secret in (NAME, EMAIL, "Geheimkunde", "ada.lovelace"):
            assert secret not in said, f"{secret!r} leaked in:\n{said}"
