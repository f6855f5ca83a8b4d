"""Activating a key: ``licensor.policy.evaluate_activation`` decides; here the key is loaded, judged and stored.

Nothing else changes: configuration, nodes and data stay, except that a key with lower limits evicts the most
recently joined seats over them (audited).  The old key stays in the history.  Refusals are audited too.

A key that takes something away (``ActivationCheck.needs_confirmation``: a lower limit, a dropped feature, a shorter
term, an earlier maintenance end) is applied only with ``confirm=True``; without it, ``ConfirmationRequired`` is
raised with the comparison in its details and nothing changes.  ``preview`` is the dry run: it judges, stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.engine import Connection

from ... import trusted_time
from ...clock import Clock
from ...errors import ConfirmationRequired, LicenseRefused, LicensorError
from ...license import License, decode_license, fmt_time
from ...policy import ActivationCheck, Installation, Verdict, evaluate_activation
from ...signing import Keyring
from ...trusted_time import Mark
from ...words import plural
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


def activate(svc: ControllerService, text: str | bytes, *, confirm: bool = True) -> Activation:
    """Verify and apply a key atomically; raise LicenseRefused (or Malformed…) if refused; refusals are audited.

    ``confirm=False``: a key that takes something away is refused with ``ConfirmationRequired``, nothing applied.
    """
    try:
        return _activate(svc, text, confirm)
    except LicensorError as e:
        with svc.store.locked() as c:
            audit.append(c, svc.clock(), [audit.Entry("activation_refused", "", e.code, e.hint)])
        raise


@dataclass(frozen=True)
class Judged:
    """A candidate key judged against the key in force, inside one transaction."""

    license: License
    current: License | None
    current_id: str | None
    check: ActivationCheck
    verdict: Verdict
    mark: Mark
    reset: Mark | None


def _judge(svc: ControllerService, c: Connection, text: str | bytes, now: datetime) -> Judged:
    keyring = svc.keyring(c)
    lic = decode_license(text, keyring)
    mark = marks.load(c)
    inst = svc.installation(c, mark)
    try:
        current = svc.active(c, keyring)
    except LicensorError:  # its vendor key is no longer trusted: nothing to compare with
        current = None
    reset = trusted_time.newer_key(mark, now, lic.issued_at)
    check = evaluate_activation(current, lic, now, installation=inst, recovered_time=reset.value if reset else None)
    verdict = trusted_time.explain(check.verdict, mark, now)
    return Judged(lic, current, svc.active_license_id(c), check, verdict, mark, reset if check.clock_reset else None)


def preview(svc: ControllerService, text: str | bytes) -> dict[str, Any]:
    """The dry run: the comparison document of ``text`` against the key in force; refusals raise as on activation."""
    with svc.store.tx() as c:
        judged = _judge(svc, c, text, svc.clock())
    _refuse_if_invalid(judged.verdict)
    return comparison(judged)


def _refuse_if_invalid(verdict: Verdict) -> None:
    if not verdict.valid:
        raise LicenseRefused(verdict.hint, code=verdict.code, details=dict(verdict.details))


def _activate(svc: ControllerService, text: str | bytes, confirm: bool) -> Activation:
    now = svc.clock()
    with svc.store.locked() as c:
        judged = _judge(svc, c, text, now)
        check, lic = judged.check, judged.license
        _refuse_if_invalid(judged.verdict)
        if check.unchanged:
            return Activation(judged.verdict, None, unchanged=True, check=check)
        if check.needs_confirmation and not confirm:
            raise ConfirmationRequired(
                f"This key takes something away ({', '.join(shrinking(check))}): compare it with the key in force, "
                "then confirm to activate it anyway",
                details={"comparison": comparison(judged)},
            )
        _store(c, lic, judged.mark, judged.reset, judged.current_id, now)
    return Activation(judged.verdict, judged.current_id, check=check)


#: The terms compared, in the order shown, with their labels (sentence case).
TERMS = (
    ("nodes", "Nodes"),
    ("remote_clusters", "Remote clusters"),
    ("features", "Features"),
    ("type", "Type"),
    ("expires", "Expires"),
    ("maintenance_until", "Maintenance until"),
)
_LABELS = dict(TERMS)


def shrinking(check: ActivationCheck) -> list[str]:
    """The labels, in lower case, of the terms that make ``check`` need confirmation."""
    return [_LABELS[c.term].lower() for c in check.losses]


def _shown(term: str, value: Any) -> Any:
    if term in ("expires", "maintenance_until"):
        return fmt_time(value) if value is not None else None
    return sorted(value) if term == "features" else value


def comparison(judged: Judged) -> dict[str, Any]:
    """Current against new for every term, with ``grows``/``shrinks``/``changes``/``same``, and the decision."""
    check, new, cur = judged.check, judged.license, judged.current
    changed = {c.term: c.direction for c in check.changes}
    rows = [
        {
            "term": term,
            "label": label,
            "current": None if cur is None else _shown(term, getattr(cur, term)),
            "new": _shown(term, getattr(new, term)),
            "change": "new" if cur is None else changed.get(term, "same"),
        }
        for term, label in TERMS
    ]
    return {
        "license_id": new.license_id,
        "serial": new.serial,
        "customer": new.customer,
        "replaces": judged.current_id if not check.unchanged else None,
        "unchanged": check.unchanged,
        "needs_confirmation": check.needs_confirmation,
        "shrinks": shrinking(check),
        "hint": judged.verdict.hint,
        "terms": rows,
    }


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
    terms = f"serial {lic.serial}, {plural(lic.nodes, 'node')}, {plural(lic.remote_clusters, 'remote cluster')}"
    entries.append(audit.Entry("activated", lic.license_id, "valid", terms + (f", replaces {replaces}" if replaces else "")))
    audit.append(c, now, entries)
    why = f"license {lic.license_id} (serial {lic.serial}) activated"
    seating.enforce_limit(c, "node", lic.nodes, now, why)
    seating.enforce_limit(c, "cluster", lic.remote_clusters, now, why)
