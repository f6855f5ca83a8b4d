"""The agent: the small client a product's node runs to hold a seat at the controller.

    agent = Agent(["http://ctl-a:8800", "http://ctl-b:8800"], token, "node-17")
    await agent.run(stop_event)      # join (retrying with backoff), heartbeat, leave when stopped
    await agent.aclose()

``join`` / ``heartbeat`` / ``leave`` are single calls that return a ``Result``
(admitted or refused with ``code`` and ``hint``) and raise ``Unreachable`` only
when no controller answered.  Several controller URLs give failover: a call
that cannot connect (or gets a 5xx) moves on to the next URL.

A new seat comes with a *seat secret*: only its holder can heartbeat, leave or
rejoin it (``X-Seat-Secret``).  The agent keeps it across reconnects and, given
a ``state_file``, across restarts, so a restarted agent rejoins its own seat at
once; one that lost it gets ``seat_taken`` until the seat times out.

Many agents in one process share one connection pool: ``async with session(connections=500) as s:``
and ``Agent(…, client=s)``.  ``licensor.agent.simulate`` is the storm behind ``licensor agent
simulate`` and the admission benchmark.  The HTTP client is aiohttp, whose cost per request stays
flat however many connections are open (httpx's pool scans every connection for every request,
which made a storm quadratic).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..errors import Unavailable, UsageError

__all__ = ["Agent", "Result", "Unreachable", "session"]

log = logging.getLogger("licensor.agent")


class Unreachable(Unavailable, code="unreachable"):
    """No controller answered."""


def session(*, connections: int = 100, timeout: float = 10.0) -> aiohttp.ClientSession:
    """A connection pool for agents to share: at most ``connections`` open at once, ``timeout`` seconds per call.

    Use it as ``async with session(…) as s`` (or close it): an agent given one leaves it open.
    Proxies come from the environment (``HTTP_PROXY``, ``NO_PROXY``), as with any HTTP client; looking
    them up costs more than the rest of a request, so it is done only where some are set."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0)
    proxies = bool(urllib.request.getproxies())
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), trust_env=proxies)


@dataclass(frozen=True)
class Result:
    """A controller's answer: ``ok`` (admitted, alive, left) or refused with ``code`` and ``hint``; ``status`` is the seat's."""

    ok: bool
    code: str
    hint: str
    status: str = ""
    heartbeat_interval: float = 10.0
    http_status: int = 0


class Agent:
    """One node (or, with ``kind="cluster"``, one remote controller) holding a seat."""

    def __init__(
        self,
        controllers: Sequence[str],
        token: str,
        seat_id: str,
        *,
        kind: str = "node",
        address: str = "",
        client: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        secret: str = "",
        state_file: str | os.PathLike[str] | None = None,
    ):
        if not controllers:
            raise UsageError("Give at least one controller URL (--controller)")
        self.urls = [u.rstrip("/") for u in controllers]
        self.seat_id, self.kind, self.address = seat_id, kind, address
        self.headers = {"authorization": f"Bearer {token}"}
        self._client = client
        self._own_client = client is None
        self.timeout = timeout
        self.backoff = backoff
        self._current = 0
        self.interval = 10.0
        self.admitted = False
        self.last: Result | None = None
        self.state_file = Path(state_file) if state_file is not None else None
        self.secret = secret or self._load_secret()

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = session(connections=len(self.urls) + 1, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the connections this agent opened (a ``client`` it was given stays open)."""
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None

    def _load_secret(self) -> str:
        """The seat secret a previous run of this agent saved, if it was for this seat."""
        if self.state_file is None:
            return ""
        try:
            doc = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return ""
        except (OSError, ValueError) as e:
            log.warning("ignoring the agent state file %s (%s): the agent joins as new", self.state_file, e)
            return ""
        if not isinstance(doc, dict) or doc.get("kind") != self.kind or doc.get("seat_id") != self.seat_id:
            return ""
        return str(doc.get("seat_secret") or "")

    def _keep_secret(self, secret: str) -> None:
        self.secret = secret
        if self.state_file is None:
            return
        try:
            if not secret:
                self.state_file.unlink(missing_ok=True)
                return
            # Written aside and renamed, readable by this user only: the secret is what holds the seat.
            tmp = self.state_file.with_name(self.state_file.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"kind": self.kind, "seat_id": self.seat_id, "seat_secret": secret}, f)
            os.replace(tmp, self.state_file)
        except OSError as e:
            # The seat is held all the same; only a restart would have to wait for it to time out.
            log.warning("cannot write the agent state file %s (%s): a restart will wait for the old seat to time out", self.state_file, e)

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        """The first controller's answer that is not a 5xx: its status and JSON object (empty if it sent none)."""
        last: BaseException | None = None
        headers = {**self.headers, "x-seat-secret": self.secret} if self.secret else dict(self.headers)
        data = json.dumps(body).encode() if body is not None else None
        if data is not None:
            headers["content-type"] = "application/json"
        for i in range(len(self.urls)):
            idx = (self._current + i) % len(self.urls)
            try:
                async with self.client.request(method, self.urls[idx] + path, data=data, headers=headers) as r:
                    status, raw = r.status, await r.read()
            except (aiohttp.ClientError, TimeoutError) as e:
                last = e
                continue
            if status >= 500:
                last = RuntimeError(f"{self.urls[idx]} answered {status}")
                continue
            self._current = idx
            return status, _doc(raw)
        why = "timed out" if isinstance(last, TimeoutError) else last
        raise Unreachable(f"no controller answered ({', '.join(self.urls)}): {why}: check the URLs and that the controller is running")

    def _result(self, status: int, doc: dict[str, Any]) -> Result:
        ok = status == 200 and bool(doc.get("admitted", doc.get("left", True)))
        seat_status = doc.get("status") or (doc.get("details") or {}).get("status", "")
        res = Result(
            ok,
            str(doc.get("code", "" if ok else f"http_{status}")),
            str(doc.get("hint", "")),
            str(seat_status),
            float(doc.get("heartbeat_interval", self.interval)),
            status,
        )
        self.last = res
        return res

    @property
    def _base(self) -> str:
        return f"/api/v1/{self.kind}s"

    async def join(self) -> Result:
        """Ask for a seat, presenting the seat secret if this agent has one (a rejoin keeps the seat)."""
        status, doc = await self._call("POST", f"{self._base}/join", {f"{self.kind}_id": self.seat_id, "address": self.address})
        r = self._result(status, doc)
        self.admitted = r.ok
        if r.ok:
            self.interval = r.heartbeat_interval
            new = doc.get("seat_secret")
            if isinstance(new, str) and new and new != self.secret:
                self._keep_secret(new)
        return r

    async def heartbeat(self) -> Result:
        r = self._result(*await self._call("POST", f"{self._base}/{self.seat_id}/heartbeat"))
        self.admitted = r.ok
        return r

    async def leave(self) -> Result:
        r = self._result(*await self._call("DELETE", f"{self._base}/{self.seat_id}"))
        self.admitted = False
        if r.http_status == 200:
            self._keep_secret("")  # the seat is free (or was not held): its secret holds nothing any more
        return r

    async def run(self, stop: asyncio.Event, on_event: Callable[[str, Result | Exception], None] | None = None) -> None:
        """Hold a seat until ``stop`` is set, then leave.  Refusals and outages are retried with backoff."""
        delay = self.backoff[0]

        def note(what: str, r: Result | Exception) -> None:
            if on_event:
                on_event(what, r)

        async def pause(seconds: float) -> None:
            try:
                await asyncio.wait_for(stop.wait(), timeout=seconds)
            except TimeoutError:
                pass

        try:
            while not stop.is_set():
                try:
                    r = await (self.heartbeat() if self.admitted else self.join())
                except Unreachable as e:
                    note("unreachable", e)
                    self.admitted = False
                    await pause(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.backoff[1])
                    continue
                if r.ok:
                    note("heartbeat" if r.status == "alive" else r.status or "admitted", r)
                    delay = self.backoff[0]
                    await pause(self.interval)
                else:
                    note("refused", r)
                    await pause(delay * (0.5 + random.random()))
                    delay = min(delay * 2, self.backoff[1])
        finally:
            if self.admitted:
                try:
                    note("left", await self.leave())
                except Unreachable as e:
                    note("unreachable", e)


def _doc(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
