"""The audit log's hash chain (``licensor.controller.audit.chain``): a chain verifies; any edit, deletion or reorder breaks it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

from licensor.controller.audit.chain import GENESIS, Entry, Link, head, link, verify
from licensor.testing import T0


def chain(n: int = 5) -> list[Link]:
    """``n`` entries written in two batches (a batch's entries share one time)."""
    first = link(0, GENESIS, T0, [Entry("joined", f"n{i}", "", "node") for i in range(n // 2)])
    last_id, prev = (first[-1].id, first[-1].hash) if first else (0, GENESIS)
    return first + link(
        last_id, prev, T0 + timedelta(seconds=1), [Entry("refused", f"m{i}", "limit_reached", "node") for i in range(n - n // 2)]
    )


class TestChain:
    def test_a_written_chain_verifies(self) -> None:
        """Entries are numbered from 1, each linked to the one before; the chain and its head verify."""
        links = chain()
        assert [x.id for x in links] == [1, 2, 3, 4, 5]
        assert links[0].prev_hash == GENESIS and all(b.prev_hash == a.hash for a, b in pairwise(links))
        r = verify(links, head(links))
        assert r.ok and r.entries == 5 and r.problem == ""

    def test_an_empty_log_verifies(self) -> None:
        assert verify([], None).ok

    def test_long_fields_are_cut_as_stored(self) -> None:
        """Subject and code are cut to their column sizes before hashing, so the stored entry verifies."""
        links = link(0, GENESIS, T0, [Entry("refused", "x" * 500, "c" * 100)])
        assert len(links[0].subject) == 200 and len(links[0].code) == 60 and verify(links, head(links)).ok

    def test_any_edit_breaks_it(self) -> None:
        """Changing any field of any entry is found, at that entry."""
        links = chain()
        for i in range(len(links)):
            for change in (
                {"detail": "nothing to see"},
                {"event": "left"},
                {"subject": "other"},
                {"code": "x"},
                {"at": T0 + timedelta(hours=1)},
            ):
                edited = [*links[:i], replace(links[i], **change), *links[i + 1 :]]
                r = verify(edited, head(links))
                assert not r.ok and r.bad_id == i + 1 and "changed" in r.problem

    def test_a_rehashed_edit_breaks_the_next_link(self) -> None:
        """An edit whose hash is recomputed no longer matches the next entry's link."""
        links = chain()
        forged = link(1, links[0].hash, T0, [Entry("joined", "intruder", "", "node")])[0]
        r = verify([links[0], forged, *links[2:]], head(links))
        assert not r.ok and r.bad_id == 3 and "does not follow" in r.problem

    def test_any_deletion_breaks_it(self) -> None:
        """Deleting an entry in the middle, the first, or the newest (the head record remembers it) is found."""
        links = chain()
        for i in range(len(links) - 1):
            r = verify([*links[:i], *links[i + 1 :]], head(links))
            assert not r.ok and r.bad_id == i + 1 and "missing" in r.problem
        r = verify(links[:-1], head(links))
        assert not r.ok and "newest entries were deleted" in r.problem
        r = verify(links, None)
        assert not r.ok and "head record is missing" in r.problem

    def test_any_reorder_breaks_it(self) -> None:
        """Swapping two entries (ids and all) is found."""
        links = chain()
        for i in range(len(links) - 1):
            swapped = [*links[:i], links[i + 1], links[i], *links[i + 2 :]]
            assert not verify(swapped, head(links)).ok
        renumbered = [replace(links[1], id=1), replace(links[0], id=2), *links[2:]]
        r = verify(renumbered, head(links))
        assert not r.ok and r.bad_id == 1
