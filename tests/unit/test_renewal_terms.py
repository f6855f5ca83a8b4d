"""The renewal's pure parts: where its term starts and how long it runs, a request's asks as overrides, and the one
comparison of two licenses' terms (``differences.changes``) that both the activation and the renewal previews use."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from licensor.differences import Change, changes, losses
from licensor.license import License
from licensor.terms import Ask, Overrides, Plan, add_months, asked_overrides, current_end, license_terms, renewal_months, renewal_start
from licensor.testing import T0, TestVendor, test_installation

YEAR = Plan("yearly", "subscription", months=24, maintenance_months=36)


def live(**kw: Any) -> License:
    vendor, (_, inst) = TestVendor(), test_installation()
    defaults: dict[str, Any] = {"nodes": 4, "remote_clusters": 2, "features": ("multi-cluster", "sso")}
    return vendor.license(inst, **{**defaults, **kw})


class TestWhereARenewalRuns:
    def test_a_running_subscription_renews_from_its_end_by_the_plans_term(self) -> None:
        lic = live(expires=T0 + timedelta(days=40))
        assert current_end(lic) == T0 + timedelta(days=40)
        assert renewal_start(lic, T0) == T0 + timedelta(days=40)
        assert (renewal_months(lic, YEAR), renewal_months(lic, None)) == (24, 12)
        t = license_terms("renew", T0, plan=YEAR, current=lic)
        assert t.expires == add_months(T0 + timedelta(days=40), 24)
        assert (t.nodes, t.remote_clusters, t.features) == (4, 2, ("multi-cluster", "sso"))

    def test_a_lapsed_license_renews_from_now(self) -> None:
        lic = live(now=T0 - timedelta(days=400), expires=T0 - timedelta(days=5))
        assert renewal_start(lic, T0) == T0
        assert license_terms("renew", T0, current=lic).expires == add_months(T0, 12)

    def test_a_perpetual_license_renews_its_maintenance_by_the_plans_maintenance_months(self) -> None:
        lic = live(type="perpetual", expires=None, maintenance_until=T0 + timedelta(days=10))
        assert current_end(lic) == T0 + timedelta(days=10)
        assert renewal_months(lic, YEAR) == 36
        t = license_terms("renew", T0, plan=YEAR, current=lic)
        assert (t.expires, t.maintenance_until) == (None, add_months(T0 + timedelta(days=10), 36))


class TestAskedOverrides:
    def test_what_the_request_asks_overrides_and_nothing_asked_keeps_the_live_terms(self) -> None:
        assert asked_overrides(Ask(nodes=9, months=3, remote_clusters=0)) == Overrides(nodes=9, months=3)
        assert asked_overrides(Ask()) == Overrides()
        lic = live(expires=T0 + timedelta(days=40))
        t = license_terms("renew", T0, current=lic, overrides=asked_overrides(Ask(9, 3, 0)))
        assert (t.nodes, t.remote_clusters, t.expires) == (9, 2, add_months(T0 + timedelta(days=40), 3))


class TestChanges:
    def test_a_renewal_by_default_only_lengthens_the_term(self) -> None:
        lic = live(expires=T0 + timedelta(days=40))
        t = license_terms("renew", T0, current=lic)
        end, new_end = T0 + timedelta(days=40), add_months(T0 + timedelta(days=40), 12)
        assert changes(lic, t) == (Change("expires", end, new_end, "grows"), Change("maintenance_until", end, new_end, "grows"))

    def test_what_grows_shrinks_or_changes(self) -> None:
        lic = live(expires=T0 + timedelta(days=40))
        t = license_terms("renew", T0, current=lic, overrides=Overrides(nodes=2, remote_clusters=5, features=("sso", "audit"), months=1))
        got = {c.term: (c.before, c.after, c.direction) for c in changes(lic, t)}
        assert got["nodes"] == (4, 2, "shrinks")
        assert got["remote_clusters"] == (2, 5, "grows")
        assert got["features"] == (["multi-cluster", "sso"], ["audit", "sso"], "changes")
        assert got["expires"][2] == "grows"  # a month on from the end is still later than the end
        assert [c.term for c in losses(changes(lic, t))] == ["nodes", "features"]  # a feature swapped out is a loss too
        dropped = license_terms("renew", T0, current=lic, overrides=Overrides(features=("sso",)))
        assert {c.term: c.direction for c in changes(lic, dropped)}["features"] == "shrinks"

    def test_features_in_another_order_are_the_same(self) -> None:
        lic = live(expires=T0 + timedelta(days=40))
        same = license_terms("renew", T0, current=lic, overrides=Overrides(features=("sso", "multi-cluster"), expires=lic.expires))
        assert changes(lic, same) == ()

    def test_perpetual_counts_as_the_latest_end(self) -> None:
        sub = live(expires=T0 + timedelta(days=40))
        perp = live(type="perpetual", expires=None, maintenance_until=T0 + timedelta(days=40))
        got = {c.term: c.direction for c in changes(sub, perp)}
        assert (got["type"], got["expires"]) == ("changes", "grows")
