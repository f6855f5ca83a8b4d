"""The seat counts (``seat_counts``): kept in every seat transaction, started from the seats by migration 0005, checked
against the seats and repaired (audited) when they drift.  On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from licensor.controller import store as s
from licensor.controller.host import collect_factors
from licensor.controller.license.service import ControllerService
from licensor.controller.migrate import upgrade
from licensor.controller.runtime import Controller, Op
from licensor.controller.store import Store
from licensor.testing import T0, TestVendor


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _controller(url: str, vendor: TestVendor, clock: Clock, *, nodes: int, clusters: int = 0, init: bool = True) -> Controller:
    svc = ControllerService(Store(url), factors=collect_factors(), clock=clock)
    if init:
        svc.init(vendor.keyring, product="demo")
        with svc.store.tx() as c:
            inst = svc.installation(c)
        svc.activate(vendor.issue(inst, nodes=nodes, remote_clusters=clusters, now=clock()))
    return Controller(svc, heartbeat_ttl=60)


@pytest.fixture
def made(database_url: str) -> Iterator[tuple[Controller, Clock, TestVendor]]:
    vendor, clock = TestVendor(), Clock()
    ctl = _controller(database_url, vendor, clock, nodes=10, clusters=2)
    try:
        yield ctl, clock, vendor
    finally:
        ctl.store.close()


def _counts(store: Store) -> dict[str, tuple[int, int]]:
    """kind -> (the count kept, the seats counted)."""
    with store.tx() as c:
        kept = {r[0]: int(r[1]) for r in c.execute(select(s.seat_counts.c.kind, s.seat_counts.c.held))}
        rows = {r[0]: int(r[1]) for r in c.execute(select(s.seats.c.kind, func.count()).group_by(s.seats.c.kind))}
    return {k: (kept.get(k, -1), rows.get(k, 0)) for k in ("node", "cluster")}


def _repairs(ctl: Controller) -> list[dict[str, object]]:
    return ctl.audit_entries(event="repaired")


def _join(ctl: Controller, *ids: str, kind: str = "node") -> dict[str, str]:
    """Join ``ids``; their seat secrets by id (those admitted)."""
    return {i: o.secret for i, o in zip(ids, ctl.apply([Op("join", kind, i) for i in ids]), strict=True) if o.secret}


class TestKept:
    def test_every_seat_change_keeps_the_count(self, made: tuple[Controller, Clock, TestVendor]) -> None:
        """Joins, refusals over the limit, leaves, admin releases, takeovers, the expiry sweep and a lowered limit."""
        ctl, clock, vendor = made
        assert _counts(ctl.store) == {"node": (0, 0), "cluster": (0, 0)}
        keys = _join(ctl, *(f"n{i}" for i in range(12)))  # 10 admitted, 2 refused
        _join(ctl, "c1", "c2", "c3", kind="cluster")
        assert len(keys) == 10 and _counts(ctl.store) == {"node": (10, 10), "cluster": (2, 2)}
        out = ctl.apply([Op("leave", "node", "n0", secret=keys["n0"]), Op("leave", "node", "n1", admin=True), Op("join", "node", "x")])
        assert [o.status for o in out] == ["left", "left", "admitted"]
        assert _counts(ctl.store)["node"] == (9, 9)
        # n2 goes silent: a new join of its id takes its seat over, the count stays.
        clock.now += timedelta(seconds=61)
        ctl.apply([Op("heartbeat", "node", i, secret=keys[i]) for i in ("n3", "n4", "n5")])
        assert ctl.apply([Op("join", "node", "n2")])[0].status == "admitted"
        assert _counts(ctl.store)["node"] == (9, 9)
        # The sweep frees every silent seat; so does a join short of room (its sweep spares who was heard from).
        clock.now += timedelta(seconds=30)
        assert ctl.sweep() == 5 + 2  # n6..n9 and x, silent since T0, and both clusters
        assert _counts(ctl.store) == {"node": (4, 4), "cluster": (0, 0)}
        # A license with fewer nodes evicts the newest seats over it.
        with ctl.store.tx() as c:
            inst = ctl.svc.installation(c)
        ctl.activate(vendor.issue(inst, nodes=2, now=clock(), serial=2))
        assert _counts(ctl.store)["node"] == (2, 2)
        assert _repairs(ctl) == []

    def test_a_join_short_of_room_sweeps_and_counts(self, made: tuple[Controller, Clock, TestVendor]) -> None:
        """The full batch's own sweep (sparing those heard from in it) lowers the count before it admits."""
        ctl, clock, _vendor = made
        keys = _join(ctl, *(f"n{i}" for i in range(10)))
        clock.now += timedelta(seconds=61)
        out = ctl.apply([Op("heartbeat", "node", "n0", secret=keys["n0"]), *(Op("join", "node", f"m{i}") for i in range(9))])
        assert [o.status for o in out] == ["alive"] + ["admitted"] * 9
        assert _counts(ctl.store)["node"] == (10, 10)


class TestRepaired:
    def test_a_corrupted_count_is_repaired_and_audited(self, made: tuple[Controller, Clock, TestVendor]) -> None:
        ctl, _clock, _vendor = made
        _join(ctl, "a", "b", "c")
        with ctl.store.tx() as c:
            c.execute(text("UPDATE seat_counts SET held = 9 WHERE kind = 'node'"))
        assert ctl.seating.check_counts() == {"node": (9, 3)}
        assert _counts(ctl.store)["node"] == (3, 3)
        [entry] = _repairs(ctl)
        assert (entry["subject"], entry["code"]) == ("node", "seat_count")
        assert "said 9 but 3 are held" in str(entry["detail"])
        assert ctl.audit_verify().ok
        assert ctl.seating.check_counts() == {} and len(_repairs(ctl)) == 1  # nothing to repair: nothing audited

    def test_a_count_too_low_admits_no_one_over_the_limit_once_repaired(self, made: tuple[Controller, Clock, TestVendor]) -> None:
        """The sweep's first run checks the counts: a count lowered by hand does not let an eleventh node in."""
        ctl, _clock, _vendor = made
        _join(ctl, *(f"n{i}" for i in range(10)))
        with ctl.store.tx() as c:
            c.execute(text("UPDATE seat_counts SET held = 0 WHERE kind = 'node'"))
        ctl.sweep()
        assert _counts(ctl.store)["node"] == (10, 10)
        assert ctl.apply([Op("join", "node", "late")])[0].code == "limit_reached"
        assert [e["detail"] for e in _repairs(ctl)] == ["the count of node seats said 0 but 10 are held: set to 10"]

    def test_a_missing_or_negative_count_is_restored_by_the_batch_that_reads_it(self, made: tuple[Controller, Clock, TestVendor]) -> None:
        ctl, _clock, _vendor = made
        _join(ctl, "a", "b")
        with ctl.store.tx() as c:
            c.execute(text("DELETE FROM seat_counts WHERE kind = 'node'"))
        assert ctl.apply([Op("join", "node", "c")])[0].status == "admitted"
        assert _counts(ctl.store)["node"] == (3, 3)
        with ctl.store.tx() as c:
            c.execute(text("UPDATE seat_counts SET held = -5 WHERE kind = 'node'"))
        assert ctl.apply([Op("join", "node", "d")])[0].status == "admitted"
        assert _counts(ctl.store)["node"] == (4, 4)
        assert [e["detail"] for e in _repairs(ctl)] == [
            "the count of node seats said -5 but 3 are held: set to 3",
            "the count of node seats was missing but 2 are held: set to 2",
        ]

    def test_a_controller_starting_repairs_the_count(self, database_url: str, tmp_path: object) -> None:
        """``create_app`` checks the counts before the first batch."""
        from licensor.controller.app import ControllerSettings, create_app

        vendor, clock = TestVendor(), Clock()
        ctl = _controller(database_url, vendor, clock, nodes=5)
        try:
            _join(ctl, "a", "b")
            with ctl.store.tx() as c:
                c.execute(text("UPDATE seat_counts SET held = 7 WHERE kind = 'node'"))
            create_app(ControllerSettings(database_url=database_url, clock=clock, factors=collect_factors()))
            assert _counts(ctl.store)["node"] == (2, 2) and len(_repairs(ctl)) == 1
        finally:
            ctl.store.close()


class TestMigration:
    def test_migration_0005_starts_the_counts_from_the_seats_held(self, database_url: str) -> None:
        store = Store(database_url)
        try:
            upgrade(store.engine, "0004")
            with store.tx() as c:
                c.execute(
                    s.seats.insert(),
                    [
                        {"kind": k, "seat_id": f"{k}{i}", "joined_at": T0, "last_seen": T0, "address": ""}
                        for k, n in (("node", 5), ("cluster", 1))
                        for i in range(n)
                    ],
                )
            upgrade(store.engine)
            assert _counts(store) == {"node": (5, 5), "cluster": (1, 1)}
        finally:
            store.close()


class TestConcurrent:
    def test_replicas_joining_and_leaving_at_once_keep_the_count_exact(
        self, made: tuple[Controller, Clock, TestVendor], database_url: str
    ) -> None:
        """Four controllers (own engines, as replicas or workers) on one database join and leave at once: never over the limit."""
        ctl, clock, vendor = made
        others = [_controller(database_url, vendor, clock, nodes=10, init=False) for _ in range(3)]
        over: list[int] = []
        errors: list[BaseException] = []

        def storm(c: Controller, w: int) -> None:
            try:
                for r in range(15):
                    ids = [f"w{w}r{r}n{i}" for i in range(4)]
                    keys = _join(c, *ids)
                    with c.store.tx() as conn:
                        over.append(int(conn.execute(select(func.count()).select_from(s.seats)).scalar_one()))
                    c.apply([Op("leave", "node", i, secret=k) for i, k in list(keys.items())[: 1 + r % 3]])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=storm, args=(c, w)) for w, c in enumerate([ctl, *others])]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        try:
            assert errors == []
            assert max(over) <= 10
            kept, rows = _counts(ctl.store)["node"]
            assert kept == rows and rows <= 10
            assert ctl.seating.check_counts() == {} and _repairs(ctl) == []
        finally:
            for o in others:
                o.store.close()
