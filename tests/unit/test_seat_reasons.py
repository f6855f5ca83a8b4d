"""The words of a refused join (``licensor.seat_reasons``): one sentence per refusal and per group, the code kept apart."""

from __future__ import annotations

import pytest

from licensor import seat_reasons as sr
from licensor.policy import STATES


class TestReason:
    def test_the_limit_in_words(self) -> None:
        """A join refused at the limit says the limit and that it was full; at 0, that none is allowed."""
        assert sr.reason("node", "limit_reached", 5) == "The license allows 5 nodes and 5 were in use"
        assert sr.reason("node", "limit_reached", 1) == "The license allows 1 node and 1 were in use"
        assert sr.reason("cluster", "clusters_not_licensed", 0) == "The license allows no remote clusters"
        assert sr.reason("node", "limit_reached", 1200) == "The license allows 1,200 nodes and 1,200 were in use"

    @pytest.mark.parametrize("state", [s.code for s in STATES if not s.admits])
    def test_every_state_that_refuses_a_join_has_its_words(self, state: str) -> None:
        """Every verdict state that admits nobody new is said in words of its own, not the fallback naming the code."""
        words = sr.reason("node", state, 5)
        assert words[0].isupper() and f"({state})" not in words and "does not describe" not in words

    def test_an_unknown_code_is_named(self) -> None:
        """A code this version does not know is still shown, so a person can look it up."""
        assert "(something_new)" in sr.reason("node", "something_new", 5)


class TestGroups:
    def test_counts_and_plurals(self) -> None:
        """Groups count per kind and code, nodes first, the largest first, and say 'was' for one."""
        refused = [("node", "limit_reached", 5, 2), ("node", "seat_taken", 5, 1), ("cluster", "clusters_not_licensed", 0, 1)]
        refused.insert(1, ("node", "limit_reached", 5, 1))
        assert [g.words for g in sr.groups(refused)] == [
            "3 nodes were refused because the license allows 5 nodes",
            "1 node was refused because another agent holds the seat of their node id",
            "1 remote cluster was refused because the license allows no remote clusters",
        ]

    def test_the_newest_refusal_gives_the_group_its_limit(self) -> None:
        """Refusals come newest first: the group says the limit of the newest."""
        (g,) = sr.groups([("node", "limit_reached", 7, 2), ("node", "limit_reached", 5, 3)])
        assert (g.count, g.allowed) == (5, 7)

    def test_only_the_limit_asks_for_more_seats(self) -> None:
        """More seats would admit the joins refused at the limit, not a taken id or an expired license."""
        refused = [
            ("node", "limit_reached", 5, 3),
            ("node", "seat_taken", 5, 1),
            ("node", "expired", 5, 4),
            ("cluster", "clusters_not_licensed", 0, 1),
        ]
        assert sr.more_seats(refused) == {"node": 3, "cluster": 1}
        assert sr.more_seats([]) == {"node": 0, "cluster": 0}
