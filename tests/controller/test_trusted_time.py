"""The controller keeps the trusted-time mark: days of readings with a settable clock and a fake monotonic clock, on SQLite and PostgreSQL.

The attack suite (tests/attack/test_clock.py) drives real server processes, but
their monotonic clock is the real one, so it cannot wait the day a steady run of
readings needs.  Here the controller runs in process with both clocks injected.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from licensor.controller import store as s
from licensor.controller.license.service import ControllerService
from licensor.controller.runtime import Controller
from licensor.controller.store import Store
from licensor.errors import LicenseRefused
from licensor.testing import T0, FixedClock, TestVendor

FACTORS = {"cluster": "c-1", "machine": "m-1"}


class Host:
    """A controller database and the two clocks of the process in front of it."""

    def __init__(self, url: str):
        self.url, self.true, self.offset, self.mono = url, FixedClock(T0), timedelta(0), 5000.0
        self.clock = FixedClock(T0)
        self.vendor = TestVendor()
        self.svc = ControllerService(Store(url), factors=FACTORS, clock=self.clock)
        self.svc.init(self.vendor.keyring, product="demo")
        with self.svc.store.tx() as c:
            self.inst = self.svc.installation(c)
        self.ctl = self.start()
        self.serial = 0

    def start(self) -> Controller:
        """A new process: a new monotonic watch, the same database."""
        return Controller(self.svc, monotonic=lambda: self.mono)

    def run(self, hours: float, every_minutes: float = 30) -> None:
        for _ in range(int(hours * 60 / every_minutes)):
            self.mono += every_minutes * 60
            self.true.advance(minutes=every_minutes)
            self.clock.set(self.true.now + self.offset)
            self.ctl.sweep()

    def set_offset(self, **delta: float) -> None:
        self.offset = timedelta(**delta)
        self.clock.set(self.true.now + self.offset)

    def key(self) -> str:
        self.serial += 1
        return self.vendor.issue(self.inst, serial=self.serial, type="perpetual", now=self.true.now - timedelta(minutes=1))

    def state(self) -> str:
        return str(self.ctl.status()["code"])

    def events(self) -> list[str]:
        with self.svc.store.tx() as c:
            return [str(e) for e in c.execute(select(s.audit.c.event)).scalars()]


@pytest.fixture
def host(database_url: str) -> Iterator[Host]:
    h = Host(database_url)
    h.ctl.activate(h.key())
    yield h
    h.svc.store.close()


class TestTrustedTimeInTheController:
    def test_jumps_corrected_within_a_day_never_lock(self, host: Host) -> None:
        """Hours under a clock 3 days or a year ahead, with readings all along, then set right: still valid."""
        host.run(2)
        for days in (3, 365):
            host.set_offset(days=days)
            host.run(20)
            host.set_offset()
            host.run(0.5)
            assert host.state() == "valid"

    def test_steady_readings_become_the_mark_and_catch_a_rollback_after_a_restart(self, host: Host) -> None:
        """After a day of steady readings, a restart with the clock set back 3 days is clock_rollback."""
        host.run(26)
        status = host.ctl.status()
        assert status["trusted_time_observed"] is not None
        host.ctl = host.start()
        host.set_offset(days=-3)
        host.run(0.5)
        st = host.ctl.status()
        assert st["code"] == "clock_rollback" and st["details"]["acknowledgeable"] is False, st
        with pytest.raises(LicenseRefused) as e:
            host.ctl.acknowledge_clock("test")
        assert e.value.code == "clock_rollback"
        host.set_offset()
        assert host.state() == "valid"

    def test_a_clock_wrong_for_days_is_acknowledged_or_overruled_by_a_newer_key(self, host: Host) -> None:
        """A clock 5 days ahead for over a day becomes the observed mark; set right, an admin acknowledges (audited)."""
        for _ in range(2):
            host.set_offset(days=5)
            host.run(26)
            host.set_offset()
            host.run(0.5)
            st = host.ctl.status()
            assert st["code"] == "clock_rollback" and st["details"]["acknowledgeable"] is True, st
            if "clock_acknowledged" not in host.events():
                host.ctl.acknowledge_clock("admin via test")
                assert "clock_acknowledged" in host.events()
            else:
                host.ctl.activate(host.key())
                assert "clock_reset" in host.events()
            assert host.state() == "valid"
            host.run(2)
            assert host.state() == "valid"
        assert host.ctl.audit_verify().ok
