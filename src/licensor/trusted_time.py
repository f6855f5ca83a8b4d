"""Trusted time: the mark a clock rollback is measured against, and the rules that move it.

Offline, the system clock is the customer's to set, so a clock rollback (to stretch
an expiring license) can only be noticed against a time remembered earlier.  But a
clock that once ran ahead and was then corrected must never lock a paying customer
out, so no single reading of the system clock is ever remembered as trusted.

The mark (``Mark``, persisted by the controller) has two parts:

``proven``
    A time the true time is known to have passed: a vendor-signed time (a key's
    issue time), carried forward inside one running process by the monotonic
    clock's elapsed time, which nobody can set and which does not run while the
    machine sleeps.  It is never ahead of the true time (short of the vendor's own
    clock being wrong), so a clock behind it beyond the tolerance is a real rollback
    and cannot be acknowledged away.  What it misses: time that passed while no
    controller process was running.

``observed``
    System-clock readings that one process saw run in step with its monotonic
    clock for ``CONFIRM_SPAN`` across at least ``MIN_OBSERVATIONS`` readings.  This
    recovers the downtime ``proven`` misses.  A jump breaks the run (the readings and
    the monotonic clock disagree), so a jump corrected within the span never becomes
    the mark.  A wrong clock left uncorrected for longer than the span does; that is
    what an admin can acknowledge, and what a newer key's signed issue time overrules.

A clock more than ``TOLERANCE`` behind the mark is a rollback; less is skew and is
never punished.  Every function here is pure: the caller passes the readings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from .errors import LicenseRefused
from .policy import CLOCK_TOLERANCE, Verdict

__all__ = [
    "CONFIRM_SPAN",
    "DRIFT",
    "MIN_OBSERVATIONS",
    "TOLERANCE",
    "ClockCheck",
    "Mark",
    "Watch",
    "acknowledge",
    "explain",
    "judge",
    "newer_key",
    "observe",
    "signed",
]

#: A clock behind the mark by more than this is a rollback (the policy's tolerance).
TOLERANCE = CLOCK_TOLERANCE
#: How long readings must run in step with the monotonic clock before they are trusted.
CONFIRM_SPAN = timedelta(hours=24)
#: Readings needed within a run before it is trusted.
MIN_OBSERVATIONS = 3
#: How far the clock may wander from the monotonic clock within a run (NTP slewing, small steps).
DRIFT = timedelta(minutes=5)


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True)
class Mark:
    """The persisted high-water mark of trusted time."""

    proven: datetime | None = None
    observed: datetime | None = None

    @property
    def value(self) -> datetime | None:
        """The mark a rollback is measured against: the later of the two parts."""
        return _later(self.proven, self.observed)


@dataclass(frozen=True)
class Watch:
    """One process's memory of its own readings (never persisted: monotonic time is per process)."""

    #: ``proven`` as this process last knew it, at monotonic time ``anchor_mono``.
    anchor: datetime | None
    anchor_mono: float
    #: The first reading of the current coherent run, at monotonic time ``run_mono``.
    run_wall: datetime
    run_mono: float
    readings: int = 1

    def coherent(self, now: datetime, mono: float) -> bool:
        """Has the clock moved in step with the monotonic clock since the run began?"""
        if mono < self.run_mono:
            return False
        wall = (now - self.run_wall).total_seconds()
        return abs(wall - (mono - self.run_mono)) <= DRIFT.total_seconds()

    def jumped(self, now: datetime, mono: float) -> bool:
        """The clock left step with the monotonic clock (worth observing at once)."""
        return not self.coherent(now, mono)


def observe(mark: Mark, watch: Watch | None, now: datetime, mono: float) -> tuple[Mark, Watch]:
    """One reading of the system clock (``now``) and the monotonic clock (``mono``, seconds).

    ``proven`` moves forward by the monotonic time elapsed since this process last
    saw it; ``observed`` moves to ``now`` only once the readings have run in step
    with the monotonic clock for ``CONFIRM_SPAN``.  Nothing ever moves back.
    """
    proven = mark.proven
    if watch is not None and watch.anchor is not None and mono >= watch.anchor_mono:
        proven = _later(proven, watch.anchor + timedelta(seconds=mono - watch.anchor_mono))
    if watch is not None and watch.coherent(now, mono):
        run_wall, run_mono, readings = watch.run_wall, watch.run_mono, watch.readings + 1
    else:
        run_wall, run_mono, readings = now, mono, 1
    observed = mark.observed
    if readings >= MIN_OBSERVATIONS and mono - run_mono >= CONFIRM_SPAN.total_seconds():
        observed = _later(observed, now)
    return Mark(proven, observed), Watch(proven, mono, run_wall, run_mono, readings)


def signed(mark: Mark, at: datetime) -> Mark:
    """A vendor-signed time (a key's issue time): the true time has passed it."""
    return replace(mark, proven=_later(mark.proven, at))


@dataclass(frozen=True)
class ClockCheck:
    """How the clock stands against the mark."""

    mark: datetime | None
    #: How far the clock is behind the mark (zero when it is not).
    behind: timedelta
    #: Which part sets the mark: ``proven``, ``observed`` or None (no mark yet).
    source: str | None
    #: The clock is behind the mark beyond the tolerance.
    rollback: bool
    #: The rollback rests on observed readings only, so an admin may acknowledge it.
    acknowledgeable: bool


def judge(mark: Mark, now: datetime) -> ClockCheck:
    """Is ``now`` a rollback against ``mark``?"""
    value = mark.value
    if value is None:
        return ClockCheck(None, timedelta(0), None, False, False)
    source = "proven" if mark.proven is not None and mark.proven >= value else "observed"
    behind = max(timedelta(0), value - now)
    rollback = behind > TOLERANCE
    proven_ok = mark.proven is None or now >= mark.proven - TOLERANCE
    return ClockCheck(value, behind, source, rollback, rollback and proven_ok)


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _span(d: timedelta) -> str:
    hours = d.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"


def explain(verdict: Verdict, mark: Mark, now: datetime) -> Verdict:
    """A ``clock_rollback`` verdict with the reason and what to do; other verdicts unchanged."""
    if verdict.code != "clock_rollback":
        return verdict
    check = judge(mark, now)
    if check.mark is None:
        return verdict
    details = {
        "trusted_time": check.mark.isoformat(),
        "behind_seconds": int(check.behind.total_seconds()),
        "source": check.source,
        "acknowledgeable": check.acknowledgeable,
    }
    where = f"The system clock ({_day(now)}) is {_span(check.behind)} behind the trusted time ({_day(check.mark)})"
    if check.acknowledgeable:
        hint = (
            f"{where}, which this controller took from its own clock after the readings ran steady for "
            f"{int(CONFIRM_SPAN.total_seconds() // 3600)} h: if the clock is right now and was wrong then, an admin can "
            "acknowledge it (audited), or activate a newer key; "
            "otherwise set the clock right (use NTP)"
        )
    else:
        hint = (
            f"{where}, which the signed issue time of a license key and this controller's running time since prove "
            "has passed: set the clock right (use NTP); the license stays suspended until then"
        )
    return Verdict("clock_rollback", hint, verdict.license, verdict.warnings, details)


def acknowledge(mark: Mark, now: datetime) -> Mark:
    """An admin vouches that the clock is right now: drop observed readings that are ahead of it.

    Raises ``LicenseRefused`` when there is nothing to acknowledge, or when the clock
    is behind the proven part (evidence, not an observation, so not the admin's to waive).
    """
    check = judge(mark, now)
    if not check.rollback:
        raise LicenseRefused(
            f"The clock is not behind the trusted time{f' ({_day(check.mark)})' if check.mark else ''} beyond the "
            f"{int(TOLERANCE.total_seconds() // 3600)} h tolerance: there is nothing to acknowledge",
            code="clock_not_behind",
        )
    if not check.acknowledgeable:
        assert mark.proven is not None
        raise LicenseRefused(
            f"The system clock ({_day(now)}) is behind {_day(mark.proven)}, which the signed issue time of a license key "
            "and this controller's running time since prove has passed, so it cannot be acknowledged: "
            f"set the clock to at least {_day(mark.proven - TOLERANCE)} (use NTP)",
            code="clock_rollback",
        )
    return Mark(mark.proven, now)


def newer_key(mark: Mark, now: datetime, issued_at: datetime) -> Mark | None:
    """The mark to use when a key newer than any activated here arrives, or None to keep it.

    The key's issue time is signed by the vendor: the true time has passed it.  When
    the clock agrees with everything proven (this issue time included) and only
    observed readings put it behind, those readings were the wrong clock, not this
    one: they are dropped.  A clock behind proven time keeps its rollback.
    """
    after = signed(mark, issued_at)
    check = judge(after, now)
    if check.rollback and check.acknowledgeable:
        return Mark(after.proven, None)
    return None
