"""The month's peak seats (usage reports): recorded in the seat transaction, cached per process, never lower than reached."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from licensor.controller import store as s
from licensor.controller.migrate import upgrade
from licensor.controller.seats import store as seating
from licensor.controller.store import Store
from licensor.testing import T0
from tests.inprocess import licensed_controller


def _peak(store: Store, month: str, kind: str = "node") -> int | None:
    with store.tx() as c:
        row = c.execute(select(s.usage.c.peak).where(s.usage.c.month == month, s.usage.c.kind == kind)).first()
    return None if row is None else int(row.peak)


class TestPeaks:
    def test_peaks_only_rise_and_the_cache_skips_nothing_needed(self, database_url: str) -> None:
        store = Store(database_url)
        upgrade(store.engine)
        known: dict[tuple[str, str], int] = {}
        try:
            for used in (3, 7, 5, 7, 2):
                with store.locked() as c:
                    seating.record_peak(c, "node", used, T0, known)
            assert _peak(store, "2026-01") == 7
            assert known == {("2026-01", "node"): 7}
            # Another process (no cache) raises it; this one's stale cache must not keep it from rising further.
            with store.locked() as c:
                seating.record_peak(c, "node", 9, T0)
            with store.locked() as c:
                seating.record_peak(c, "node", 8, T0, known)  # above the cached 7: queried, not lowered
            assert _peak(store, "2026-01") == 9 and known[("2026-01", "node")] == 9
            # A new month starts from what is used then.
            with store.locked() as c:
                seating.record_peak(c, "node", 4, T0 + timedelta(days=40), known)
            assert _peak(store, "2026-02") == 4
        finally:
            store.close()

    def test_a_rolled_back_batch_leaves_no_cached_peak(self, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """A batch whose transaction fails after writing the peak: the peak is rolled back and the cache forgets it."""
        from licensor.controller import audit
        from licensor.controller.runtime import Op

        ctl = licensed_controller(database_url, nodes=5)
        svc = ctl.svc
        month = ctl.clock().strftime("%Y-%m")
        real_append = audit.append

        def failing_append(*args: object, **kwargs: object) -> int:
            raise RuntimeError("the disk filled up")

        try:
            monkeypatch.setattr(audit, "append", failing_append)
            with pytest.raises(RuntimeError):
                ctl.apply([Op("join", "node", "a"), Op("join", "node", "b")])
            assert _peak(svc.store, month) is None and ctl._peaks == {}
            monkeypatch.setattr(audit, "append", real_append)
            assert [o.status for o in ctl.apply([Op("join", "node", "a")])] == ["admitted"]
            assert _peak(svc.store, month) == 1
        finally:
            svc.store.close()
