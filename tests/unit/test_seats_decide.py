"""seats.decide: every join, heartbeat and leave of a batch gets its outcome, code, hint and HTTP status, for every verdict state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import pytest

from licensor import seats
from licensor.policy import STATES, Verdict, evaluate
from licensor.seats import Holder, Request
from licensor.testing import T0, TestVendor, test_installation

TTL = timedelta(seconds=60)
KINDS = ("node", "cluster")


def verdict(code: str, *, nodes: int = 2, clusters: int = 1) -> Verdict:
    """A verdict in state ``code`` (with a license of ``nodes`` nodes and ``clusters`` remote clusters where the state has one)."""
    vendor, (_, inst) = TestVendor(), test_installation()
    lic = vendor.license(inst, nodes=nodes, remote_clusters=clusters)
    if code == "valid":
        v = evaluate(lic, inst, T0)
    elif code == "grace":
        v = evaluate(vendor.license(inst, nodes=nodes, remote_clusters=clusters, months=1, grace_days=10), inst, T0 + timedelta(days=35))
    elif code == "expired":
        v = evaluate(vendor.license(inst, nodes=nodes, remote_clusters=clusters, months=1), inst, T0 + timedelta(days=35))
    elif code == "missing":
        v = evaluate(None, inst, T0)
    else:  # a state with a license that does not apply, or none usable (malformed, bad signature, …)
        v = Verdict(code, f"refused: {code}", lic if code not in ("malformed", "bad_signature", "unknown_key") else None)
    assert v.code == code
    return v


def held(secret: str | None, silent: float = 0.0) -> Holder:
    return Holder(None if secret is None else seats.digest(secret), T0 - timedelta(seconds=silent))


def decide(kind: str, reqs: list[Request], v: Verdict, holders: Mapping[str, Holder] | None = None, used: int = 0) -> seats.Decision:
    holders = dict(holders or {})
    return seats.decide(kind, reqs, v, holders, used or len(holders), T0, TTL)


def noun(kind: str) -> str:
    return "node" if kind == "node" else "remote cluster"


REFUSING = [s.code for s in STATES if not s.keeps_seats]


class TestEveryState:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("state", REFUSING)
    def test_a_license_that_keeps_no_seats_refuses_joins_with_its_own_code(self, state: str, kind: str) -> None:
        """Missing, expired, wrong installation, clock rollback, …: a join is refused (422) with the verdict's code and hint."""
        v = verdict(state)
        d = decide(kind, [Request("join", "a")], v)
        (o,) = d.outcomes
        assert (o.ok, o.code, o.hint, o.status, o.http_status) == (False, state, v.hint, "refused", 422)
        assert d.seated == () and d.peak == 0
        assert d.events == (("refused", "a", state, noun(kind)),)

    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("state", REFUSING)
    def test_a_license_that_keeps_no_seats_releases_a_heartbeat_seat(self, state: str, kind: str) -> None:
        """A heartbeat with its secret under such a license: its seat is released (audited), answered with the verdict."""
        v = verdict(state)
        d = decide(kind, [Request("heartbeat", "a", "k"), Request("heartbeat", "ghost")], v, {"a": held("k")})
        mine, ghost = d.outcomes
        assert (mine.ok, mine.code, mine.status, mine.http_status) == (False, state, "released", 422)
        assert (ghost.ok, ghost.code, ghost.status) == (False, state, "refused")
        assert d.freed == ("a",) and d.touched == ()
        assert d.events == (("released", "a", state, v.hint),)

    @pytest.mark.parametrize("kind", KINDS)
    def test_valid_admits_new_ids_and_keeps_heartbeats(self, kind: str) -> None:
        """Valid: a new id gets a seat (with the count in the hint); a holder's heartbeat keeps it, answered 'valid'."""
        v = verdict("valid", nodes=3, clusters=3)
        d = decide(kind, [Request("join", "new"), Request("heartbeat", "old", "k")], v, {"old": held("k")})
        join, beat = d.outcomes
        assert (join.ok, join.code, join.status, join.http_status) == (True, "valid", "admitted", 200)
        assert join.hint == f"{noun(kind)} new holds a seat (2/3 in use)"
        assert (beat.ok, beat.code, beat.status) == (True, "valid", "alive")
        assert d.seated == ("new",) and d.touched == ("old",) and d.peak == 2
        assert ("joined", "new", "", noun(kind)) in d.events

    @pytest.mark.parametrize("kind", KINDS)
    def test_grace_keeps_holders_and_admits_nobody_new(self, kind: str) -> None:
        """Grace: a holder rejoins and beats with the grace code and hint; a new id is refused with them (422)."""
        v = verdict("grace", nodes=5, clusters=5)
        reqs = [Request("join", "old", "k"), Request("join", "new"), Request("heartbeat", "old", "k")]
        d = decide(kind, reqs, v, {"old": held("k")})
        rejoin, new, beat = d.outcomes
        assert (rejoin.ok, rejoin.code, rejoin.hint, rejoin.status) == (True, "grace", v.hint, "rejoined")
        assert (new.ok, new.code, new.hint, new.status, new.http_status) == (False, "grace", v.hint, "refused", 422)
        assert (beat.ok, beat.code, beat.status) == (True, "grace", "alive")
        assert d.seated == () and d.peak == 1

    @pytest.mark.parametrize("kind", KINDS)
    def test_grace_gives_a_silent_seat_to_its_new_holder(self, kind: str) -> None:
        """Grace holds the count, not the holders: a seat silent past the TTL is reclaimed by a join of its id."""
        d = decide(kind, [Request("join", "old")], verdict("grace"), {"old": held("k", silent=61)})
        assert d.outcomes[0].status == "admitted" and d.rekeyed == ("old",) and d.peak == 1


class TestLimit:
    @pytest.mark.parametrize("kind", KINDS)
    def test_up_to_the_limit_and_not_one_more(self, kind: str) -> None:
        """At limit - 1 one join is admitted; the next is refused with limit_reached (422), naming the limit."""
        v = verdict("valid", nodes=3, clusters=3)
        d = decide(kind, [Request("join", "x"), Request("join", "y")], v, {"a": held("a"), "b": held("b")})
        x, y = d.outcomes
        assert x.ok and x.status == "admitted"
        assert (y.ok, y.code, y.status, y.http_status) == (False, "limit_reached", "refused", 422)
        things = "nodes" if kind == "node" else "remote clusters"
        assert f"All 3 {things} allowed" in y.hint
        assert d.peak == 3 and ("refused", "y", "limit_reached", noun(kind)) in d.events

    def test_the_limit_is_per_kind(self) -> None:
        """Nodes count against the node limit, clusters against the cluster limit."""
        v = verdict("valid", nodes=1, clusters=2)
        assert [o.ok for o in decide("node", [Request("join", "a"), Request("join", "b")], v).outcomes] == [True, False]
        assert [o.ok for o in decide("cluster", [Request("join", "a"), Request("join", "b")], v).outcomes] == [True, True]
        assert seats.limit(v, "node") == 1 and seats.limit(v, "cluster") == 2
        assert seats.limit(verdict("grace", nodes=4), "node") == 4 and seats.limit(verdict("expired", nodes=4), "node") == 0

    def test_no_remote_clusters_licensed(self) -> None:
        """A license with 0 remote clusters refuses a cluster join as clusters_not_licensed; nodes still join."""
        v = verdict("valid", nodes=1, clusters=0)
        (o,) = decide("cluster", [Request("join", "dc")], v).outcomes
        assert (o.ok, o.code, o.http_status) == (False, "clusters_not_licensed", 422)
        assert decide("node", [Request("join", "n")], v).outcomes[0].ok

    def test_full_but_a_join_short_of_room_asks_for_a_sweep(self) -> None:
        """``short`` says the joins want more seats than are free: only then is sweeping silent seats worth it."""
        v = verdict("valid", nodes=2)
        assert decide("node", [Request("join", "c")], v, {"a": held("a"), "b": held("b", silent=600)}).short
        assert not decide("node", [Request("join", "a", "a")], v, {"a": held("a"), "b": held("b")}).short
        assert not decide("node", [Request("join", "c")], v, {"a": held("a")}).short

    def test_a_leave_frees_room_for_a_join_in_the_same_batch(self) -> None:
        """Leaves go first: at the limit, a leave and a join in one batch both succeed."""
        v = verdict("valid", nodes=1)
        d = decide("node", [Request("join", "b"), Request("leave", "a", "k")], v, {"a": held("k")})
        join, leave = d.outcomes
        assert join.ok and join.status == "admitted" and leave.ok and leave.status == "left"
        assert d.freed == ("a",) and d.seated == ("b",) and d.peak == 1


class TestHeartbeatsAndLeaves:
    @pytest.mark.parametrize("kind", KINDS)
    def test_heartbeat_refusals(self, kind: str) -> None:
        """No seat: not_joined (409); a wrong secret: seat_secret (403); a seat without a secret: seat_secret, join again."""
        v = verdict("valid")
        reqs = [Request("heartbeat", "none"), Request("heartbeat", "a", "wrong"), Request("heartbeat", "legacy", "x")]
        d = decide(kind, reqs, v, {"a": held("k"), "legacy": held(None)})
        none, wrong, legacy = d.outcomes
        assert (none.ok, none.code, none.status, none.http_status) == (False, "not_joined", "not_joined", 409)
        assert (wrong.ok, wrong.code, wrong.http_status) == (False, "seat_secret", 403) and "X-Seat-Secret" in wrong.hint
        assert legacy.code == "seat_secret" and "join again" in legacy.hint
        assert d.touched == () and d.freed == ()

    def test_leaves(self) -> None:
        """A leave with the secret frees the seat; an admin's needs none; a wrong secret is refused; no seat: not_joined (ok)."""
        v = verdict("valid")
        reqs = [Request("leave", "a", "k"), Request("leave", "b", admin=True), Request("leave", "c", "no"), Request("leave", "z")]
        d = decide("node", reqs, v, {"a": held("k"), "b": held("b"), "c": held("c")})
        a, b, c, z = d.outcomes
        assert (a.ok, a.status) == (True, "left") and (b.ok, b.status) == (True, "left") and "admin" in b.hint
        assert (c.ok, c.code, c.http_status) == (False, "seat_secret", 403)
        assert (z.ok, z.code) == (True, "not_joined")
        assert d.freed == ("a", "b") and d.peak is None

    def test_a_taken_seat_is_refused_with_409(self) -> None:
        """A join with the id of someone else's live seat: seat_taken (409), naming the TTL."""
        (o,) = decide("node", [Request("join", "a", "guess")], verdict("valid"), {"a": held("k")}).outcomes
        assert (o.ok, o.code, o.http_status) == (False, "seat_taken", 409) and "60 s" in o.hint

    def test_unknown_kind(self) -> None:
        with pytest.raises(ValueError, match="node or cluster"):
            decide("rack", [], verdict("valid"))
