"""The controller at work: the cached verdict, seat admission, credentials, usage.

``Controller`` wraps ``ControllerService`` (identity, request codes, activation)
with what the running service needs.  Joins, heartbeats and leaves are applied
in batches, each batch in one ``Store.locked()`` transaction: that is what makes
"exactly N admitted" hold across worker processes and replicas, and what makes
a storm of joins cheap (one commit for many joins).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select, update

from .. import seats
from ..errors import UsageError
from ..license import fmt_time
from ..policy import Verdict
from ..server.logins import LoginGate, policy_from_env, verify_password
from ..trusted_time import Watch
from . import audit, seating
from . import store as s
from .seating import KINDS, NOUN, Outcome
from .service import ControllerService, status_document

#: How long a cached verdict is used before it is evaluated again (seconds).
VERDICT_TTL = 2.0
#: How long a checked token is remembered (seconds): revocation takes effect within this.
TOKEN_CACHE_TTL = 5.0
MAX_ID = 200
#: How often (monotonic seconds) a process feeds a clock reading to the trusted-time mark, unless the clock jumped.
TRUSTED_TIME_STEP = 60.0


@dataclass(frozen=True)
class Op:
    """One seat operation: ``join`` | ``heartbeat`` | ``leave`` of a node or cluster."""

    op: str
    kind: str
    id: str
    address: str = ""
    secret: str = field(default="", repr=False)  # the seat secret presented (X-Seat-Secret)
    admin: bool = False  # an admin's leave frees the seat without its secret


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Controller:
    def __init__(self, svc: ControllerService, *, heartbeat_ttl: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self.svc = svc
        self.store = svc.store
        self.ttl = timedelta(seconds=heartbeat_ttl)
        self._verdict: Verdict | None = None
        self._verdict_at = (0.0, datetime.min.replace(tzinfo=UTC))
        self._vlock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self.refusals: Counter[str] = Counter()
        self.monotonic = monotonic
        self._watch: Watch | None = None  # this process's clock readings (see licensor.trusted_time)
        self._peaks: dict[tuple[str, str], int] = {}  # (month, kind) -> a peak already stored
        self._logins: LoginGate | None = None

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
                    self._leaves(c, kind, ops, leaves, out, entries)
                beats = [i for i in idx if ops[i].op == "heartbeat"]
                if beats:
                    self._beats(c, kind, ops, beats, verdict, now, out, entries)
                joins = [i for i in idx if ops[i].op == "join"]
                if joins:
                    used = self._joins(c, kind, [ops[i] for i in joins], joins, verdict, limit, now, out, entries)
                    seating.record_peak(c, kind, used if verdict.keeps_seats else 0, now, self._peaks)
            audit.append(c, now, entries)
            self._observe_time(c, now)

    def _refuse_secret(self, kind: str, op: Op, legacy: bool, entries: list[audit.Entry]) -> Outcome:
        code, hint = seats.secret_refusal(kind, op.id, legacy)
        entries.append(audit.Entry("refused", op.id, code, f"{NOUN[kind]} {op.op} without the seat's secret"))
        return Outcome(False, code, hint, "refused")

    def _leaves(
        self, c: Any, kind: str, ops: Sequence[Op], where: list[int], out: list[Outcome | None], entries: list[audit.Entry]
    ) -> None:
        """Free the seats whose leave presents their secret (or comes from an admin)."""
        hashes = seating.secret_hashes(c, kind, [ops[i].id for i in where])
        decided = [seats.check(ops[i].id in hashes, hashes.get(ops[i].id), ops[i].secret, admin=ops[i].admin) for i in where]
        go = {ops[i].id for i, d in zip(where, decided, strict=True) if d == "held"}
        if go:
            seating.free(c, kind, go)
        for i, d in zip(where, decided, strict=True):
            o = ops[i]
            if d == "seat_secret":
                out[i] = self._refuse_secret(kind, o, o.id in hashes and hashes[o.id] is None, entries)
            elif d == "held" and o.id in go:
                go.discard(o.id)
                if o.admin:
                    out[i] = Outcome(True, "left", f"{NOUN[kind]} {o.id}'s seat was released by an admin; it is free", "left")
                    entries.append(audit.Entry("released", o.id, "admin", f"{NOUN[kind]} released by an admin"))
                else:
                    out[i] = Outcome(True, "left", f"{NOUN[kind]} {o.id} left; its seat is free", "left")
                    entries.append(audit.Entry("left", o.id, "", NOUN[kind]))
            else:
                out[i] = Outcome(True, "not_joined", f"{NOUN[kind]} {o.id} held no seat", "not_joined")

    def _beats(
        self,
        c: Any,
        kind: str,
        ops: Sequence[Op],
        where: list[int],
        verdict: Verdict,
        now: datetime,
        out: list[Outcome | None],
        entries: list[audit.Entry],
    ) -> None:
        """Keep (or, when the license keeps none, release) the seats whose heartbeat presents their secret."""
        hashes = seating.secret_hashes(c, kind, [ops[i].id for i in where])
        decided = [seats.check(ops[i].id in hashes, hashes.get(ops[i].id), ops[i].secret) for i in where]
        mine = list(dict.fromkeys(ops[i].id for i, d in zip(where, decided, strict=True) if d == "held"))
        if not verdict.keeps_seats:
            released = set(seating.release(c, kind, mine, now, verdict.code, verdict.hint)) if mine else set()
        elif mine:
            seating.touch(c, kind, mine, now)
        for i, d in zip(where, decided, strict=True):
            o = ops[i]
            if d == "seat_secret":
                out[i] = self._refuse_secret(kind, o, o.id in hashes and hashes[o.id] is None, entries)
            elif not verdict.keeps_seats:
                out[i] = Outcome(False, verdict.code, verdict.hint, "released" if o.id in released else "refused")
            elif d == "held":
                out[i] = Outcome(True, verdict.code, verdict.hint, "alive")
            else:
                out[i] = Outcome(
                    False, "not_joined", f"{NOUN[kind]} {o.id} holds no seat (it left, timed out or was evicted): join again", "not_joined"
                )

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
        if not verdict.keeps_seats:
            for i, o in zip(where, ops, strict=True):
                out[i] = Outcome(False, verdict.code, verdict.hint, "refused")
                entries.append(audit.Entry("refused", o.id, verdict.code, NOUN[kind]))
            return 0
        reqs = [(o.id, o.secret) for o in ops]
        holders = seating.holders(c, kind, [o.id for o in ops])
        used = seating.count(c, kind)
        if not verdict.valid:
            # grace: seated holders rejoin (with their secret), nobody new joins
            decision = seats.admit(reqs, holders, used, used, now, self.ttl)
            self._seat_outcomes(
                c, kind, ops, where, decision, now, out, entries, (verdict.code, verdict.hint), (verdict.code, verdict.hint)
            )
            return decision.used
        if used + len({o.id for o in ops} - holders.keys()) > limit and seating.sweep(c, kind, now, self.ttl):
            holders = seating.holders(c, kind, [o.id for o in ops])
            used = seating.count(c, kind)
        decision = seats.admit(reqs, holders, used, limit, now, self.ttl)
        self._seat_outcomes(c, kind, ops, where, decision, now, out, entries, seats.refusal_hint(kind, limit), None)
        return decision.used

    def _seat_outcomes(
        self,
        c: Any,
        kind: str,
        ops: list[Op],
        where: list[int],
        decision: seats.Admission,
        now: datetime,
        out: list[Outcome | None],
        entries: list[audit.Entry],
        refused: tuple[str, str],
        kept: tuple[str, str] | None,
    ) -> None:
        """Store a join decision and answer each request: ``refused`` is the (code, hint) of no seat left, ``kept`` that of a seat held."""
        noun = NOUN[kind]
        keys = {rid: secrets.token_urlsafe(32) for rid in (*decision.admitted, *decision.reclaimed)}
        addr = {o.id: o.address for o in ops}
        held = f"({decision.used}/{decision.limit} in use)"
        for i, o, what in zip(where, ops, decision.outcomes, strict=True):
            if what == "refused":
                out[i] = Outcome(False, refused[0], refused[1], "refused")
                entries.append(audit.Entry("refused", o.id, refused[0], noun))
            elif what == "taken":
                code, hint = seats.taken_refusal(kind, o.id, self.ttl)
                out[i] = Outcome(False, code, hint, "refused")
                entries.append(audit.Entry("refused", o.id, code, noun))
            else:
                code, hint = kept or ("valid", f"{noun} {o.id} holds a seat {held}")
                # admitted or reclaimed: a new holder, given the seat's new secret
                new = what != "rejoined"
                out[i] = Outcome(True, code, hint, "admitted" if new else "rejoined", keys[o.id] if new else "")
        for a in decision.admitted:
            entries.append(audit.Entry("joined", a, "", noun))
        for r in decision.reclaimed:
            entries.append(audit.Entry("joined", r, "seat_reclaimed", f"{noun}: took over a seat whose holder was silent or had no secret"))
        if decision.admitted:
            seating.seat(c, kind, [(a, addr.get(a, ""), seats.digest(keys[a])) for a in decision.admitted], now)
        if decision.reclaimed:
            seating.rekey(c, kind, [(r, addr.get(r, ""), seats.digest(keys[r])) for r in decision.reclaimed], now)
        if decision.rejoined:
            seating.touch(c, kind, decision.rejoined, now)

    def sweep(self) -> int:
        """Free every seat whose holder went silent; returns how many.  Also a reading for the trusted-time mark."""
        now = self.clock()
        with self.store.locked() as c:
            self._observe_time(c, now)
            return sum(len(seating.sweep(c, k, now, self.ttl)) for k in KINDS)

    def _observe_time(self, c: Any, now: datetime) -> None:
        """Feed a reading to the trusted-time mark: once a minute, or at once when the clock jumped."""
        mono = self.monotonic()
        w = self._watch
        if w is None or mono - w.anchor_mono >= TRUSTED_TIME_STEP or w.jumped(now, mono):
            self._watch = self.svc.observe_time(c, w, now, mono)
            self.invalidate()

    def acknowledge_clock(self, actor: str) -> dict[str, Any]:
        """An admin vouches for the clock (audited); the status afterwards."""
        try:
            self.svc.acknowledge_clock(actor)
        finally:
            self.invalidate()
        return self.status()

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
            mark = self.svc.mark(c)
        doc["trusted_time"] = fmt_time(mark.value) if mark.value else None
        doc["trusted_time_proven"] = fmt_time(mark.proven) if mark.proven else None
        doc["trusted_time_observed"] = fmt_time(mark.observed) if mark.observed else None
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

    @property
    def logins(self) -> LoginGate:
        """The sign-in limit every way in shares (console, HTTP Basic), kept in the database."""
        if self._logins is None:
            self._logins = LoginGate(self.store, s.login_attempts, policy=policy_from_env(os.environ), clock=self.clock)
        return self._logins

    def check_password(self, user: str, password: str) -> bool:
        """Whether ``user`` / ``password`` are the admin's; the same argon2 cost for any other user name or no password set."""
        q = select(s.credentials.c.secret_hash).where(and_(s.credentials.c.kind == "admin_password", s.credentials.c.revoked.is_(False)))
        with self.store.tx() as c:
            stored = [r.secret_hash for r in c.execute(q)] if user == "admin" else []
        if len(password) > 1024:
            password = ""  # still hashed: an over-long password must not answer faster than a wrong one
        return any([verify_password(h, password) for h in stored or [None]])

    def login(self, user: str, password: str, host: str) -> bool:
        """A sign-in attempt from ``host``, within the shared limit; raises ``rate_limited`` (no hashing) when it is reached."""
        return bool(self.logins.attempt(user, host, lambda: True if self.check_password(user, password) else None))

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
