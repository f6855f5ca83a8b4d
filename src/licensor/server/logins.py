"""Login bookkeeping both services share: the ``login_attempts`` table, and one gate every way in goes through.

``licensor.throttle`` decides; this module loads what it needs from the database,
runs the password check only when the decision allows it, and stores the outcome.
The table lives in each service's own database, so the limit holds across worker
processes, replicas and restarts::

    gate = LoginGate(store, table, policy=..., clock=...)
    user = gate.attempt(name, client_host, verify)   # in a thread: argon2 and the DB must not block the event loop

``verify()`` returns who signed in, or None for a wrong name or password; it
must cost the same either way (``dummy_hash()`` for names that do not exist).
A blocked attempt raises ``LicensorError(code="rate_limited")`` whose
``details["retry_after"]`` the HTTP edge sends as ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, and_, delete, func, select
from sqlalchemy.engine import Connection

from ..errors import RateLimited
from ..throttle import Decision, LoginHistory, LoginPolicy, address_key, decide, user_key
from .db import Database, UTCDateTime

T = TypeVar("T")

#: The one answer to a refused sign-in, on every way in of both services: the same for a user name that does not
#: exist and a wrong password, so the words do not tell a guessed name apart (nor name the one that exists).
WRONG_CREDENTIALS = "The user name or password is wrong"

#: Argon2 needs a core and 64 MiB per hash: at most this many at once per process, in threads of their own
#: that the kernel runs at a lower priority, so a login flood queues there instead of starving the event loop
#: (and /healthz, joins, heartbeats) of CPU and memory.
HASHERS = max(1, (os.cpu_count() or 2) - 1)
HASHER_NICE = 5


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHER_NICE)  # Linux: per thread
    except (AttributeError, OSError):  # elsewhere: the thread count still bounds the cost
        pass


_HASH_POOL = ThreadPoolExecutor(max_workers=HASHERS, thread_name_prefix="licensor-argon2", initializer=_lower_priority)
#: The threads login bookkeeping runs in (a pool of its own: a flood must not fill the pool other routes use).
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="licensor-login")
_dummy: list[str] = []
#: PostgreSQL advisory lock key of the login bookkeeping ("login" in ASCII, as a number).
LOGIN_LOCK = 0x6C6F67696E


def login_table(metadata: MetaData) -> Table:
    """The ``login_attempts`` table in a service's metadata (created by that service's migrations)."""
    return Table(
        "login_attempts",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("at", UTCDateTime, nullable=False),
        Column("username", String(200), nullable=False),  # as counted: throttle.user_key
        Column("address", String(64), nullable=False),  # as counted: throttle.address_key
        Column("ok", Boolean, nullable=False),
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
        Index("ix_login_attempts_at", "at"),
    )


def policy_from_env(env: Mapping[str, str], base: LoginPolicy | None = None) -> LoginPolicy:
    """``base`` with ``LICENSOR_LOGIN_LIMIT``, ``LICENSOR_LOGIN_ADDRESS_LIMIT`` and ``LICENSOR_LOGIN_WINDOW_MINUTES`` applied."""
    from ..errors import UsageError

    p = base or LoginPolicy()
    try:
        return LoginPolicy(
            user_limit=int(env.get("LICENSOR_LOGIN_LIMIT", p.user_limit)),
            address_limit=int(env.get("LICENSOR_LOGIN_ADDRESS_LIMIT", p.address_limit)),
            window=timedelta(minutes=float(env["LICENSOR_LOGIN_WINDOW_MINUTES"])) if "LICENSOR_LOGIN_WINDOW_MINUTES" in env else p.window,
            remember=p.remember,
        )
    except ValueError as e:
        raise UsageError(f"A login limit setting is wrong ({e}): use whole numbers of at least 1 and a positive window") from None


def token_hash(token: str) -> str:
    """How a bearer token, session id or seat secret is kept at rest: its SHA-256, in hex (the token has 256 random bits)."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def dummy_hash() -> str:
    """An argon2 hash of nothing anyone knows, with the default parameters: what a missing user is checked against."""
    from argon2 import PasswordHasher

    if not _dummy:
        _dummy.append(PasswordHasher().hash(secrets.token_urlsafe(16)))
    return _dummy[0]


def verify_password(stored: str | None, password: str) -> bool:
    """Argon2-verify ``password`` against ``stored`` (None: a dummy, at the same cost), in the hashing threads."""
    return _HASH_POOL.submit(_verify, stored, password).result()


def _verify(stored: str | None, password: str) -> bool:
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return PasswordHasher().verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def rate_limited(decision: Decision) -> RateLimited:
    return RateLimited(decision.hint, details={"retry_after": decision.retry_after})


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in the login threads."""
    return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args))


class LoginGate:
    """The one way a password is checked: throttled per user name and per address, outcome stored."""

    def __init__(self, db: Database, table: Table, *, policy: LoginPolicy, clock: Callable[[], datetime]):
        self.db, self.t, self.policy, self.clock = db, table, policy, clock

    def history(self, c: Connection, user: str, address: str, now: datetime) -> LoginHistory:
        t, since = self.t, now - self.policy.window
        last_ok = c.execute(select(func.max(t.c.at)).where(and_(t.c.username == user, t.c.ok.is_(True)))).scalar()
        user_from = max(since, last_ok) if last_ok is not None else since
        limit = max(self.policy.user_limit, self.policy.address_limit)
        newest = t.c.at.desc()
        mine = and_(t.c.username == user, t.c.ok.is_(False), t.c.at > user_from)
        user_failures = c.execute(select(t.c.at).where(mine).order_by(newest).limit(limit)).scalars().all()
        pair_failures = c.execute(select(t.c.at).where(and_(mine, t.c.address == address)).order_by(newest).limit(limit)).scalars().all()
        address_failures = (
            c.execute(select(t.c.at).where(and_(t.c.address == address, t.c.ok.is_(False), t.c.at > since)).order_by(newest).limit(limit))
            .scalars()
            .all()
        )
        known = c.execute(
            select(func.max(t.c.at)).where(
                and_(t.c.username == user, t.c.address == address, t.c.ok.is_(True), t.c.at > now - self.policy.remember)
            )
        ).scalar()
        return LoginHistory(tuple(user_failures), tuple(address_failures), known, tuple(pair_failures))

    def reserve(self, user: str, host: str) -> int:
        """Count an attempt as a failure before its password is checked, if the limits allow it; returns its row id.

        Counting first, under a lock, is what keeps the limit exact when many attempts arrive at once (on
        several workers or replicas): each one sees the others.  A check that then succeeds turns its row into a
        success (``succeeded``); one that dies half-way stays a failure.
        """
        now = self.clock()
        u, a = user_key(user), address_key(host)
        t = self.t
        with self.db.tx() as c:
            if self.db.is_postgres:
                c.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOGIN_LOCK})")
            decision = decide(self.policy, self.history(c, u, a, now), now)
            if not decision.allowed:
                raise rate_limited(decision)
            # Failures older than the window count for nothing; successes are kept while they make an address known.
            c.execute(delete(t).where(and_(t.c.ok.is_(False), t.c.at <= now - self.policy.window)))
            c.execute(delete(t).where(t.c.at <= now - self.policy.remember))
            row = c.execute(t.insert().values(at=now, username=u, address=a, ok=False).returning(t.c.id)).scalar_one()
        return int(row)

    def succeeded(self, row: int, user: str, host: str) -> None:
        """The attempt ``row`` was right: it becomes this address's one remembered success, and resets the user name's count."""
        u, a = user_key(user), address_key(host)
        t = self.t
        with self.db.tx() as c:
            c.execute(delete(t).where(and_(t.c.username == u, t.c.address == a, t.c.ok.is_(True))))
            c.execute(t.update().where(t.c.id == row).values(ok=True, at=self.clock()))

    def attempt(self, user: str, host: str, verify: Callable[[], T | None]) -> T | None:
        """``verify()`` if the limits allow it, its outcome stored; raises ``rate_limited`` (without verifying) if not."""
        dummy_hash()  # made once per process, before any attempt is timed: the first unknown name must not take twice as long
        row = self.reserve(user, host)
        who = verify()
        if who is not None:
            self.succeeded(row, user, host)
        return who
