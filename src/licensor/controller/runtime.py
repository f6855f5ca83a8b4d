"""The controller at work: the cached verdict, seat admission, credentials, usage.

``Controller`` wraps ``ControllerService`` (identity, request codes, activation)
with what the running service needs.  Joins, heartbeats and leaves are applied
in batches, each batch in one ``Store.locked()`` transaction: that is what makes
"exactly N admitted" hold across worker processes and replicas, and what makes
a storm of joins cheap (one commit for many joins).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update

from .. import seats
from ..errors import UsageError
from ..license import fmt_time
from ..policy import Verdict
from . import audit, seating
from . import store as s
from .seating import KINDS, NOUN, Outcome
from .service import ControllerService, status_document

#: How long a cached verdict is used before it is evaluated again (seconds).
VERDICT_TTL = 2.0
#: How long a checked token is remembered (seconds): revocation takes effect within this.
TOKEN_CACHE_TTL = 5.0
MAX_ID = 200
#: How often heartbeats move the trusted-time high-water mark forward.
TRUSTED_TIME_STEP = timedelta(seconds=60)


@dataclass(frozen=True)
class Op:
    """One seat operation: ``join`` | ``heartbeat`` | ``leave`` of a node or cluster."""

    op: str
    kind: str
    id: str
    address: str = ""


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Controller:
    def __init__(self, svc: ControllerService, *, heartbeat_ttl: float = 60.0):
        self.svc = svc
        self.store = svc.store
        self.ttl = timedelta(seconds=heartbeat_ttl)
        self._verdict: Verdict | None = None
        self._verdict_at = (0.0, datetime.min.replace(tzinfo=UTC))
        self._vlock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self.refusals: Counter[str] = Counter()
        self._advanced: datetime | None = None
        self._peaks: dict[tuple[str, str], int] = {}  # (month, kind) -> a peak already stored

    @property
    def clock(self) -> Any:
        return self.svc.clock

    # -- the verdict, cached --------------------------------------------------

    def verdict(self) -> Verdict:
        """The active license's verdict, re-evaluated every few seconds or when the clock jumps."""
        now = self.clock()
        mono, at = self._verdict_at
        if self._verdict is not None and time.monotonic() - mono < VERDICT_TTL and abs((now - at).total_seconds()) < VERDICT_TTL:
            return self._verdict
        with self._vlock:
            v = self.svc.status()
            self._verdict, self._verdict_at = v, (time.monotonic(), now)
            return v

    def invalidate(self) -> None:
        self._verdict = None

    def activate(self, text: str | bytes) -> Any:
        try:
            return self.svc.activate(text)
        finally:
            self.invalidate()

    # -- seats ------------------------------------------------------------------

    def apply(self, ops: Sequence[Op]) -> list[Outcome]:
        """Apply a batch of seat operations in one serialising transaction."""
        verdict = self.verdict()
        now = self.clock()
        out: list[Outcome | None] = [None] * len(ops)
        entries: list[audit.Entry] = []
        try:
            self._apply(ops, verdict, now, out, entries)
        except BaseException:
            self._peaks.clear()  # the cached peaks may name a write that was rolled back
            raise
        result = [o for o in out if o is not None]
        for o in result:
            if not o.ok and o.status == "refused":
                self.refusals[o.code] += 1
        return result

    def _current(self, c: Any, verdict: Verdict, now: datetime) -> Verdict:
        """``verdict`` if it is about the license in force, else that license's verdict (inside the lock).

        The cached verdict was read before the batch took the lock: an activation by
        another worker, replica or the CLI may have committed meanwhile, and deciding
        seats with its old limits would admit more than the license now allows.
        """
        cached = verdict.license.license_id if verdict.license is not None else None
        if self.svc.active_license_id(c) == cached and (cached is not None or verdict.code == "missing"):
            return verdict
        fresh = self.svc.verdict_in(c, now)
        # Not under _vlock: verdict() holds it while it waits for the database lock this batch holds.
        self._verdict, self._verdict_at = fresh, (time.monotonic(), now)
        return fresh

    def _apply(self, ops: Sequence[Op], verdict: Verdict, now: datetime, out: list[Outcome | None], entries: list[audit.Entry]) -> None:
        with self.store.locked() as c:
            verdict = self._current(c, verdict, now)
            for kind in KINDS:
                idx = [i for i, o in enumerate(ops) if o.kind == kind]
                if not idx:
                    continue
                limit = seating.limit_of(verdict, kind)
                # Silent seats are swept by the background sweeper; here only when a join needs the room.
                # Leaves first: a node that leaves and another that joins in the same batch.
                leaves = [i for i in idx if ops[i].op == "leave"]
                if leaves:
                    ids = [ops[i].id for i in leaves]
                    held = seating.held(c, kind, ids)
                    seating.free(c, kind, ids)
                    for i in leaves:
                        if ops[i].id in held:
                            out[i] = Outcome(True, "left", f"{NOUN[kind]} {ops[i].id} left; its seat is free", "left")
                            entries.append(audit.Entry("left", ops[i].id, "", NOUN[kind]))
                            held.discard(ops[i].id)
                        else:
                            out[i] = Outcome(True, "not_joined", f"{NOUN[kind]} {ops[i].id} held no seat", "not_joined")
                beats = [i for i in idx if ops[i].op == "heartbeat"]
                if beats:
                    ids = [ops[i].id for i in beats]
                    if not verdict.keeps_seats:
                        released = set(seating.release(c, kind, ids, now, verdict.code, verdict.hint))
                        for i in beats:
                            out[i] = Outcome(False, verdict.code, verdict.hint, "released" if ops[i].id in released else "refused")
                    else:
                        held = seating.held(c, kind, ids)
                        if held:
                            seating.touch(c, kind, held, now)
                        for i in beats:
                            if ops[i].id in held:
                                out[i] = Outcome(True, verdict.code, verdict.hint, "alive")
                            else:
                                out[i] = Outcome(
                                    False,
                                    "not_joined",
                                    f"{NOUN[kind]} {ops[i].id} holds no seat (it left, timed out or was evicted): join again",
                                    "not_joined",
                                )
                joins = [i for i in idx if ops[i].op == "join"]
                if joins:
                    used = self._joins(c, kind, [ops[i] for i in joins], joins, verdict, limit, now, out, entries)
                    seating.record_peak(c, kind, used if verdict.keeps_seats else 0, now, self._peaks)
            audit.append(c, now, entries)
            # Heartbeats advance trusted time; once a minute is plenty against a 24 h tolerance.
            if verdict.keeps_seats and (self._advanced is None or now - self._advanced >= TRUSTED_TIME_STEP or now < self._advanced):
                self.svc.advance_trusted_time(c, now)
                self._advanced = now

    def _joins(
        self,
        c: Any,
        kind: str,
        ops: list[Op],
        where: list[int],
        verdict: Verdict,
        limit: int,
        now: datetime,
        out: list[Outcome | None],
        entries: list[audit.Entry],
    ) -> int:
        """Decide the joins of one kind; returns the seats held afterwards."""
        ids = [o.id for o in ops]
        held = seating.held(c, kind, ids)
        if not verdict.valid:
            # grace keeps seated nodes; anything else refuses every join with the verdict's code
            for i, o in zip(where, ops, strict=True):
                if verdict.keeps_seats and o.id in held:
                    out[i] = Outcome(True, verdict.code, verdict.hint, "rejoined")
                else:
                    out[i] = Outcome(False, verdict.code, verdict.hint, "refused")
                    entries.append(audit.Entry("refused", o.id, verdict.code, NOUN[kind]))
            if held and verdict.keeps_seats:
                seating.touch(c, kind, held, now)
            return seating.count(c, kind) if verdict.keeps_seats else 0
        used = seating.count(c, kind)
        if used + len(set(ids) - held) > limit and seating.sweep(c, kind, now, self.ttl):
            held = seating.held(c, kind, ids)
            used = seating.count(c, kind)
        decision = seats.admit(ids, held, used, limit)
        code, hint = seats.refusal_hint(kind, limit)
        addr = {o.id: o.address for o in ops}
        for i, o in zip(where, ops, strict=True):
            what = decision.outcome[o.id]
            if what == "refused":
                out[i] = Outcome(False, code, hint, "refused")
                entries.append(audit.Entry("refused", o.id, code, NOUN[kind]))
            else:
                out[i] = Outcome(True, "valid", f"{NOUN[kind]} {o.id} holds a seat ({decision.used}/{limit} in use)", what)
        for a in decision.admitted:
            entries.append(audit.Entry("joined", a, "", NOUN[kind]))
        if decision.admitted:
            seating.seat(c, kind, [(a, addr.get(a, "")) for a in decision.admitted], now)
        if decision.rejoined:
            seating.touch(c, kind, decision.rejoined, now)
        return decision.used

    def sweep(self) -> int:
        """Free every seat whose holder went silent; returns how many."""
        now = self.clock()
        with self.store.locked() as c:
            return sum(len(seating.sweep(c, k, now, self.ttl)) for k in KINDS)

    def seats(self, kind: str) -> list[dict[str, Any]]:
        now = self.clock()
        q = select(s.seats).where(s.seats.c.kind == kind).order_by(s.seats.c.joined_at, s.seats.c.seat_id)
        with self.store.tx() as c:
            return [
                {
                    "id": r.seat_id,
                    "joined_at": fmt_time(r.joined_at),
                    "last_seen": fmt_time(r.last_seen),
                    "address": r.address,
                    "alive": now - r.last_seen <= self.ttl,
                }
                for r in c.execute(q)
            ]

    def used(self, verdict: Verdict) -> dict[str, int]:
        """Seats in use per kind: 0 when the license keeps no seats."""
        if not verdict.keeps_seats:
            return dict.fromkeys(KINDS, 0)
        cutoff = self.clock() - self.ttl
        with self.store.tx() as c:
            return {
                k: int(
                    c.execute(
                        select(func.count()).select_from(s.seats).where(s.seats.c.kind == k, s.seats.c.last_seen >= cutoff)
                    ).scalar_one()
                )
                for k in KINDS
            }

    def status(self) -> dict[str, Any]:
        self.invalidate()
        verdict = self.verdict()
        doc = status_document(verdict, self.svc.installation_id())
        used = self.used(verdict)
        doc["nodes_used"], doc["nodes_limit"] = used["node"], seating.limit_of(verdict, "node")
        doc["clusters_used"], doc["clusters_limit"] = used["cluster"], seating.limit_of(verdict, "cluster")
        doc["keeps_seats"] = verdict.keeps_seats
        doc["heartbeat_ttl"] = int(self.ttl.total_seconds())
        with self.store.tx() as c:
            tt = self.svc.installation(c).trusted_time
        doc["trusted_time"] = fmt_time(tt) if tt else None
        doc["now"] = fmt_time(self.clock())
        lic = verdict.license
        if verdict.code == "grace" and lic is not None and lic.expires is not None:
            doc["grace_until"] = fmt_time(lic.expires + timedelta(days=lic.grace_days))
        return doc

    # -- credentials --------------------------------------------------------

    def create_token(self, kind: str, name: str = "") -> str:
        """A new admin or join token; only its hash is stored, so it is shown once."""
        prefix = {"admin_token": "lca_", "join_token": "lcj_"}[kind]
        token = prefix + secrets.token_urlsafe(32)
        with self.store.locked() as c:
            c.execute(s.credentials.insert().values(kind=kind, name=name, secret_hash=_sha(token), created_at=self.clock(), revoked=False))
            audit.append(c, self.clock(), [audit.Entry("admin", name, kind, f"{kind.replace('_', ' ')} created")])
        return token

    def set_admin_password(self, password: str) -> None:
        from argon2 import PasswordHasher

        if len(password) < 12:
            raise UsageError("the admin password is too short: use at least 12 characters")
        h = PasswordHasher().hash(password)
        with self.store.locked() as c:
            c.execute(update(s.credentials).where(s.credentials.c.kind == "admin_password").values(revoked=True))
            c.execute(
                s.credentials.insert().values(kind="admin_password", name="admin", secret_hash=h, created_at=self.clock(), revoked=False)
            )
            audit.append(c, self.clock(), [audit.Entry("admin", "admin", "admin_password", "admin password set")])

    def list_credentials(self) -> list[dict[str, Any]]:
        with self.store.tx() as c:
            return [
                {"id": r.id, "kind": r.kind, "name": r.name, "created_at": fmt_time(r.created_at), "revoked": bool(r.revoked)}
                for r in c.execute(select(s.credentials).order_by(s.credentials.c.id))
            ]

    def revoke(self, cred_id: int) -> None:
        with self.store.locked() as c:
            if c.execute(update(s.credentials).where(s.credentials.c.id == cred_id).values(revoked=True)).rowcount == 0:
                raise UsageError(f"there is no credential {cred_id}: see 'licensor controller credentials list'")
            audit.append(c, self.clock(), [audit.Entry("admin", str(cred_id), "revoked", "credential revoked")])
        self._tokens.clear()

    def cached_role(self, token: str) -> str | None:
        """The role of a token checked in the last few seconds, without touching the database."""
        hit = self._tokens.get(_sha(token)) if token and len(token) <= 200 else None
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
        h = _sha(token)
        q = select(s.credentials.c.kind).where(
            and_(
                s.credentials.c.secret_hash == h,
                s.credentials.c.revoked.is_(False),
                s.credentials.c.kind.in_(["admin_token", "join_token"]),
            )
        )
        with self.store.tx() as c:
            row = c.execute(q).first()
        if row is None:
            return None
        role = "admin" if row.kind == "admin_token" else "join"
        self._tokens[h] = (role, time.monotonic())
        return role

    def check_password(self, user: str, password: str) -> bool:
        from argon2 import PasswordHasher
        from argon2.exceptions import InvalidHashError, VerificationError

        if user != "admin" or len(password) > 1024:
            return False
        q = select(s.credentials.c.secret_hash).where(and_(s.credentials.c.kind == "admin_password", s.credentials.c.revoked.is_(False)))
        with self.store.tx() as c:
            rows = c.execute(q).all()
        for r in rows:
            try:
                if PasswordHasher().verify(r.secret_hash, password):
                    return True
            except (VerificationError, InvalidHashError):
                continue
        return False

    # -- audit and usage ------------------------------------------------------

    def audit_verify(self) -> audit.AuditCheck:
        with self.store.tx() as c:
            return audit.verify(c)

    def audit_entries(self, limit: int = 100, event: str | None = None) -> list[dict[str, Any]]:
        with self.store.tx() as c:
            return list(audit.entries(c, limit=limit, event=event))

    def usage_report(self, month: str) -> str:
        """The month's peak seats, signed by the installation key, for the vendor's true-up."""
        from ..usage import make_usage_report

        with self.store.tx() as c:
            key = self.svc.identity(c)
            peaks = {r.kind: int(r.peak) for r in c.execute(select(s.usage).where(s.usage.c.month == month))}
            active = c.execute(select(s.licenses.c.license_id, s.licenses.c.serial).where(s.licenses.c.active.is_(True))).first()
        return make_usage_report(
            key,
            month=month,
            peak_nodes=peaks.get("node", 0),
            peak_clusters=peaks.get("cluster", 0),
            now=self.clock(),
            license_id=active.license_id if active else None,
            serial=active.serial if active else None,
        )
