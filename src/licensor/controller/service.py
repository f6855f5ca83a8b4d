"""Controller service: identity, request codes, activation, status.

The HTTP API and the CLI only parse and render; the logic is here.  Time comes
from an injected clock so tests (and the policy) never read the wall clock
themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .. import __version__, trusted_time
from ..errors import LicenseRefused, LicensorError, UsageError
from ..identity import InstallationKey, hash_factors
from ..license import License, decode_license, fmt_time, parse_time
from ..policy import Installation, Verdict, evaluate
from ..request import Contact, decode_request, make_request, request_file
from ..signing import Keyring, key_id
from ..trusted_time import Mark, Watch
from . import store as s

Clock = Callable[[], datetime]

#: Settings keys of the trusted-time mark's two parts (see licensor.trusted_time).
PROVEN_KEY = "trusted_time_proven"
OBSERVED_KEY = "trusted_time_observed"
#: Before the mark had two parts it was one value, set by single clock readings: it counts as observed.
LEGACY_KEY = "trusted_time"
_ACTIVE_ID = select(s.licenses.c.license_id).where(s.licenses.c.active.is_(True))


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Activation:
    """What an activation did."""

    verdict: Verdict
    replaced: str | None  # license id of the key it replaced, if any
    unchanged: bool = False  # the same key was already active


class ControllerService:
    def __init__(self, store: s.Store, *, factors: Mapping[str, str], clock: Clock = system_clock):
        self.store = store
        self.raw_factors = dict(factors)
        self.clock = clock

    # -- identity -----------------------------------------------------------

    def init(self, keyring: Keyring, *, product: str, version: str = __version__, cluster_name: str = "") -> str:
        """Make the installation identity and trust ``keyring``; refuse if done already."""
        self.store.create_schema()
        with self.store.locked() as c:
            if c.execute(select(s.installation.c.id)).first() is not None:
                raise UsageError(
                    f"this controller is already initialised as installation {self._row(c).installation_id}: "
                    "keep it (its licenses are bound to it); use 'licensor controller trust' to change trusted keys"
                )
            key = InstallationKey.generate()
            c.execute(
                s.installation.insert().values(
                    id=1,
                    installation_id=key.id,
                    seed=key.seed,
                    product=product,
                    version=version,
                    cluster_name=cluster_name,
                    created_at=self.clock(),
                )
            )
            self._replace_keys(c, keyring)
        return key.id

    def trust(self, keyring: Keyring) -> list[str]:
        """Replace the trusted vendor key set (rotation); returns the key ids now trusted."""
        with self.store.tx() as c:
            self._row(c)
            self._replace_keys(c, keyring)
        return list(keyring)

    def _replace_keys(self, c: Connection, keyring: Keyring) -> None:
        c.execute(s.trusted_keys.delete())
        now = self.clock()
        for pk in keyring.public_keys():
            c.execute(s.trusted_keys.insert().values(kid=key_id(pk), public_key=pk, added_at=now))

    def _row(self, c: Connection) -> Any:
        try:
            row = c.execute(select(s.installation)).first()
        except Exception as exc:  # no schema yet: not initialised
            if "no such table" in str(exc) or "does not exist" in str(exc):
                row = None
            else:
                raise
        if row is None:
            raise UsageError("this controller is not initialised: run 'licensor controller init --trust VENDOR_PUBLIC_KEY_FILE'")
        return row

    def identity(self, c: Connection) -> InstallationKey:
        return InstallationKey(self._row(c).seed)

    def keyring(self, c: Connection) -> Keyring:
        return Keyring(r.public_key for r in c.execute(select(s.trusted_keys.c.public_key)))

    def _get(self, c: Connection, key: str) -> str | None:
        row = c.execute(select(s.settings_kv.c.value).where(s.settings_kv.c.key == key)).first()
        return None if row is None else str(row.value)

    def _put(self, c: Connection, key: str, value: str) -> None:
        if c.execute(update(s.settings_kv).where(s.settings_kv.c.key == key).values(value=value)).rowcount == 0:
            c.execute(s.settings_kv.insert().values(key=key, value=value))

    def installation(self, c: Connection, mark: Mark | None = None) -> Installation:
        """The policy's view of this installation, with this host's factors."""
        key = self.identity(c)
        row = self._row(c)
        mark = self.mark(c) if mark is None else mark
        return Installation(
            id=key.id,
            product=row.product,
            factors=hash_factors(key.public_key, self.raw_factors),
            highest_serial=int(self._get(c, "highest_serial") or 0),
            trusted_time=mark.value,
        )

    # -- trusted time (the rules are in licensor.trusted_time; here they are loaded and stored) --

    def mark(self, c: Connection) -> Mark:
        proven, observed = self._get(c, PROVEN_KEY), self._get(c, OBSERVED_KEY) or self._get(c, LEGACY_KEY)
        return Mark(parse_time(proven) if proven else None, parse_time(observed) if observed else None)

    def _store_mark(self, c: Connection, old: Mark, new: Mark) -> None:
        if new.proven != old.proven and new.proven is not None:
            self._put(c, PROVEN_KEY, fmt_time(new.proven))
        if new.observed != old.observed:
            if new.observed is None:
                c.execute(s.settings_kv.delete().where(s.settings_kv.c.key == OBSERVED_KEY))
            else:
                self._put(c, OBSERVED_KEY, fmt_time(new.observed))
            c.execute(s.settings_kv.delete().where(s.settings_kv.c.key == LEGACY_KEY))

    def observe_time(self, c: Connection, watch: Watch | None, now: datetime, mono: float) -> Watch:
        """Feed one reading of the system and monotonic clocks to the mark (inside the caller's locked transaction)."""
        old = self.mark(c)
        new, watch = trusted_time.observe(old, watch, now, mono)
        self._store_mark(c, old, new)
        return watch

    def acknowledge_clock(self, actor: str) -> Mark:
        """An admin vouches for the clock: observed readings ahead of it are dropped (audited); refused when nothing can be."""
        from . import audit

        now = self.clock()
        try:
            with self.store.locked() as c:
                self._row(c)
                old = self.mark(c)
                new = trusted_time.acknowledge(old, now)
                self._store_mark(c, old, new)
                assert old.value is not None
                audit.append(
                    c,
                    now,
                    [
                        audit.Entry(
                            "clock_acknowledged",
                            actor,
                            "clock_rollback",
                            f"the clock ({fmt_time(now)}) was {int((old.value - now).total_seconds() // 3600)} h behind the trusted time "
                            f"({fmt_time(old.value)}); the admin vouched for the clock",
                        )
                    ],
                )
            return new
        except LicenseRefused as e:
            with self.store.locked() as c:
                audit.append(c, now, [audit.Entry("clock_ack_refused", actor, e.code, e.hint)])
            raise

    # -- request ------------------------------------------------------------

    def request(self, contact: Contact, *, nodes: int, months: int, remote_clusters: int = 0) -> tuple[str, str]:
        """``(code, file text)`` of a request code for this installation."""
        if nodes < 1 or months < 1 or remote_clusters < 0:
            raise UsageError("ask for at least 1 node and 1 month; remote clusters cannot be negative")
        for what, value in (("name", contact.name), ("e-mail", contact.email), ("company", contact.company)):
            if not value.strip():
                raise UsageError(f"the contact {what} is empty: the vendor needs it to send the key back")
        with self.store.tx() as c:
            key, row = self.identity(c), self._row(c)
            code = make_request(
                key,
                product=row.product,
                version=row.version,
                contact=contact,
                nodes=nodes,
                months=months,
                remote_clusters=remote_clusters,
                factors=hash_factors(key.public_key, self.raw_factors),
                cluster_name=row.cluster_name,
                now=self.clock(),
            )
        return code, request_file(code, decode_request(code))

    # -- license ------------------------------------------------------------

    def _active(self, c: Connection, keyring: Keyring) -> License | None:
        row = c.execute(select(s.licenses.c.token).where(s.licenses.c.active.is_(True))).first()
        return None if row is None else decode_license(row.token, keyring)

    def status(self) -> Verdict:
        """The verdict of the active license (``missing`` if none)."""
        now = self.clock()
        with self.store.tx() as c:
            return self.verdict_in(c, now)

    def verdict_in(self, c: Connection, now: datetime) -> Verdict:
        """The verdict of the license in force, read in the caller's transaction."""
        self._row(c)  # refuses (not initialised) before anything reads the settings
        mark = self.mark(c)
        inst = self.installation(c, mark)
        try:
            lic = self._active(c, self.keyring(c))
        except LicensorError as e:  # e.g. its vendor key was removed from the trusted set
            return Verdict(e.code, e.hint, details=e.details)
        return trusted_time.explain(evaluate(lic, inst, now), mark, now)

    def active_license_id(self, c: Connection) -> str | None:
        """The id of the license in force (one indexed read), to tell whether a cached verdict is still about it."""
        row = c.execute(_ACTIVE_ID).first()
        return None if row is None else str(row.license_id)

    def activate(self, text: str | bytes) -> Activation:
        """Verify and apply a key atomically; raise LicenseRefused (or Malformed…) if refused.

        Nothing else changes: configuration, nodes and data stay, except that a
        key with lower limits evicts the most recently joined seats over them
        (audited).  The old key stays in the history.  Refusals are audited too.
        """
        try:
            return self._activate(text)
        except LicensorError as e:
            from . import audit

            with self.store.locked() as c:
                audit.append(c, self.clock(), [audit.Entry("activation_refused", "", e.code, e.hint)])
            raise

    def _activate(self, text: str | bytes) -> Activation:
        from . import audit, seating

        now = self.clock()
        with self.store.locked() as c:
            keyring = self.keyring(c)
            lic = decode_license(text, keyring)
            mark = self.mark(c)
            inst = self.installation(c, mark)
            current = c.execute(select(s.licenses.c.license_id).where(s.licenses.c.active.is_(True))).first()
            if current is not None and current.license_id == lic.license_id:
                verdict = trusted_time.explain(evaluate(lic, inst, now), mark, now)
                if not verdict.valid:
                    raise LicenseRefused(verdict.hint, code=verdict.code, details=dict(verdict.details))
                return Activation(verdict, None, unchanged=True)
            # A different key with the serial already in force is a replay of an older issue.
            if lic.serial <= inst.highest_serial:
                inst = Installation(inst.id, inst.product, inst.factors, max(inst.highest_serial, lic.serial + 1), inst.trusted_time)
            verdict = evaluate(lic, inst, now)
            reset = trusted_time.newer_key(mark, now, lic.issued_at) if verdict.code == "clock_rollback" else None
            if reset is not None:
                verdict = evaluate(lic, replace(inst, trusted_time=reset.value), now)
            verdict = trusted_time.explain(verdict, mark, now)
            if not verdict.valid:
                if verdict.code == "superseded":
                    verdict = Verdict(
                        "superseded",
                        f"this key (serial {lic.serial}) is older than or as old as the key in force here "
                        f"(serial {int(self._get(c, 'highest_serial') or 0)}): activate the newest key your vendor sent",
                        lic,
                    )
                raise LicenseRefused(verdict.hint, code=verdict.code, details=dict(verdict.details))
            c.execute(update(s.licenses).where(s.licenses.c.active.is_(True)).values(active=False))
            c.execute(
                s.licenses.insert().values(license_id=lic.license_id, serial=lic.serial, token=lic.token, activated_at=now, active=True)
            )
            self._put(c, "highest_serial", str(lic.serial))
            # The key's signed issue time is trusted; this reading of the clock is not.
            self._store_mark(c, mark, trusted_time.signed(reset or mark, lic.issued_at))
            if reset is not None and mark.value is not None:
                audit.append(
                    c,
                    now,
                    [
                        audit.Entry(
                            "clock_reset",
                            lic.license_id,
                            "clock_rollback",
                            f"the observed trusted time ({fmt_time(mark.value)}) was dropped: the newer key, signed "
                            f"{fmt_time(lic.issued_at)}, agrees with the clock ({fmt_time(now)})",
                        )
                    ],
                )
            audit.append(
                c,
                now,
                [
                    audit.Entry(
                        "activated",
                        lic.license_id,
                        verdict.code,
                        f"serial {lic.serial}, {lic.nodes} nodes, {lic.remote_clusters} remote clusters"
                        + (f", replaces {current.license_id}" if current else ""),
                    )
                ],
            )
            why = f"license {lic.license_id} (serial {lic.serial}) activated"
            seating.enforce_limit(c, "node", lic.nodes, now, why)
            seating.enforce_limit(c, "cluster", lic.remote_clusters, now, why)
        return Activation(verdict, current.license_id if current else None)

    def history(self) -> list[dict[str, Any]]:
        """Every key activated here, newest first."""
        with self.store.tx() as c:
            keyring = self.keyring(c)
            rows = c.execute(select(s.licenses).order_by(s.licenses.c.id.desc())).all()
        out = []
        for r in rows:
            item: dict[str, Any] = {
                "license_id": r.license_id,
                "serial": r.serial,
                "activated_at": fmt_time(r.activated_at),
                "active": bool(r.active),
            }
            try:
                item.update(decode_license(r.token, keyring).summary())
            except LicensorError as e:  # a key whose vendor key is no longer trusted
                item["unreadable"] = str(e)
            out.append(item)
        return out

    def installation_id(self) -> str:
        with self.store.tx() as c:
            return str(self._row(c).installation_id)


STATUS_FIELDS = (
    "customer",
    "product",
    "type",
    "expires",
    "maintenance_until",
    "nodes",
    "remote_clusters",
    "features",
    "license_id",
    "serial",
)


def status_document(verdict: Verdict, installation_id: str) -> dict[str, Any]:
    """The status as ``status --json`` and the API show it: state, code, hint and the license's terms."""
    out = verdict.as_dict()
    summary = verdict.license.summary() if verdict.license else {}
    out.update({k: summary.get(k) for k in STATUS_FIELDS})
    out["installation_id"] = installation_id
    return out
