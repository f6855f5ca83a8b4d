"""Admin users, sessions, API tokens, sign-in (through ``server.logins.LoginGate``) and the audit log."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Row

from ...errors import Conflict, RateLimited, Unauthorized, UsageError
from ...license import fmt_time
from ...server.logins import WRONG_CREDENTIALS, LoginGate, token_hash, verify_password
from ...throttle import LoginPolicy
from .. import store as s
from ..ledger import Ledger, not_found, stamp

#: Scopes an API token can carry.  A logged-in admin user has all of them.
SCOPES = ("licenses:read", "licenses:write", "keys:admin", "usage:write", "catalog:write", "audit:read")
TOKEN_PREFIX = "lsr_"  # noqa: S105 - a prefix, not a secret

_TOKEN = select(s.api_tokens.c.id, s.api_tokens.c.name, s.api_tokens.c.scopes).where(
    s.api_tokens.c.token_hash == bindparam("h"), s.api_tokens.c.revoked_at.is_(None)
)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin user (all scopes) or an API token (its scopes)."""

    actor: str  # "user:NAME" or "token:NAME#ID"
    scopes: frozenset[str]
    csrf: str | None = None  # set for cookie sessions: unsafe methods must echo it

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class AccountService:
    def __init__(self, ledger: Ledger, *, policy: LoginPolicy | None = None, session_ttl: timedelta = timedelta(hours=12)):
        self.ledger = ledger
        self.logins = LoginGate(ledger.store, s.login_attempts, policy=policy or LoginPolicy(), clock=lambda: self.ledger.clock())
        self.session_ttl = session_ttl

    # -- users ------------------------------------------------------------------

    def create_user(self, username: str, password: str, *, actor: str) -> None:
        from argon2 import PasswordHasher

        if len(password) < 12:
            raise UsageError("The password is too short: use at least 12 characters")
        if not username.strip():
            raise UsageError("The user name is empty")
        with self.ledger.tx() as c:
            if c.execute(select(s.users.c.id).where(s.users.c.username == username)).first() is not None:
                raise Conflict(f"User {username} exists already")
            c.execute(
                s.users.insert().values(
                    username=username, password_hash=PasswordHasher().hash(password), created_at=self.ledger.clock(), disabled=False
                )
            )
            self.ledger.record(c, actor, "user.create", username)

    def users(self) -> list[dict[str, Any]]:
        rows = self.ledger.rows(select(s.users).order_by(s.users.c.username))
        return [{"username": r.username, "created_at": fmt_time(r.created_at), "disabled": r.disabled} for r in rows]

    # -- API tokens ---------------------------------------------------------------

    def create_token(self, name: str, scopes: Iterable[str], *, actor: str) -> str:
        """A new API token (shown once; only its hash is stored)."""
        wanted = sorted(set(scopes))
        unknown = [x for x in wanted if x not in SCOPES]
        if unknown or not wanted:
            raise UsageError(f"Unknown or no scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.ledger.tx() as c:
            c.execute(
                s.api_tokens.insert().values(
                    name=name, token_hash=token_hash(token), scopes=" ".join(wanted), created_at=self.ledger.clock(), created_by=actor
                )
            )
            self.ledger.record(c, actor, "token.create", name, scopes=wanted)
        return token

    def tokens(self) -> list[dict[str, Any]]:
        rows = self.ledger.rows(select(s.api_tokens).order_by(s.api_tokens.c.id))
        return [
            {
                "id": r.id,
                "name": r.name,
                "scopes": r.scopes.split(),
                "created_at": fmt_time(r.created_at),
                "created_by": r.created_by,
                "revoked_at": stamp(r.revoked_at),
            }
            for r in rows
        ]

    def revoke_token(self, token_id: int, *, actor: str) -> None:
        with self.ledger.tx() as c:
            done = c.execute(update(s.api_tokens).where(s.api_tokens.c.id == token_id).values(revoked_at=self.ledger.clock()))
            if done.rowcount == 0:
                raise not_found(f"API token {token_id}")
            self.ledger.record(c, actor, "token.revoke", str(token_id))

    def token_principal(self, token: str) -> Principal | None:
        with self.ledger.tx(write=False) as c:
            row = c.execute(_TOKEN, {"h": token_hash(token)}).first()
        if row is None:
            return None
        return Principal(f"token:{row.name}#{row.id}", frozenset(row.scopes.split()))

    def record_use(self, principal: Principal, method: str, path: str) -> None:
        self.ledger.audited(principal.actor, "token.use", path, method=method)

    # -- sessions -------------------------------------------------------------------

    def login(self, username: str, password: str, ip: str) -> tuple[str, str]:
        """``(session cookie value, CSRF token)``; the console and the API share one limit per user name and per address.

        Slow (argon2) and blocking: the HTTP edge runs it in a thread."""
        who = f"user:{username[:100]}"
        try:
            user = self.logins.attempt(username, ip, lambda: self._check_user(username, password))
        except RateLimited:
            self.ledger.audited(who, "login.rate_limited", ip)
            raise
        if user is None:
            self.ledger.audited(who, "login.failed", ip)
            raise Unauthorized(WRONG_CREDENTIALS)
        now = self.ledger.clock()
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.ledger.tx() as c:
            c.execute(
                s.sessions.insert().values(
                    id_hash=token_hash(cookie), user_id=user.id, csrf=csrf, created_at=now, expires_at=now + self.session_ttl
                )
            )
            self.ledger.record(c, f"user:{username}", "login", ip)
        return cookie, csrf

    def _check_user(self, username: str, password: str) -> Row[Any] | None:
        """The enabled user with this name and password, else None; the same argon2 cost when there is no such user."""
        with self.ledger.tx(write=False) as c:
            user = c.execute(select(s.users).where(s.users.c.username == username)).first()
        ok = verify_password(user.password_hash if user is not None else None, password if len(password) <= 1000 else "")
        return user if ok and len(password) <= 1000 and user is not None and not user.disabled else None

    def session_principal(self, cookie: str) -> Principal | None:
        t = s.sessions
        with self.ledger.tx(write=False) as c:
            row = c.execute(
                select(s.users.c.username, t.c.csrf)
                .join(s.users, s.users.c.id == t.c.user_id)
                .where(t.c.id_hash == token_hash(cookie), t.c.expires_at > self.ledger.clock(), s.users.c.disabled.is_(False))
            ).first()
        if row is None:
            return None
        return Principal(f"user:{row.username}", frozenset(SCOPES), csrf=row.csrf)

    def logout(self, cookie: str, actor: str) -> None:
        with self.ledger.tx() as c:
            c.execute(delete(s.sessions).where(s.sessions.c.id_hash == token_hash(cookie)))
            self.ledger.record(c, actor, "logout")

    # -- audit ------------------------------------------------------------------------

    def audit_log(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        q = select(s.audit)
        if action:
            q = q.where(s.audit.c.action.like(f"{action}%"))
        rows = self.ledger.rows(q.order_by(s.audit.c.id.desc()).limit(max(1, min(limit, 10000))))
        return [
            {"at": fmt_time(r.at), "actor": r.actor, "action": r.action, "target": r.target, "details": json.loads(r.details)} for r in rows
        ]
