"""What every issuer domain service shares: the database, the clock, the audit log and group commit.

Each operation is a single database transaction, and nothing lives in process
memory that another replica could change, so replicas can share one PostgreSQL.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Executable

from ..clock import Clock, system_clock
from ..errors import NotFound
from ..license import fmt_time
from . import store as s

T = TypeVar("T")
Job = Callable[[Connection], Any]

_AUDIT = s.audit.insert()


def stamp(t: datetime | None) -> str | None:
    """``fmt_time(t)``, or None for no time (a key not retired, a token not revoked, a license that never expires)."""
    return fmt_time(t) if t is not None else None


def not_found(what: str) -> NotFound:
    return NotFound(f"There is no {what}: check the id (the lists show every one)")


class Ledger:
    """The issuer's database with its clock: transactions, retries, audit lines and (optionally) group commit."""

    def __init__(self, store: s.Store, *, clock: Clock = system_clock, group_commit: bool = False):
        self.store = store
        self.clock = clock
        self._group = _GroupCommit(self) if group_commit else None

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Connection]:
        with self.store.tx(write) as c:
            yield c

    def rows(self, query: Executable) -> Sequence[Row[Any]]:
        """Every row of a read-only ``query``."""
        with self.tx(write=False) as c:
            return c.execute(query).all()

    def retry(self, fn: Callable[[Connection], T], attempts: int = 8) -> T:
        """Run ``fn`` in a transaction, again if a concurrent writer took the same serial or name."""
        for i in range(attempts):
            try:
                with self.tx() as c:
                    return fn(c)
            except IntegrityError:
                if i == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def write(self, fn: Callable[[Connection], T]) -> T:
        """A write that signs a license: batched with concurrent ones when group commit is on."""
        if self._group is not None:
            result: T = self._group.submit(fn)
            return result
        return self.retry(fn)

    def record(self, c: Connection, actor: str, action: str, target: str = "", **details: Any) -> None:
        """One line of the audit log, in the caller's transaction."""
        c.execute(
            _AUDIT,
            {
                "at": self.clock(),
                "actor": actor,
                "action": action,
                "target": target,
                "details": json.dumps(details, sort_keys=True, default=str),
            },
        )

    def audited(self, actor: str, action: str, target: str = "", **details: Any) -> None:
        """One line of the audit log, in a transaction of its own."""
        with self.tx() as c:
            self.record(c, actor, action, target, **details)


class _GroupCommit:
    """Runs the license writes of many request threads in one transaction per round.

    One commit (one fsync) covers the whole round, so durability stays
    ``synchronous=FULL`` while throughput grows with concurrency.  If any job
    of a round fails, the round is rolled back and its jobs run one by one, so
    a refused job does not take the others with it.
    """

    def __init__(self, ledger: Ledger, max_batch: int = 256):
        self._ledger, self._max = ledger, max_batch
        self._q: queue.SimpleQueue[tuple[Job, Future[Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="licensor-group-commit", daemon=True).start()

    def submit(self, fn: Job) -> Any:
        fut: Future[Any] = Future()
        self._q.put((fn, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            jobs = [self._q.get()]
            while len(jobs) < self._max:
                try:
                    jobs.append(self._q.get_nowait())
                except queue.Empty:
                    break
            self._round(jobs)

    def _round(self, jobs: list[tuple[Job, Future[Any]]]) -> None:
        try:
            with self._ledger.tx() as c:
                results = [fn(c) for fn, _fut in jobs]
        except Exception:
            # Something in the round failed (a refusal, or a serial another replica
            # took): nothing of it was stored.  Run each job alone, so that only the
            # one at fault fails and a lost race is retried.
            for fn, fut in jobs:
                try:
                    fut.set_result(self._ledger.retry(fn))
                except Exception as e:
                    fut.set_exception(e)
            return
        for (_fn, fut), result in zip(jobs, results, strict=True):
            fut.set_result(result)
