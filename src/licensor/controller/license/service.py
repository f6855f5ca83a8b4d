"""The license service: the installation identity, request codes, activation, status, history, the clock.

The HTTP API, the console and the CLI only parse and render; the verdicts are ``licensor.policy``'s.  Time comes
from an injected clock so tests (and the policy) never read the wall clock themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ... import __version__, trusted_time
from ...clock import Clock, system_clock
from ...errors import LicenseRefused, LicensorError, UsageError
from ...identity import InstallationKey, hash_factors
from ...license import License, decode_license, fmt_time
from ...policy import Installation, Verdict, evaluate
from ...request import Contact, decode_request, make_request, request_file
from ...signing import Keyring, key_id
from ...trusted_time import Mark, Watch
from .. import audit
from .. import store as s
from . import activation, marks
from .activation import Activation
from .read import STATUS_FIELDS, history_item, status_document

__all__ = ["STATUS_FIELDS", "ControllerService", "status_document"]

_ACTIVE_ID = select(s.licenses.c.license_id).where(s.licenses.c.active.is_(True))


class ControllerService:
    """One controller installation and its license, kept in ``store``; ``factors`` are this host's fingerprint factors."""

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
                    f"This controller is already initialised as installation {self._row(c).installation_id}: "
                    "keep it (its licenses are bound to it); use 'licensor controller trust' to change trusted keys"
                )
            key = InstallationKey.generate()
            row = {"id": 1, "installation_id": key.id, "seed": key.seed, "product": product, "version": version}
            c.execute(s.installation.insert().values(**row, cluster_name=cluster_name, created_at=self.clock()))
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
            raise UsageError("This controller is not initialised: run 'licensor controller init --trust VENDOR_PUBLIC_KEY_FILE'")
        return row

    def identity(self, c: Connection) -> InstallationKey:
        return InstallationKey(self._row(c).seed)

    def keyring(self, c: Connection) -> Keyring:
        return Keyring(r.public_key for r in c.execute(select(s.trusted_keys.c.public_key)))

    def installation(self, c: Connection, mark: Mark | None = None) -> Installation:
        """The policy's view of this installation, with this host's factors."""
        key = self.identity(c)
        row = self._row(c)
        mark = self.mark(c) if mark is None else mark
        return Installation(
            id=key.id,
            product=row.product,
            factors=hash_factors(key.public_key, self.raw_factors),
            highest_serial=int(s.get_setting(c, "highest_serial") or 0),
            trusted_time=mark.value,
        )

    def installation_id(self) -> str:
        with self.store.tx() as c:
            return str(self._row(c).installation_id)

    # -- trusted time -------------------------------------------------------

    def mark(self, c: Connection) -> Mark:
        return marks.load(c)

    def observe_time(self, c: Connection, watch: Watch | None, now: datetime, mono: float) -> Watch:
        """Feed one reading of the system and monotonic clocks to the mark (inside the caller's locked transaction)."""
        return marks.observe(c, watch, now, mono)

    def acknowledge_clock(self, actor: str) -> Mark:
        """An admin vouches for the clock: observed readings ahead of it are dropped (audited); refused when nothing can be."""
        now = self.clock()
        try:
            with self.store.locked() as c:
                self._row(c)
                old = marks.load(c)
                new = trusted_time.acknowledge(old, now)
                marks.store(c, old, new)
                assert old.value is not None
                behind = int((old.value - now).total_seconds() // 3600)
                why = f"the clock ({fmt_time(now)}) was {behind} h behind the trusted time ({fmt_time(old.value)}); "
                why += "the admin vouched for the clock"
                audit.append(c, now, [audit.Entry("clock_acknowledged", actor, "clock_rollback", why)])
            return new
        except LicenseRefused as e:
            with self.store.locked() as c:
                audit.append(c, now, [audit.Entry("clock_ack_refused", actor, e.code, e.hint)])
            raise

    # -- request ------------------------------------------------------------

    def request(self, contact: Contact, *, nodes: int, months: int, remote_clusters: int = 0) -> tuple[str, str]:
        """``(code, file text)`` of a request code for this installation."""
        if nodes < 1 or months < 1 or remote_clusters < 0:
            raise UsageError("Ask for at least 1 node and 1 month; remote clusters cannot be negative")
        for what, value in (("name", contact.name), ("e-mail", contact.email), ("company", contact.company)):
            if not value.strip():
                raise UsageError(f"The contact {what} is empty: the vendor needs it to send the key back")
        with self.store.tx() as c:
            key, row = self.identity(c), self._row(c)
            factors = hash_factors(key.public_key, self.raw_factors)
            asked = {"nodes": nodes, "months": months, "remote_clusters": remote_clusters}
            code = make_request(
                key,
                product=row.product,
                version=row.version,
                cluster_name=row.cluster_name,
                contact=contact,
                **asked,
                factors=factors,
                now=self.clock(),
            )
        return code, request_file(code, decode_request(code))

    # -- license ------------------------------------------------------------

    def active(self, c: Connection, keyring: Keyring) -> License | None:
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
            lic = self.active(c, self.keyring(c))
        except LicensorError as e:  # e.g. its vendor key was removed from the trusted set
            return Verdict(e.code, e.hint, details=e.details)
        return trusted_time.explain(evaluate(lic, inst, now), mark, now)

    def active_license_id(self, c: Connection) -> str | None:
        """The id of the license in force (one indexed read), to tell whether a cached verdict is still about it."""
        row = c.execute(_ACTIVE_ID).first()
        return None if row is None else str(row.license_id)

    def activate(self, text: str | bytes, *, confirm: bool = True) -> Activation:
        """Verify and apply a key atomically; raise LicenseRefused (or Malformed…) if refused (see ``activation``).

        ``confirm=False``: a key that takes something away raises ConfirmationRequired and changes nothing.
        """
        return activation.activate(self, text, confirm=confirm)

    def preview(self, text: str | bytes) -> dict[str, Any]:
        """The dry run of ``activate``: the key in force against ``text``, term by term; nothing is stored."""
        return activation.preview(self, text)

    def history(self) -> list[dict[str, Any]]:
        """Every key activated here, newest first."""
        with self.store.tx() as c:
            keyring = self.keyring(c)
            rows = c.execute(select(s.licenses).order_by(s.licenses.c.id.desc())).all()
        return [history_item(r, keyring) for r in rows]
