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

from sqlalchemy import Insert, String, and_, bindparam, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from .. import store as s

#: Refusals older than this are not shown and are pruned: a node that stopped asking this long ago is not waiting.
KEEP = timedelta(days=7)

_t = s.seat_refusals
_FORGET = delete(_t).where(and_(_t.c.kind == bindparam("b_kind"), _t.c.seat_id.in_(bindparam("b_ids", expanding=True))))
# PostgreSQL: the ids as one array parameter, so a batch of 1,000 seats is not a statement of 1,000 parameters to plan.
_FORGET_PG = delete(_t).where(and_(_t.c.kind == bindparam("b_kind"), _t.c.seat_id == func.any(bindparam("b_ids", type_=ARRAY(String)))))
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
    c.execute(_FORGET_PG if c.dialect.name == "postgresql" else _FORGET, {"b_kind": kind, "b_ids": list(ids)})


def prune(c: Connection, now: datetime) -> int:
    """Drop the refusals older than ``KEEP``; how many."""
    return int(c.execute(_PRUNE, {"b_before": now - KEEP}).rowcount or 0)


def recent(c: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` refusals of the last ``KEEP``, newest first: one per id."""
    cols = (_t.c.kind, _t.c.seat_id, _t.c.code, _t.c.allowed, _t.c.tries, _t.c.refused_at)
    q = select(*cols).where(_t.c.refused_at >= now - KEEP).order_by(_t.c.refused_at.desc()).limit(limit)
    names = [col.name for col in cols]
    return [dict(zip(names, r, strict=True)) for r in c.execute(q)]


def counted(c: Connection, now: datetime) -> list[tuple[str, str, int, int]]:
    """The refusals of the last ``KEEP`` counted per ``(kind, code, allowed)``, the newest group first."""
    newest = func.max(_t.c.refused_at)
    q = (
        select(_t.c.kind, _t.c.code, _t.c.allowed, func.count(), newest)
        .where(_t.c.refused_at >= now - KEEP)
        .group_by(_t.c.kind, _t.c.code, _t.c.allowed)
        .order_by(newest.desc())
    )
    return [(str(k), str(code), int(a), int(n)) for k, code, a, n, _ in c.execute(q)]
