"""Who may call the controller: the admin password, admin and join tokens, the shared sign-in limit, console sessions.

Tokens are kept as ``licensor.server.logins.token_hash`` (shown once); the password as an argon2 hash.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from sqlalchemy import and_, func, select, update

from ...clock import Clock
from ...errors import UsageError
from ...license import fmt_time
from ...server.logins import LoginGate, policy_from_env, token_hash, verify_password
from .. import audit
from .. import store as s

#: How long a checked token is remembered (seconds): revocation takes effect within this.
TOKEN_CACHE_TTL = 5.0
PREFIX = {"admin_token": "lca_", "join_token": "lcj_"}
SECRET_KEY = "console_session_secret"  # noqa: S105 - a settings key name, not a secret
SIGN_OUTS_KEY = "console_sign_outs"
_LIVE_TOKEN = and_(s.credentials.c.revoked.is_(False), s.credentials.c.kind.in_(["admin_token", "join_token"]))
_PASSWORDS = and_(s.credentials.c.kind == "admin_password", s.credentials.c.revoked.is_(False))


class Accounts:
    def __init__(self, store: s.Store, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._logins: LoginGate | None = None

    def _audit(self, c: Any, subject: str, code: str, detail: str) -> None:
        audit.append(c, self.clock(), [audit.Entry("admin", subject, code, detail)])

    def create_token(self, kind: str, name: str = "") -> str:
        """A new admin or join token; only its hash is stored, so it is shown once."""
        token = PREFIX[kind] + secrets.token_urlsafe(32)
        with self.store.locked() as c:
            c.execute(
                s.credentials.insert().values(kind=kind, name=name, secret_hash=token_hash(token), created_at=self.clock(), revoked=False)
            )
            self._audit(c, name, kind, f"{kind.replace('_', ' ')} created")
        return token

    def set_admin_password(self, password: str) -> None:
        from argon2 import PasswordHasher

        if len(password) < 12:
            raise UsageError("The admin password is too short: use at least 12 characters")
        h = PasswordHasher().hash(password)
        with self.store.locked() as c:
            c.execute(update(s.credentials).where(s.credentials.c.kind == "admin_password").values(revoked=True))
            c.execute(
                s.credentials.insert().values(kind="admin_password", name="admin", secret_hash=h, created_at=self.clock(), revoked=False)
            )
            self._audit(c, "admin", "admin_password", "admin password set")

    def list_credentials(self) -> list[dict[str, Any]]:
        with self.store.tx() as c:
            return [
                {"id": r.id, "kind": r.kind, "name": r.name, "created_at": fmt_time(r.created_at), "revoked": bool(r.revoked)}
                for r in c.execute(select(s.credentials).order_by(s.credentials.c.id))
            ]

    def revoke(self, cred_id: int) -> None:
        with self.store.locked() as c:
            if c.execute(update(s.credentials).where(s.credentials.c.id == cred_id).values(revoked=True)).rowcount == 0:
                raise UsageError(f"There is no credential {cred_id}: see 'licensor controller credentials list'")
            self._audit(c, str(cred_id), "revoked", "credential revoked")
        self._tokens.clear()

    def cached_role(self, token: str) -> str | None:
        """The role of a token checked in the last few seconds, without touching the database."""
        hit = self._tokens.get(token_hash(token)) if token and len(token) <= 200 else None
        if hit is not None and time.monotonic() - hit[1] < TOKEN_CACHE_TTL:
            return hit[0]
        return None

    def token_role(self, token: str) -> str | None:
        """``admin`` or ``join`` for a live token, else None."""
        if not token or len(token) > 200:
            return None
        role = self.cached_role(token)
        if role is not None:
            return role
        h = token_hash(token)
        with self.store.tx() as c:
            row = c.execute(select(s.credentials.c.kind).where(and_(s.credentials.c.secret_hash == h, _LIVE_TOKEN))).first()
        if row is None:
            return None
        role = "admin" if row.kind == "admin_token" else "join"
        self._tokens[h] = (role, time.monotonic())
        return role

    @property
    def logins(self) -> LoginGate:
        """The sign-in limit every way in shares (console, HTTP Basic), kept in the database."""
        if self._logins is None:
            self._logins = LoginGate(self.store, s.login_attempts, policy=policy_from_env(os.environ), clock=self.clock)
        return self._logins

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``user`` / ``password`` are the admin's; the same argon2 cost for any other user name or no password set."""
        with self.store.tx() as c:
            stored = [r.secret_hash for r in c.execute(select(s.credentials.c.secret_hash).where(_PASSWORDS))] if user == "admin" else []
        if len(password) > 1024:
            password = ""  # still hashed: an over-long password must not answer faster than a wrong one
        return any([verify_password(h, password) for h in stored or [None]])

    def login(self, user: str, password: str, host: str) -> bool:
        """A sign-in attempt from ``host``, within the shared limit; raises ``rate_limited`` (no hashing) when it is reached."""
        return bool(self.logins.attempt(user, host, lambda: True if self.check_password(user, password) else None))

    # -- console sessions ---------------------------------------------------------------------------

    def session_secret(self) -> bytes:
        """The HMAC key for console sessions, made once and shared by every worker and replica."""
        with self.store.tx() as c:
            have = s.get_setting(c, SECRET_KEY)
        if have:
            return bytes.fromhex(have)
        with self.store.locked() as c:
            have = s.get_setting(c, SECRET_KEY)
            if not have:
                have = secrets.token_hex(32)
                s.put_setting(c, SECRET_KEY, have)
        return bytes.fromhex(have)

    def password_generation(self) -> str | None:
        """The id of the admin password in force and the count of sign-outs (sessions end when either changes);
        None when no password is set."""
        with self.store.tx() as c:
            v = c.execute(select(func.max(s.credentials.c.id)).where(_PASSWORDS)).scalar()
            signed_out = s.get_setting(c, SIGN_OUTS_KEY) or "0"
        return None if v is None else f"{v}.{signed_out}"

    def end_sessions(self) -> None:
        """Sign-out: every console session ends, so a copied cookie is no way in afterwards.

        Session cookies are signed, not stored, so one cannot be struck off by itself; they all carry the sign-out
        count, and the controller has one admin."""
        with self.store.locked() as c:
            s.put_setting(c, SIGN_OUTS_KEY, str(int(s.get_setting(c, SIGN_OUTS_KEY) or "0") + 1))
            self._audit(c, "console", "signed_out", "signed out: every console session ended")
