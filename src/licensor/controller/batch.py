"""Gather concurrent seat operations into one database transaction.

While one batch is being committed, new requests queue up; the next batch
takes them all.  Under load that turns thousands of joins into a handful of
commits; at rest a single join goes through at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    """Runs ``fn`` on each batch in a thread.  With ``now``, a batch of at most ``now_max`` items is first offered to
    ``now`` on the event loop itself, which runs it if it can at once (and returns its results) or returns None,
    and then the batch goes to ``fn`` in a thread as ever: the loop never waits there, and never long."""

    def __init__(
        self,
        fn: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int = 1000,
        now: Callable[[Sequence[T]], Sequence[R] | None] | None = None,
        now_max: int = 200,
    ):
        self.fn, self.max_batch, self.now, self.now_max = fn, max_batch, now, now_max
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def submit(self, item: T) -> R:
        if self._wake is None:
            self.start()
        assert self._wake is not None
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, fut))
        self._wake.set()
        return await fut

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
                items = [item for item, _ in batch]
                try:
                    done = self.now(items) if self.now is not None and len(items) <= self.now_max else None
                    results = done if done is not None else await asyncio.to_thread(self.fn, items)
                except Exception as exc:  # the handlers turn it into a JSON error
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), res in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(res)
