"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it is given, for the mail tests."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from .helpers import free_port


class Mailbox:
    """What the server was sent: each message parsed, with its envelope recipients."""

    def __init__(self, port: int, delay: float = 0.0) -> None:
        self.port, self.delay = port, delay
        self.messages: list[EmailMessage] = []
        self.rcpts: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow server: concurrent sweeps overlap while one is sending
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self._lock:
            self.messages.append(msg)
            self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"

    def bodies(self) -> list[str]:
        out = []
        for m in self.messages:
            part = m.get_body(("plain",))
            assert part is not None
            out.append(str(part.get_content()))
        return out

    def wait_for(self, count: int, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > end:
                raise AssertionError(f"{len(self.messages)} messages arrived, {count} awaited")
            time.sleep(0.05)


@contextmanager
def smtp_server(port: int | None = None, delay: float = 0.0) -> Iterator[Mailbox]:
    """An aiosmtpd server on 127.0.0.1 (``port``, else a free one) while the block runs."""
    from aiosmtpd.controller import Controller

    box = Mailbox(port or free_port(), delay)
    server = Controller(box, hostname="127.0.0.1", port=box.port)
    server.start()
    try:
        yield box
    finally:
        server.stop()
