"""Activating a key: ``licensor.policy.evaluate_activation`` decides; here the key is loaded, judged and stored.

Nothing else changes: configuration, nodes and data stay, except that a key with lower limits evicts the most
recently joined seats over them (audited).  The old key stays in the history.  Refusals are audited too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlalchemy.engine import Connection

from ... import trusted_time
from ...clock import Clock
from ...errors import LicenseRefused, LicensorError
from ...license import License, decode_license, fmt_time
from ...policy import ActivationCheck, Installation, Verdict, evaluate_activation
from ...signing import Keyring
from ...trusted_time import Mark
from .. import audit
from .. import store as s
from ..seats import store as seating
from . import marks


class ControllerService(Protocol):
    """What activation reads of the installation (``licensor.controller.license.service.ControllerService``)."""

    store: s.Store
    clock: Clock

    def keyring(self, c: Connection) -> Keyring: ...
    def installation(self, c: Connection, mark: Mark | None = None) -> Installation: ...
    def active(self, c: Connection, keyring: Keyring) -> License | None: ...
    def active_license_id(self, c: Connection) -> str | None: ...


@dataclass(frozen=True)
class Activation:
    """What an activation did."""

    verdict: Verdict
    replaced: str | None  # license id of the key it replaced, if any
    unchanged: bool = False  # the same key was already active
    check: ActivationCheck | None = None  # the comparison with the key it replaced


def activate(svc: ControllerService, text: str | bytes) -> Activation:
    """Verify and apply a key atomically; raise LicenseRefused (or Malformed…) if refused; refusals are audited."""
    try:
        return _activate(svc, text)
    except LicensorError as e:
        with svc.store.locked() as c:
            audit.append(c, svc.clock(), [audit.Entry("activation_refused", "", e.code, e.hint)])
        raise


def _activate(svc: ControllerService, text: str | bytes) -> Activation:
    now = svc.clock()
    with svc.store.locked() as c:
        keyring = svc.keyring(c)
        lic = decode_license(text, keyring)
        mark = marks.load(c)
        inst = svc.installation(c, mark)
        current_id = svc.active_license_id(c)
        try:
            current = svc.active(c, keyring)
        except LicensorError:  # its vendor key is no longer trusted: nothing to compare with
            current = None
        reset = trusted_time.newer_key(mark, now, lic.issued_at)
        check = evaluate_activation(current, lic, now, installation=inst, recovered_time=reset.value if reset else None)
        verdict = trusted_time.explain(check.verdict, mark, now)
        if not verdict.valid:
            raise LicenseRefused(verdict.hint, code=verdict.code, details=dict(verdict.details))
        if check.unchanged:
            return Activation(verdict, None, unchanged=True, check=check)
        _store(c, lic, mark, reset if check.clock_reset else None, current_id, now)
    return Activation(verdict, current_id, check=check)


def _store(c: Connection, lic: License, mark: Mark, reset: Mark | None, replaces: str | None, now: datetime) -> None:
    """Make ``lic`` the key in force: history, highest serial, the trusted-time mark, the audit, the seat limits."""
    c.execute(update(s.licenses).where(s.licenses.c.active.is_(True)).values(active=False))
    c.execute(s.licenses.insert().values(license_id=lic.license_id, serial=lic.serial, token=lic.token, activated_at=now, active=True))
    s.put_setting(c, "highest_serial", str(lic.serial))
    # The key's signed issue time is trusted; this reading of the clock is not.
    marks.store(c, mark, trusted_time.signed(reset or mark, lic.issued_at))
    entries = []
    if reset is not None and mark.value is not None:
        why = (
            f"the observed trusted time ({fmt_time(mark.value)}) was dropped: the newer key, signed "
            f"{fmt_time(lic.issued_at)}, agrees with the clock ({fmt_time(now)})"
        )
        entries.append(audit.Entry("clock_reset", lic.license_id, "clock_rollback", why))
    terms = f"serial {lic.serial}, {lic.nodes} nodes, {lic.remote_clusters} remote clusters"
    entries.append(audit.Entry("activated", lic.license_id, "valid", terms + (f", replaces {replaces}" if replaces else "")))
    audit.append(c, now, entries)
    why = f"license {lic.license_id} (serial {lic.serial}) activated"
    seating.enforce_limit(c, "node", lic.nodes, now, why)
    seating.enforce_limit(c, "cluster", lic.remote_clusters, now, why)
