"""policy.evaluate_activation: may a key replace the one in force (supersession), and what changes with it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from licensor.policy import Installation, evaluate_activation
from licensor.testing import T0, TestVendor, test_installation


def setup(highest: int = 0) -> tuple[TestVendor, Installation]:
    vendor, (_, inst) = TestVendor(), test_installation()
    return vendor, replace(inst, highest_serial=highest)


class TestSupersession:
    def test_a_first_key_is_accepted(self) -> None:
        """Nothing in force: a valid key is accepted and replaces nothing."""
        vendor, inst = setup()
        check = evaluate_activation(None, vendor.license(inst, serial=1), T0, installation=inst)
        assert check.accepted and not check.unchanged and check.supersedes is None and check.changes == ()

    def test_a_newer_serial_supersedes_the_key_in_force(self) -> None:
        """A higher serial is accepted and names the key it replaces."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1)
        check = evaluate_activation(old, vendor.license(inst, serial=2), T0, installation=inst)
        assert check.accepted and check.supersedes == old.license_id

    def test_an_older_or_equal_serial_is_refused_as_superseded(self) -> None:
        """A different key at or below the highest serial activated here is a replay: superseded, with both serials."""
        vendor, inst = setup(highest=3)
        current = vendor.license(inst, serial=3)
        for serial in (1, 3):
            check = evaluate_activation(current, vendor.license(inst, serial=serial), T0, installation=inst)
            assert not check.accepted and check.verdict.code == "superseded"
            assert check.verdict.hint == (
                f"This key (serial {serial}) is older than or as old as the key in force here (serial 3): "
                "activate the newest key your vendor sent"
            )

    def test_the_key_in_force_again_is_unchanged(self) -> None:
        """The same key again is not a replay: unchanged, judged as it stands."""
        vendor, inst = setup(highest=2)
        lic = vendor.license(inst, serial=2)
        check = evaluate_activation(lic, lic, T0, installation=inst)
        assert check.accepted and check.unchanged and check.supersedes is None

    def test_another_installations_key_is_refused_for_that_first(self) -> None:
        """Product and installation are decided before supersession: an old key for another installation says so."""
        vendor, inst = setup(highest=5)
        _, other = test_installation()
        check = evaluate_activation(None, vendor.license(other, serial=1), T0, installation=inst)
        assert check.verdict.code == "wrong_installation"

    def test_an_expired_key_is_refused_as_expired(self) -> None:
        """A newer serial that has already expired (past any grace) is refused as expired."""
        vendor, inst = setup()
        check = evaluate_activation(None, vendor.license(inst, serial=1, months=1), T0 + timedelta(days=40), installation=inst)
        assert check.verdict.code == "expired" and not check.accepted


class TestClock:
    def test_a_rollback_is_judged_by_the_recovered_time(self) -> None:
        """Behind the observed mark, a key whose signed issue time vouches for the clock is judged by the recovered time."""
        vendor, inst = setup()
        inst = replace(inst, trusted_time=T0 + timedelta(days=30))
        lic = vendor.license(inst, serial=1)
        assert evaluate_activation(None, lic, T0, installation=inst).verdict.code == "clock_rollback"
        check = evaluate_activation(None, lic, T0, installation=inst, recovered_time=T0)
        assert check.accepted and check.clock_reset

    def test_no_reset_for_a_superseded_key(self) -> None:
        """A replayed key stays superseded whatever the clock."""
        vendor, inst = setup(highest=2)
        inst = replace(inst, trusted_time=T0 + timedelta(days=30))
        check = evaluate_activation(None, vendor.license(inst, serial=1), T0, installation=inst, recovered_time=T0)
        assert check.verdict.code == "superseded" and not check.clock_reset


class TestChanges:
    def test_what_grows_and_what_shrinks(self) -> None:
        """Nodes, clusters, features, expiry and maintenance are compared; any shrink makes it a downgrade."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, nodes=10, remote_clusters=2, features=("sso",), months=12)
        new = vendor.license(inst, serial=2, nodes=4, remote_clusters=3, features=("sso", "fips"), months=24)
        check = evaluate_activation(old, new, T0, installation=inst)
        changes = {c.term: c.direction for c in check.changes}
        assert changes == {
            "nodes": "shrinks",
            "remote_clusters": "grows",
            "features": "grows",
            "expires": "grows",
            "maintenance_until": "grows",
        }
        assert check.downgrade and check.accepted
        nodes = next(c for c in check.changes if c.term == "nodes")
        assert (nodes.before, nodes.after) == (10, 4)

    def test_features_swapped_and_type_changed(self) -> None:
        """Features neither a subset nor a superset 'change'; perpetual has no end, so it outlasts any expiry."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, features=("a",))
        new = vendor.license(inst, serial=2, features=("b",), type="perpetual")
        changes = {c.term: c.direction for c in evaluate_activation(old, new, T0, installation=inst).changes}
        assert changes["features"] == "changes" and changes["type"] == "changes" and changes["expires"] == "grows"

    def test_the_same_terms_change_nothing(self) -> None:
        """A renewal with the same terms is no downgrade; to zero clusters is a shrink."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, remote_clusters=1)
        same = evaluate_activation(old, vendor.license(inst, serial=2, remote_clusters=1), T0, installation=inst)
        assert same.changes == () and not same.downgrade
        fewer = evaluate_activation(old, vendor.license(inst, serial=2, remote_clusters=0), T0, installation=inst)
        assert [(c.term, c.direction) for c in fewer.changes] == [("remote_clusters", "shrinks")] and fewer.downgrade


class TestConfirmation:
    """``needs_confirmation``: a key that takes something away is applied only when the admin confirms it."""

    def test_growth_alone_needs_no_confirmation(self) -> None:
        """More nodes, more clusters, more features and a longer term: applied at once."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, nodes=5, features=("sso",), months=12)
        new = vendor.license(inst, serial=2, nodes=8, remote_clusters=1, features=("sso", "fips"), months=24)
        check = evaluate_activation(old, new, T0, installation=inst)
        assert check.changes and not check.needs_confirmation
        assert not evaluate_activation(None, new, T0, installation=inst).needs_confirmation  # nothing to lose

    def test_a_shorter_term_needs_confirmation(self) -> None:
        """A key ending in 10 days over one running for years takes time away."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, months=36)
        new = vendor.license(inst, serial=2, expires=T0 + timedelta(days=10), maintenance_until=T0 + timedelta(days=1200))
        check = evaluate_activation(old, new, T0, installation=inst)
        assert {c.term: c.direction for c in check.changes}["expires"] == "shrinks"
        assert check.needs_confirmation and check.accepted

    def test_an_earlier_maintenance_end_alone_needs_confirmation(self) -> None:
        """The same expiry with maintenance ending sooner: confirm."""
        vendor, inst = setup(highest=1)
        end = T0 + timedelta(days=365)
        old = vendor.license(inst, serial=1, expires=end, maintenance_until=end)
        new = vendor.license(inst, serial=2, expires=end, maintenance_until=T0 + timedelta(days=100))
        check = evaluate_activation(old, new, T0, installation=inst)
        assert [(c.term, c.direction) for c in check.changes] == [("maintenance_until", "shrinks")]
        assert check.needs_confirmation

    def test_a_dropped_feature_needs_confirmation_even_when_another_is_added(self) -> None:
        """A perpetual key without 'multi-cluster' takes the feature away, though the term grows."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, features=("multi-cluster",))
        new = vendor.license(inst, serial=2, features=("sso",), type="perpetual", months=24)
        check = evaluate_activation(old, new, T0, installation=inst)
        assert not check.downgrade and check.needs_confirmation
        only_dropped = evaluate_activation(old, vendor.license(inst, serial=2, type="perpetual"), T0, installation=inst)
        assert only_dropped.needs_confirmation

    def test_fewer_nodes_or_clusters_need_confirmation(self) -> None:
        """A lower node or cluster limit needs confirmation; the key in force again needs none."""
        vendor, inst = setup(highest=1)
        old = vendor.license(inst, serial=1, nodes=10, remote_clusters=2)
        for fewer in ({"nodes": 9, "remote_clusters": 2}, {"remote_clusters": 1}):
            assert evaluate_activation(old, vendor.license(inst, serial=2, **fewer), T0, installation=inst).needs_confirmation
        assert not evaluate_activation(old, old, T0, installation=inst).needs_confirmation
        losses = evaluate_activation(old, vendor.license(inst, serial=2, nodes=4, remote_clusters=3), T0, installation=inst).losses
        assert [(c.term, c.before, c.after) for c in losses] == [("nodes", 10, 4)]
