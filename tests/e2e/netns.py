"""A network namespace of the test's own, whose processes reach PostgreSQL only through a link the test can cut.

    with Partition.create() as net:          # needs root and iproute2's ``ip``
        proc = subprocess.Popen(net.exec_prefix + [...serve --host net.api_host...])
        url = net.database_url("postgresql://postgres@127.0.0.1:5432/mydb")
        net.cut(); ...; net.restore()

Two veth pairs join the namespace to this one, each a /30 of 10.x addresses chosen
at random for the test:

- the *API link*: the test reaches a server in the namespace at ``api_host``;
- the *database link*: the namespace reaches ``db_host:db_port``, where a small
  asyncio forwarder (a thread of the test process) relays every connection to
  PostgreSQL on 127.0.0.1 (PostgreSQL listens on loopback only).

``cut()`` takes the database link down (a partition: packets are dropped, open
connections hang, nothing is closed); ``restore()`` brings it back.  The API link
stays up throughout, so agents still reach the cut replica.  ``close()`` (also on
leaving the ``with``) stops the forwarder and deletes the namespace and both veth
pairs, whatever state they are in.  Every command has a timeout.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

#: Set by CI: a namespace that cannot be made is a failure, not a skip.
REQUIRED = os.environ.get("LICENSOR_REQUIRE_NETNS") == "1"


#: What the forwarder holds per direction before it stops reading (bytes): about what a kernel socket buffers.
BUFFER = 4 * 1024 * 1024


class NetnsUnavailable(RuntimeError):
    """This machine (or this user) cannot make a network namespace."""


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise NetnsUnavailable(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()}")


def why_unavailable() -> str | None:
    """None if a namespace can be made here, else why not."""
    if shutil.which("ip") is None:
        return "iproute2's 'ip' is not installed"
    if os.geteuid() != 0:
        return "making a network namespace needs root"
    name = f"ltprobe{uuid.uuid4().hex[:6]}"
    try:
        _ip("netns", "add", name)
    except (NetnsUnavailable, OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    try:
        _ip("netns", "del", name)
    except NetnsUnavailable as e:
        return str(e)
    return None


class _Forwarder:
    """Relays TCP connections from ``listen`` to ``target`` on an event loop in its own thread."""

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]):
        self.listen, self.target = listen, target
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="db-forwarder", daemon=True)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    def start(self) -> None:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(asyncio.start_server(self._serve, *self.listen), self.loop)
        self.server = fut.result(10)

    async def _pipe(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            w.close()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            ur, uw = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
        except (OSError, TimeoutError):
            w.close()
            return
        for writer in (w, uw):
            # Buffered like a kernel socket (a few MB), not asyncio's 64 KiB: a cut must not stall PostgreSQL's
            # writes sooner than a real link would (the session could not even send its FATAL, and lingered).
            writer.transport.set_write_buffer_limits(high=BUFFER)
        self.writers |= {w, uw}
        try:
            await asyncio.gather(self._pipe(r, uw), self._pipe(ur, w))
        finally:
            self.writers -= {w, uw}

    def stop(self) -> None:
        async def shut() -> None:
            if self.server is not None:
                self.server.close()
            for w in list(self.writers):
                w.close()

        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


class Partition:
    """A namespace with an API link and a database link (see the module docstring)."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.name = f"lt{tag}"
        # Interface names are at most 15 characters; the /30s are random 10.x ones, private to this test.
        self.links = {"api": (f"lt{tag}a", f"lt{tag}A"), "db": (f"lt{tag}d", f"lt{tag}D")}
        second = random.Random().randrange(200, 250)
        third = random.Random().randrange(0, 64) * 4
        self.nets = {"api": f"10.{second}.{third}", "db": f"10.{second}.{third + 1}"}
        self.api_host = f"{self.nets['api']}.2"  # inside the namespace
        self.db_host = f"{self.nets['db']}.1"  # this side: the forwarder listens here
        self.db_port = 0
        self.forwarder: _Forwarder | None = None
        self.exec_prefix = ["ip", "netns", "exec", self.name]

    @classmethod
    @contextmanager
    def create(cls, pg_host: str = "127.0.0.1", pg_port: int = 5432) -> Iterator[Partition]:
        net = cls()
        try:
            net._build(pg_host, pg_port)
            yield net
        finally:
            net.close()

    def _build(self, pg_host: str, pg_port: int) -> None:
        _ip("netns", "add", self.name)
        _ip("link", "set", "lo", "up", netns=self.name)
        for which, (outside, inside) in self.links.items():
            net = self.nets[which]
            _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            _ip("link", "set", inside, "netns", self.name)
            _ip("addr", "add", f"{net}.1/30", "dev", outside)
            _ip("addr", "add", f"{net}.2/30", "dev", inside, netns=self.name)
            _ip("link", "set", outside, "up")
            _ip("link", "set", inside, "up", netns=self.name)
        import socket

        with socket.socket() as s:  # a free port on the forwarder's address
            s.bind((self.db_host, 0))
            self.db_port = int(s.getsockname()[1])
        self.forwarder = _Forwarder((self.db_host, self.db_port), (pg_host, pg_port))
        self.forwarder.start()

    def database_url(self, url: str) -> str:
        """``url`` (a database on the local PostgreSQL) as the namespace reaches it: through the forwarder."""
        parts = urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit((parts.scheme, f"{user}{self.db_host}:{self.db_port}", parts.path, parts.query, ""))

    def cut(self) -> None:
        """Take the database link down: the namespace's packets to PostgreSQL are dropped from now on."""
        _ip("link", "set", self.links["db"][0], "down")

    def restore(self) -> None:
        _ip("link", "set", self.links["db"][0], "up")

    def close(self) -> None:
        """Stop the forwarder, delete both veth pairs and the namespace (each step tried whatever failed before)."""
        if self.forwarder is not None:
            self.forwarder.stop()
            self.forwarder = None
        for outside, _inside in self.links.values():
            subprocess.run(["ip", "link", "del", outside], capture_output=True, timeout=10)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=10)
