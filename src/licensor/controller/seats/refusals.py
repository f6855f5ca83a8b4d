"""Refused joins per node and remote cluster (``seat_refusals``): written in the seat batch, read by the Seats page.

Cheap on the join path by construction: a batch that refuses joins writes them with one statement (an upsert of one
row per id), a batch that gives seats deletes their ids' rows with one statement, and nothing else is read or
written.  A node that later gets a seat is therefore no longer listed; each id is listed once, with its newest
refusal and how many times it was refused.  Rows older than ``KEEP`` are pruned with the seat count check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Insert, and_, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from .. import store as s

#: Refusals older than this are not shown and are pruned: a node that stopped asking this long ago is not waiting.
KEEP = timedelta(days=7)

_t = s.seat_refusals
_FORGET = delete(_t).where(and_(_t.c.kind == bindparam("b_kind"), _t.c.seat_id.in_(bindparam("b_ids", expanding=True))))
_PRUNE = delete(_t).where(_t.c.refused_at < bindparam("b_before"))
_UPSERTS: dict[str, Insert] = {}


def _upsert(dialect: str) -> Insert:
    """The insert-or-update of one refusal per id, built once per dialect (SQLite and PostgreSQL share the syntax)."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_t)
        new = ins.excluded
        stmt = ins.on_conflict_do_update(
            index_elements=[_t.c.kind, _t.c.seat_id],
            set_={"code": new.code, "allowed": new.allowed, "tries": _t.c.tries + new.tries, "refused_at": new.refused_at},
        )
        _UPSERTS[dialect] = stmt
    return stmt


def record(c: Connection, kind: str, refused: Sequence[tuple[str, str]], allowed: int, now: datetime) -> None:
    """Store the refused joins ``(id, code)`` of one batch: one statement; an id asked twice is one row, tried twice."""
    tries = Counter(i for i, _ in refused)
    code = dict(refused)  # the last code of each id
    rows = [
        {"kind": kind, "seat_id": i, "code": code[i], "allowed": allowed, "tries": n, "first_at": now, "refused_at": now}
        for i, n in tries.items()
    ]
    c.execute(_upsert(c.dialect.name), rows)


def forget(c: Connection, kind: str, ids: Iterable[str]) -> None:
    """The ids were given a seat: they are no longer refused.  One statement."""
    c.execute(_FORGET, {"b_kind": kind, "b_ids": list(ids)})


def prune(c: Connection, now: datetime) -> int:
    """Drop the refusals older than ``KEEP``; how many."""
    return int(c.execute(_PRUNE, {"b_before": now - KEEP}).rowcount or 0)


def recent(c: Connection, now: datetime) -> list[dict[str, Any]]:
    """The refusals of the last ``KEEP``, newest first: one per id."""
    q = select(_t).where(_t.c.refused_at >= now - KEEP).order_by(_t.c.refused_at.desc(), _t.c.kind, _t.c.seat_id)
    return [dict(r._mapping) for r in c.execute(q)]
