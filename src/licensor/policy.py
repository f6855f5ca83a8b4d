"""Policy: does this license apply to this installation at this time?

``evaluate(license, installation, now)`` is pure: the caller passes the clock
and what the installation remembers (highest serial activated, trusted time).
It returns a ``Verdict`` with a stable ``code`` and a ``hint`` for people;
it never raises for a license problem.

The verdict states are written once, in ``STATES`` (in the order they are
checked); the console's words, the metrics and the seat rules derive from it.
``evaluate_activation(current, candidate, now, installation=...)`` decides
whether a pasted key may replace the one in force (supersession) and what
changes with it (``differences.changes``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .differences import Change, losses
from .differences import changes as compare
from .errors import LicensorError, UsageError
from .license import License, decode_license
from .signing import Keyring
from .words import plural

__all__ = [
    "CLOCK_TOLERANCE",
    "STATES",
    "WARN_DAYS",
    "ActivationCheck",
    "Change",
    "Installation",
    "State",
    "Verdict",
    "check",
    "evaluate",
    "evaluate_activation",
    "feature_enabled",
    "update_allowed",
]

#: A clock behind the trusted high-water mark by more than this is a rollback.
CLOCK_TOLERANCE = timedelta(hours=24)
#: Days before expiry or maintenance end at which status warns.
WARN_DAYS = (30, 14, 7, 1)


@dataclass(frozen=True)
class State:
    """One verdict state: its stable ``code``, the console's word for it, and what it allows."""

    code: str
    words: str | None  # the console's badge; None: a problem with the key itself, shown by its code
    keeps_seats: bool = False  # connected nodes keep their seats
    admits: bool = False  # new nodes may join
    metric: bool = True  # always exported by /metrics (0 or 1)


#: Every verdict state, in the order ``check`` and ``evaluate`` test them.  The one table.
STATES: tuple[State, ...] = (
    State("missing", "No license"),
    State("malformed", None, metric=False),
    State("bad_signature", None, metric=False),
    State("unknown_key", None, metric=False),
    State("wrong_product", "Wrong product"),
    State("wrong_installation", "Wrong installation"),
    State("superseded", "Superseded"),
    State("clock_rollback", "Clock set back"),
    State("not_yet_valid", "Not yet valid"),
    State("expired", "Expired"),
    State("grace", "Expired: grace period", keeps_seats=True),
    State("valid", "Valid", keeps_seats=True, admits=True),
)
_KEEPS_SEATS = frozenset(s.code for s in STATES if s.keeps_seats)
_ADMITS = frozenset(s.code for s in STATES if s.admits)
_CODES = [s.code for s in STATES]
#: States decided before supersession: a key that fails them is refused for that reason first.
_BEFORE_SUPERSEDED = frozenset(_CODES[: _CODES.index("superseded")])


@dataclass(frozen=True)
class Installation:
    """What the policy needs to know about the installation evaluating a license."""

    id: str
    product: str
    factors: Mapping[str, str] = field(default_factory=dict)
    #: Highest license serial ever activated here (supersession).
    highest_serial: int = 0
    #: High-water mark of trusted time (None: nothing trusted yet).
    trusted_time: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    """The outcome of evaluating a license.  ``code`` is stable; ``hint`` is for people."""

    code: str
    hint: str
    license: License | None = None
    warnings: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """The license is in force: nodes may join."""
        return self.code in _ADMITS

    @property
    def keeps_seats(self) -> bool:
        """Connected nodes keep their seats (valid, or within the grace period)."""
        return self.code in _KEEPS_SEATS

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.code, "code": self.code, "hint": self.hint, "warnings": list(self.warnings)}
        if self.details:
            out["details"] = dict(self.details)
        return out


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _plus_days(t: datetime, days: int) -> datetime:
    # A genuine key may expire near the year 9999; its grace then runs to the end of time rather than overflow.
    try:
        return t + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def evaluate(lic: License | None, inst: Installation, now: datetime) -> Verdict:
    """The verdict for a decoded (already signature-checked) license, or for none.

    ``now`` must be time-zone aware (a UsageError otherwise: it is the caller's mistake, not bad input).
    """
    if getattr(now, "tzinfo", None) is None:
        raise UsageError("The time passed as now must be time-zone aware, e.g. datetime.now(UTC)")
    if lic is None:
        return Verdict(
            "missing",
            f"No license is active on installation {inst.id}: make a request code, send it to your vendor, "
            "then activate the key you get back",
        )
    foreign = _foreign(lic, inst)
    if foreign is not None:
        return foreign
    if lic.serial < inst.highest_serial:
        return Verdict(
            "superseded",
            f"This key (serial {lic.serial}) was replaced by a newer one (serial {inst.highest_serial}) on this installation: "
            "activate the newest key your vendor sent",
            lic,
        )
    if inst.trusted_time is not None and now < inst.trusted_time - CLOCK_TOLERANCE:
        return Verdict(
            "clock_rollback",
            f"The system clock ({_day(now)}) is behind the last trusted time ({_day(inst.trusted_time)}): "
            "set the clock right (use NTP); the license stays suspended until then",
            lic,
        )
    # A start that is only the issue time is the vendor's clock: a customer clock behind it within the tolerance is skew.
    # A start date the vendor chose is kept to the minute.
    if now < lic.not_before and now < lic.not_before - (CLOCK_TOLERANCE if lic.not_before <= lic.issued_at else timedelta(0)):
        return Verdict(
            "not_yet_valid",
            f"This key starts on {_day(lic.not_before)}; it is {_day(now)}: check the system clock, or wait",
            lic,
        )
    warnings = _warnings(lic, now)
    if lic.expires is not None and now >= lic.expires:
        grace_end = _plus_days(lic.expires, lic.grace_days)
        if now < grace_end:
            return Verdict(
                "grace",
                f"This license expired on {_day(lic.expires)}; connected nodes keep their seats until {_day(grace_end)} "
                "but no new node may join: activate a renewed key",
                lic,
                warnings,
            )
        return Verdict(
            "expired",
            f"This license expired on {_day(lic.expires)}: ask your vendor to renew it, then activate the new key",
            lic,
        )
    return _valid(f"Licensed to {lic.customer} for {plural(lic.nodes, 'node')}", lic, warnings)


def _foreign(lic: License, inst: Installation) -> Verdict | None:
    """``wrong_product`` or ``wrong_installation`` when the key is not for this installation, else None."""
    if lic.product != inst.product:
        return Verdict(
            "wrong_product",
            f"This key is for product '{lic.product}', but this is '{inst.product}': ask your vendor for a key for '{inst.product}'",
            lic,
        )
    if lic.installation_id != inst.id:
        return Verdict(
            "wrong_installation",
            f"This key was issued for installation {lic.installation_id}; this is installation {inst.id}: "
            "send this installation's request code to your vendor and ask for a key for it",
            lic,
            details={"issued_for": lic.installation_id, "this_installation": inst.id},
        )
    if (lic.binding.factors != inst.factors or len(lic.binding.factors) < lic.binding.k) and not lic.binding.satisfied_by(inst.factors):
        differ = lic.binding.mismatches(inst.factors)  # (equal factors, the common case, needed no walk)
        return Verdict(
            "wrong_installation",
            f"This key is bound to installation {inst.id} on other hardware: the {', '.join(differ)} "
            f"{'factor differs' if len(differ) == 1 else 'factors differ'} from when the code was made; "
            "if the installation moved, send a new request code to your vendor and ask for a rehost",
            lic,
            details={"factors_changed": differ},
        )
    return None


def _valid(hint: str, lic: License, warnings: tuple[str, ...]) -> Verdict:
    # The common verdict, on every check: set the fields without the frozen dataclass's generated
    # __init__ (one object.__setattr__ per field), as License._from_fields does; the value is the same.
    v = object.__new__(Verdict)
    object.__setattr__(v, "__dict__", {"code": "valid", "hint": hint, "license": lic, "warnings": warnings, "details": {}})
    return v


_WARN_FROM = timedelta(days=max(WARN_DAYS))


def _warnings(lic: License, now: datetime) -> tuple[str, ...]:
    # Differences, not now + 30 days: that sum overflows for a clock near the year 9999.
    if lic.maintenance_until - now > _WARN_FROM and (lic.expires is None or lic.expires - now > _WARN_FROM):
        return ()  # the common case, decided without building any text
    out = []
    for what, end in (("License expires", lic.expires), ("Maintenance ends", lic.maintenance_until)):
        if end is None or end <= now:
            continue
        left = end - now
        for days in WARN_DAYS:
            if left <= timedelta(days=days):
                out.append(f"{what} in {plural(max(1, left.days + (1 if left.seconds else 0)), 'day')}, on {_day(end)}: renew in time")
                break
    if lic.maintenance_until <= now:
        out.append(f"Maintenance ended on {_day(lic.maintenance_until)}: updates released after it will be refused")
    return tuple(out)


#: Verified texts a key ring keeps for ``check``; the oldest goes first when it is full.
VERIFIED_MAX = 256


def check(text: str | bytes | None, keyring: Keyring, inst: Installation, now: datetime) -> Verdict:
    """Decode, verify and evaluate a pasted key in one call; never raises for bad input.

    Whatever ``text`` is (a key, a file, garbage, a crafted token), the answer is a
    Verdict with a code and a hint; only a naive ``now`` (a programming mistake) raises UsageError.

    A product may call this on every request: the key ring remembers the last
    ``VERIFIED_MAX`` texts whose signature and claims it has verified, with the
    license they decode to, so checking the same text again only evaluates the
    policy (``now``, the installation).  Only successes are kept, by the exact
    text: a changed character is a different text and is verified in full.  A
    changed key ring (``Keyring.add``) starts with nothing remembered.
    """
    cache = keyring.verified
    lic = cache.get(text) if type(text) is str else None
    if lic is not None:
        return evaluate(lic, inst, now)  # type: ignore[arg-type]  # only Licenses are stored below
    if text is None or (isinstance(text, (str, bytes)) and not text.strip()):
        return evaluate(None, inst, now)
    try:
        lic = decode_license(text, keyring)
    except LicensorError as e:
        return Verdict(e.code, e.hint, details=e.details)
    if type(text) is str:
        if len(cache) >= VERIFIED_MAX:
            try:
                del cache[next(iter(cache))]
            except (KeyError, StopIteration, RuntimeError):
                pass  # another thread evicted it first
        cache[text] = lic
    return evaluate(lic, inst, now)


def update_allowed(lic: License, release_date: datetime) -> Verdict:
    """May a release published on ``release_date`` be installed under ``lic``?"""
    if release_date <= lic.maintenance_until:
        return Verdict("valid", f"This release is covered by maintenance until {_day(lic.maintenance_until)}", lic)
    return Verdict(
        "maintenance_expired",
        f"This release came out on {_day(release_date)}, after maintenance ended on {_day(lic.maintenance_until)}: "
        "keep running the current version, or renew maintenance with your vendor to update",
        lic,
    )


def feature_enabled(verdict: Verdict, feature: str) -> bool:
    """A feature is on only under a license in force that names it."""
    return verdict.keeps_seats and verdict.license is not None and feature in verdict.license.features


@dataclass(frozen=True)
class ActivationCheck:
    """Whether a candidate key may be activated, and what it would change.

    ``verdict`` is the candidate's verdict here; ``accepted`` when it is valid.  ``unchanged``: it is the key
    already in force.  ``supersedes``: the id of the key it replaces.  ``clock_reset``: it was judged by the
    recovered trusted time (its signed issue time proved the observed mark wrong).
    """

    verdict: Verdict
    unchanged: bool = False
    supersedes: str | None = None
    changes: tuple[Change, ...] = ()
    clock_reset: bool = False

    @property
    def accepted(self) -> bool:
        return self.verdict.valid

    @property
    def downgrade(self) -> bool:
        """Some term shrinks (fewer nodes, an earlier end, only features dropped)."""
        return any(c.direction == "shrinks" for c in self.changes)

    @property
    def losses(self) -> tuple[Change, ...]:
        """What it takes away: a lower limit, a dropped feature, a shorter term, an earlier maintenance end."""
        return losses(self.changes)

    @property
    def needs_confirmation(self) -> bool:
        """Applying it loses something (``losses``): the admin must confirm first."""
        return bool(self.losses)


def evaluate_activation(
    current: License | None,
    candidate: License,
    now: datetime,
    *,
    installation: Installation,
    recovered_time: datetime | None = None,
) -> ActivationCheck:
    """May ``candidate`` replace ``current`` (the key in force, or None) on ``installation`` at ``now``?

    The key in force again is judged as it stands.  Any other key must carry a serial above every serial
    activated here (``installation.highest_serial``): one at or below it is an older issue replayed, refused as
    ``superseded`` (unless it is refused first for being another product's or installation's).  ``recovered_time``:
    the trusted time to judge a ``clock_rollback`` by instead, when the candidate's signed issue time proves the
    observed mark wrong (``licensor.trusted_time.newer_key``).
    """
    if current is not None and current.license_id == candidate.license_id:
        return ActivationCheck(evaluate(candidate, installation, now), unchanged=True)
    verdict = evaluate(candidate, installation, now)
    reset = False
    if candidate.serial <= installation.highest_serial and verdict.code not in _BEFORE_SUPERSEDED:
        verdict = Verdict(
            "superseded",
            f"This key (serial {candidate.serial}) is older than or as old as the key in force here "
            f"(serial {installation.highest_serial}): activate the newest key your vendor sent",
            candidate,
        )
    elif verdict.code == "clock_rollback" and recovered_time is not None:
        verdict, reset = evaluate(candidate, replace(installation, trusted_time=recovered_time), now), True
    changes = compare(current, candidate) if current is not None else ()
    return ActivationCheck(verdict, supersedes=current.license_id if current else None, changes=changes, clock_reset=reset)
