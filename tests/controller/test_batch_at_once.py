"""Seat batches on the event loop (SQLite): a batch runs there only when the write lock is free at once, never waits
for it there, and goes to a thread when it is taken; on PostgreSQL every batch runs in a thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import select

from licensor.controller import store as s
from licensor.controller.batch import Batcher
from licensor.controller.migrate import upgrade
from licensor.controller.runtime import Op
from licensor.controller.store import Busy, Store, get_setting, put_setting
from licensor.server.db import insert_rows
from licensor.testing import T0
from tests.inprocess import licensed_controller


def _sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


class TestLockedNow:
    def test_a_free_lock_is_taken_a_taken_one_refused_at_once(self, database_url: str) -> None:
        store = Store(database_url)
        upgrade(store.engine)
        try:
            if store.is_postgres:
                with pytest.raises(Busy), store.locked_now():
                    pytest.fail("a PostgreSQL batch ran on the event loop")
                return
            with store.locked_now() as c:
                put_setting(c, "k", "1")
            other = sqlite3.connect(_sqlite_path(database_url), isolation_level=None)  # another writer: a process, the CLI
            other.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            with pytest.raises(Busy), store.locked_now():
                pytest.fail("ran while another writer held the lock")
            assert time.monotonic() - started < 0.5, "waited for the lock"
            other.execute("COMMIT")
            other.close()
            with store.locked_now() as c:  # the same connection, usable again
                put_setting(c, "k", "2")

            def failing() -> None:
                with store.locked_now() as c:
                    put_setting(c, "k", "3")
                    raise RuntimeError("a batch that fails")

            with pytest.raises(RuntimeError):
                failing()
            # the connection that waits for nothing did not go back to the pool: every pooled one still waits
            held = [store.engine.connect() for _ in range(5)]
            try:
                waits = [h.connection.dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0] for h in held]  # type: ignore[union-attr]
            finally:
                for h in held:
                    h.close()
            assert waits == [30000] * 5, waits
            with store.tx() as c:
                assert get_setting(c, "k") == "2", "a failed batch was not rolled back"
            with store.locked_now() as c:  # a new connection after the failure
                put_setting(c, "k", "4")
            with store.tx() as c:
                assert get_setting(c, "k") == "4"
        finally:
            store.close()


def test_a_batch_goes_to_a_thread_while_another_writer_holds_the_lock(tmp_path: object) -> None:
    """The loop is offered the batch, finds the lock taken, changes nothing, and the thread admits it once it is free;
    the loop kept running meanwhile."""
    url = f"sqlite:///{tmp_path}/c.db"
    ctl = licensed_controller(url, nodes=2)
    other = sqlite3.connect(_sqlite_path(url), isolation_level=None, timeout=30, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        assert ctl.apply_now([Op("join", "node", "n-0")]) is None
        freed = threading.Timer(0.5, lambda: other.execute("COMMIT"))

        async def run() -> tuple[list[bool], int]:
            batcher: Batcher[Op, object] = Batcher(ctl.apply, now=ctl.apply_now)
            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            ticker = asyncio.get_running_loop().create_task(tick())
            freed.start()
            out = await asyncio.gather(*(batcher.submit(Op("join", "node", f"n-{i}")) for i in range(3)))
            ticker.cancel()
            await batcher.stop()
            return [o.ok for o in out], ticks  # type: ignore[attr-defined]

        oks, ticks = asyncio.run(run())
        assert sorted(oks) == [False, True, True]  # exactly the two seats
        assert ticks >= 20, f"the loop stood still while the lock was taken ({ticks} ticks in 0.5 s)"
        assert ctl.apply_now([Op("heartbeat", "node", "n-9")]) is not None  # the lock free: the loop runs it
    finally:
        other.close()
        ctl.svc.store.close()


class TestBatcher:
    def _run(self, batcher: Batcher[int, int], items: Sequence[int]) -> list[int]:
        async def go() -> list[int]:
            out = await asyncio.gather(*(batcher.submit(i) for i in items))
            await batcher.stop()
            return list(out)

        return asyncio.run(go())

    def test_the_loop_runs_a_batch_it_can_and_a_thread_the_rest(self) -> None:
        where: list[str] = []

        def fn(items: Sequence[int]) -> list[int]:
            where.append("loop" if threading.current_thread() is threading.main_thread() else "thread")
            return [i * 2 for i in items]

        assert self._run(Batcher(fn, now=fn), [1, 2, 3]) == [2, 4, 6] and where == ["loop"]
        where.clear()
        assert self._run(Batcher(fn, now=lambda items: None), [1, 2, 3]) == [2, 4, 6] and where == ["thread"]
        where.clear()
        assert self._run(Batcher(fn, now=fn, now_max=2), [1, 2, 3]) == [2, 4, 6] and where == ["thread"], "too big a batch ran on the loop"

    def test_what_the_loop_raises_reaches_every_request_of_the_batch(self) -> None:
        def boom(items: Sequence[int]) -> list[int]:
            raise ValueError("broken")

        async def go() -> list[BaseException | int]:
            batcher: Batcher[int, int] = Batcher(lambda items: list(items), now=boom)
            out = await asyncio.gather(*(batcher.submit(i) for i in range(3)), return_exceptions=True)
            await batcher.stop()
            return out

        assert all(isinstance(o, ValueError) for o in asyncio.run(go()))


def test_insert_rows_stores_what_an_insert_stores(database_url: str) -> None:
    """``insert_rows`` (one executemany through the driver) against SQLAlchemy's own insert: the same rows read back."""
    store = Store(database_url)
    upgrade(store.engine)
    try:
        rows = [{"seat_id": f"n-{i}", "address": f"10.0.0.{i}", "secret_hash": f"h{i}"} for i in range(3)]
        with store.tx() as c:
            insert_rows(c, s.seats, rows, {"kind": "node", "joined_at": T0, "last_seen": T0 + timedelta(seconds=1)})
            c.execute(s.seats.insert(), [{**r, "kind": "cluster", "joined_at": T0, "last_seen": T0 + timedelta(seconds=1)} for r in rows])
        with store.tx() as c:
            got = {k: sorted(tuple(r)[1:] for r in c.execute(select(s.seats).where(s.seats.c.kind == k))) for k in ("node", "cluster")}
        assert got["node"] == got["cluster"] and len(got["node"]) == 3
        assert got["node"][0][1] == T0  # a time, read back with its zone
    finally:
        store.close()
