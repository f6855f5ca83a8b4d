"""The trusted-time rules: what moves the mark, what is a rollback, what an admin may acknowledge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licensor.errors import LicenseRefused
from licensor.policy import evaluate
from licensor.testing import TestVendor, test_installation
from licensor.trusted_time import CONFIRM_SPAN, TOLERANCE, Mark, Watch, acknowledge, judge, newer_key, observe, signed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


class Machine:
    """A process's two clocks: the system clock (settable) and the monotonic clock (not)."""

    def __init__(self, mark: Mark, *, offset: timedelta = timedelta(0)):
        self.mark, self.mono, self.offset = mark, 1000.0, offset
        self.watch: Watch | None = None

    @property
    def true_now(self) -> datetime:
        return T0 + timedelta(seconds=self.mono - 1000.0)

    @property
    def now(self) -> datetime:
        return self.true_now + self.offset

    def run(self, hours: float, every: float = 0.25) -> None:
        """Let ``hours`` pass, with a reading every ``every`` hours."""
        steps = int(hours / every)
        for _ in range(steps):
            self.mono += every * HOUR
            self.mark, self.watch = observe(self.mark, self.watch, self.now, self.mono)

    def restart(self, down_hours: float = 0.0) -> None:
        """A new process: the monotonic watch is gone; the mark (persisted) stays."""
        self.mono += down_hours * HOUR
        self.watch = None

    def rollback(self) -> bool:
        return judge(self.mark, self.now).rollback

    def set_off(self, offset: timedelta, hours: float) -> bool:
        """Set the system clock ``offset`` from true time, let ``hours`` pass; is it then a rollback?"""
        self.offset = offset
        self.run(hours)
        return self.rollback()


def started(**kw: timedelta) -> Machine:
    """A controller whose key was signed at T0, with one reading taken."""
    m = Machine(signed(Mark(), T0), **kw)
    m.mark, m.watch = observe(m.mark, None, m.now, m.mono)
    return m


def falsely_observed() -> Machine:
    """Run 30 hours with the clock 5 days ahead (long enough to be observed), then set right: a rollback on observed readings."""
    m = started()
    m.set_off(timedelta(days=5), 30)
    assert m.set_off(timedelta(0), 0.25)
    return m


class TestForwardJumps:
    @pytest.mark.parametrize("ahead", [timedelta(hours=3), timedelta(days=3), timedelta(days=365)])
    def test_a_corrected_forward_jump_never_locks(self, ahead: timedelta) -> None:
        """A clock that runs ahead for hours (many readings) and is set right never becomes the mark."""
        m = started()
        m.run(2)
        assert not m.set_off(ahead, 20)
        assert not m.set_off(timedelta(0), 0.25)
        assert m.mark.value is not None and m.mark.value <= m.true_now
        m.run(72)
        assert not m.rollback()

    def test_a_jump_at_start_corrected_after_a_restart_never_locks(self) -> None:
        """A process that starts with the clock 3 days ahead, restarted after the fix, is not locked out."""
        m = Machine(signed(Mark(), T0), offset=timedelta(days=3))
        m.run(23)
        m.restart()
        m.offset = timedelta(0)
        m.run(1)
        assert not m.rollback()

    def test_a_jump_left_for_longer_than_the_span_becomes_observed(self) -> None:
        """Readings that run steady for the whole span are trusted: this is the case an admin acknowledges."""
        m = started()
        m.offset = timedelta(days=3)
        m.run(CONFIRM_SPAN.total_seconds() / HOUR + 1)
        assert m.mark.observed is not None and m.mark.observed > m.true_now + timedelta(days=2)
        m.offset = timedelta(0)
        m.run(0.25)
        check = judge(m.mark, m.now)
        assert check.rollback and check.acknowledgeable and check.source == "observed"


class TestSkew:
    @pytest.mark.parametrize("skew", [timedelta(hours=-23), timedelta(hours=-2), timedelta(minutes=3), timedelta(hours=23)])
    def test_small_skew_never_locks(self, skew: timedelta) -> None:
        """A clock off by less than the tolerance, either way, even for days, is not a rollback."""
        m = started()
        m.run(30)
        assert not m.set_off(skew, 48)
        assert not m.set_off(timedelta(0), 1)

    def test_a_fresh_key_on_a_clock_a_little_behind_the_vendors_is_valid(self) -> None:
        """A key's start that is only its issue time is the vendor's clock: a customer clock hours behind is skew."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, now=T0)
        assert evaluate(lic, inst, T0 - timedelta(hours=5)).code == "valid"
        assert evaluate(lic, inst, T0 - TOLERANCE - timedelta(minutes=1)).code == "not_yet_valid"
        dated = vendor.license(inst, now=T0, not_before=T0 + timedelta(days=30))
        assert evaluate(dated, inst, T0 + timedelta(days=30) - timedelta(minutes=1)).code == "not_yet_valid"
        assert evaluate(dated, inst, T0 + timedelta(days=30)).code == "valid"

    def test_slow_drift_inside_a_run_is_coherent(self) -> None:
        """NTP slewing (half a millisecond a second) does not break a run, so readings still confirm."""
        m = started()
        for _ in range(100):
            m.offset += timedelta(seconds=0.45)  # 0.45 s per 15 min: about 500 ppm
            m.run(0.25)
        assert m.mark.observed is not None


class TestRollback:
    @pytest.mark.parametrize("back", [timedelta(hours=25), timedelta(days=3), timedelta(days=400)])
    def test_a_rollback_beyond_the_tolerance_is_caught(self, back: timedelta) -> None:
        """Set back further than the tolerance from proven time: caught, and not acknowledgeable."""
        m = started()
        m.run(2 + back.total_seconds() / HOUR)
        m.offset = -back
        m.run(0.25)
        check = judge(m.mark, m.now)
        assert check.rollback and check.source == "proven" and not check.acknowledgeable
        with pytest.raises(LicenseRefused) as e:
            acknowledge(m.mark, m.now)
        assert e.value.code == "clock_rollback" and e.value.hint[0].isupper()

    def test_a_rollback_survives_a_restart(self) -> None:
        """The mark is persisted: a new process with the clock still set back is still caught."""
        m = started()
        m.run(96)
        m.offset = timedelta(days=-3)
        m.run(0.25)
        assert m.rollback()
        m.restart(down_hours=0.1)
        m.run(0.25)
        assert m.rollback()
        m.offset = timedelta(0)
        m.run(0.25)
        assert not m.rollback()

    def test_repeated_small_rollbacks_add_up(self) -> None:
        """Setting the clock back just under the tolerance again and again is caught: proven time keeps running."""
        m = started()
        m.run(30)
        caught = False
        for _ in range(5):
            m.offset -= TOLERANCE - timedelta(hours=1)
            m.run(1)
            caught = caught or m.rollback()
        assert caught

    def test_observed_readings_recover_downtime(self) -> None:
        """A controller down for a week then set back by a week is caught once it has run steady for the span."""
        m = started()
        m.run(2)
        m.restart(down_hours=24 * 7)
        m.run(CONFIRM_SPAN.total_seconds() / HOUR + 1)
        assert m.mark.observed is not None
        m.offset = timedelta(days=-7)
        m.run(0.25)
        assert m.rollback()

    def test_no_mark_no_rollback(self) -> None:
        """Before anything is trusted there is nothing to roll back from."""
        assert not judge(Mark(), T0).rollback


class TestAcknowledge:
    def test_acknowledge_drops_a_false_observed_mark(self) -> None:
        """An admin vouching for a correct clock clears a rollback that rests on observed readings only."""
        m = falsely_observed()
        m.mark = acknowledge(m.mark, m.now)
        assert not m.rollback()
        assert m.mark.proven is not None and m.mark.proven <= m.true_now

    def test_nothing_to_acknowledge(self) -> None:
        """A clock that is not behind is refused with its own code and a hint."""
        m = started()
        with pytest.raises(LicenseRefused) as e:
            acknowledge(m.mark, m.now)
        assert e.value.code == "clock_not_behind" and e.value.hint[0].isupper()


class TestNewerKey:
    def test_a_newer_key_overrules_a_false_observed_mark(self) -> None:
        """A key signed now agrees with a correct clock: observed readings ahead of both are dropped."""
        m = falsely_observed()
        reset = newer_key(m.mark, m.now, m.true_now - timedelta(minutes=5))
        assert reset is not None and reset.observed is None
        assert not judge(reset, m.now).rollback

    def test_a_newer_key_does_not_excuse_a_real_rollback(self) -> None:
        """Behind proven time, a newer key changes nothing."""
        m = started()
        m.run(100)
        m.offset = timedelta(days=-3)
        m.run(0.25)
        assert newer_key(m.mark, m.now, m.true_now - timedelta(hours=1)) is None
        assert newer_key(m.mark, m.now, m.now) is None

    def test_signed_times_only_move_forward(self) -> None:
        """An older signed time never lowers proven time."""
        mark = signed(Mark(), T0)
        assert signed(mark, T0 - timedelta(days=9)).proven == T0
        assert signed(mark, T0 + timedelta(days=1)).proven == T0 + timedelta(days=1)
