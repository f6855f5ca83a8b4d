"""The seat decisions (``licensor.seats``): pure functions, time passed in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from licensor import seats
from licensor.seats import Holder
from licensor.testing import T0

TTL = timedelta(seconds=60)


def held(secret: str | None, silent: float = 0.0) -> Holder:
    return Holder(None if secret is None else seats.digest(secret), T0 - timedelta(seconds=silent))


class TestSecrets:
    def test_only_the_secret_matches_its_hash(self) -> None:
        """The stored digest is SHA-256 hex; the secret matches it, anything else (empty, long, its own hash) does not."""
        h = held("s3cret")
        assert h.secret_hash is not None and len(h.secret_hash) == 64 and "s3cret" not in h.secret_hash
        assert seats.presents(h.secret_hash, "s3cret")
        for wrong in ("", "s3cre", "s3cret ", h.secret_hash, "x" * 10_000, "s3cr\udce9t"):
            assert not seats.presents(h.secret_hash, wrong)
        assert not seats.presents(None, "") and not seats.presents("", "")

    def test_check_heartbeat_and_leave(self) -> None:
        """No seat: not_joined; a wrong or missing secret: seat_secret; an admin's leave needs none."""
        k = seats.digest("k")
        assert seats.check(False, None, "anything") == "not_joined"
        assert seats.check(True, k, "k") == "held"
        assert seats.check(True, k, "") == "seat_secret"
        assert seats.check(True, None, "") == "seat_secret"
        assert seats.check(True, k, "", admin=True) == "held"
        assert seats.check(False, None, "", admin=True) == "not_joined"


class TestAdmit:
    def test_new_ids_up_to_the_limit(self) -> None:
        """First come, first served; beyond the limit, refused."""
        a = seats.admit([("a", ""), ("b", ""), ("c", "")], {}, 1, 2, T0, TTL)
        assert a.outcomes == ("admitted", "refused", "refused")
        assert a.admitted == ("a",) and a.refused == ("b", "c") and a.used == 2

    def test_outcomes_per_request(self) -> None:
        """Each request gets its own outcome: holder again, someone else's live seat, a silent or secretless seat, no room."""
        holders = {"mine": held("k"), "theirs": held("other"), "silent": held("old", silent=61), "legacy": held(None)}
        reqs = [("mine", "k"), ("theirs", "k"), ("silent", ""), ("legacy", ""), ("new", ""), ("full", "")]
        a = seats.admit(reqs, holders, 4, 5, T0, TTL)
        assert a.outcomes == ("rejoined", "taken", "reclaimed", "reclaimed", "admitted", "refused")
        assert a.rejoined == ("mine",) and a.taken == ("theirs",) and a.reclaimed == ("silent", "legacy")
        assert a.admitted == ("new",) and a.refused == ("full",) and a.used == 5

    def test_a_seat_given_in_the_batch_is_taken_for_the_rest_of_it(self) -> None:
        """The secret of a seat given in this batch is known to nobody yet: a second join of the id, secret or not, finds it taken."""
        a = seats.admit([("x", ""), ("x", ""), ("x", "guess")], {}, 0, 5, T0, TTL)
        assert a.outcomes == ("admitted", "taken", "taken") and a.used == 1 and a.outcome == {"x": "admitted"}
        b = seats.admit([("y", ""), ("y", "")], {"y": held(None)}, 1, 1, T0, TTL)
        assert b.outcomes == ("reclaimed", "taken") and b.used == 1
        c = seats.admit([("z", "k"), ("z", "k")], {"z": held("k")}, 1, 1, T0, TTL)
        assert c.outcomes == ("rejoined", "rejoined") and c.rejoined == ("z",)

    def test_negative_numbers_are_refused(self) -> None:
        with pytest.raises(ValueError, match="cannot be negative"):
            seats.admit([], {}, -1, 1, T0, TTL)


class TestHints:
    def test_refusals_say_what_to_do(self) -> None:
        """seat_taken names the TTL and the admin; seat_secret names the header, and says a legacy seat must rejoin."""
        code, hint = seats.taken_refusal("node", "n1", TTL)
        assert code == "seat_taken" and "60 s" in hint and "admin" in hint and hint[0].isupper()
        code, hint = seats.secret_refusal("cluster", "dc-1")
        assert code == "seat_secret" and "X-Seat-Secret" in hint and "remote cluster dc-1" in hint and hint[0].isupper()
        code, hint = seats.secret_refusal("node", "n1", legacy=True)
        assert code == "seat_secret" and "join again" in hint
