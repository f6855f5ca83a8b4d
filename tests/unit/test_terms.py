"""``licensor.terms.license_terms``: the one place that decides a license's terms from plan, request and overrides."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import pytest

from licensor.errors import UsageError
from licensor.terms import MAX_MONTHS, Ask, LicenseType, Overrides, Plan, add_months, license_terms

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
SUB = Plan("subscription", "subscription", months=24, maintenance_months=6, nodes=10, features=("fips",), grace_days=7)
PERP = Plan("perpetual", "perpetual", months=3, maintenance_months=36, nodes=4, features=("hsm",), grace_days=2)


@dataclass(frozen=True)
class Old:
    """A license being renewed or rehosted (the fields ``Current`` needs)."""

    type: LicenseType
    expires: datetime | None
    maintenance_until: datetime
    nodes: int = 5
    remote_clusters: int = 1
    features: tuple[str, ...] = ("a",)
    grace_days: int = 3


class TestIssue:
    def test_nothing_given_is_a_twelve_month_subscription(self) -> None:
        """No plan, no request, no override: subscription, 12 months, maintenance to expiry, nothing else."""
        t = license_terms("issue", NOW)
        assert (t.type, t.months, t.nodes, t.remote_clusters, t.features, t.grace_days) == ("subscription", 12, 0, 0, (), 0)
        assert t.expires == t.maintenance_until == datetime(2027, 1, 31, 12, tzinfo=UTC)

    def test_request_wins_over_subscription_plan(self) -> None:
        """What the request asks (nodes, months, clusters) beats the plan; features and grace come from the plan."""
        t = license_terms("issue", NOW, plan=SUB, ask=Ask(nodes=3, months=6, remote_clusters=2))
        assert (t.type, t.nodes, t.months, t.remote_clusters, t.features, t.grace_days) == ("subscription", 3, 6, 2, ("fips",), 7)
        assert t.expires == datetime(2026, 7, 31, 12, tzinfo=UTC)

    def test_plan_fills_what_the_request_leaves_out(self) -> None:
        """A request asking 0 nodes and 0 months takes the plan's nodes and months."""
        t = license_terms("issue", NOW, plan=SUB, ask=Ask())
        assert (t.nodes, t.months) == (10, 24)
        assert t.expires == datetime(2028, 1, 31, 12, tzinfo=UTC)

    def test_perpetual_plan_never_expires_and_runs_maintenance_months(self) -> None:
        """Perpetual: no expiry; maintenance the plan's maintenance months (the request's months do not count)."""
        t = license_terms("issue", NOW, plan=PERP, ask=Ask(nodes=0, months=6))
        assert (t.type, t.expires, t.months, t.nodes, t.features, t.grace_days) == ("perpetual", None, 36, 4, ("hsm",), 2)
        assert t.maintenance_until == datetime(2029, 1, 31, 12, tzinfo=UTC)

    def test_plan_of_other_type_gives_no_term(self) -> None:
        """A perpetual license on a subscription plan: the plan's counts, but 12 months of maintenance, not its months."""
        t = license_terms("issue", NOW, plan=SUB, overrides=Overrides(type="perpetual"))
        assert (t.type, t.expires, t.months, t.nodes) == ("perpetual", None, 12, 10)
        t = license_terms("issue", NOW, plan=PERP, overrides=Overrides(type="subscription"))
        assert (t.type, t.months) == ("subscription", 12)

    def test_overrides_win(self) -> None:
        """Every explicit value beats request and plan."""
        given = Overrides(nodes=0, months=2, remote_clusters=0, features=("x", "y"), grace_days=0)
        t = license_terms("issue", NOW, plan=SUB, ask=Ask(nodes=3, months=6, remote_clusters=2), overrides=given)
        assert (t.nodes, t.months, t.remote_clusters, t.features, t.grace_days) == (0, 2, 0, ("x", "y"), 0)

    def test_expiry_and_maintenance_given(self) -> None:
        """Dates given are kept (in UTC, to the second); maintenance defaults to the expiry."""
        exp = datetime(2027, 5, 1, 2, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
        t = license_terms("issue", NOW, overrides=Overrides(expires=exp))
        assert t.expires == t.maintenance_until == datetime(2027, 5, 1, 0, 0, tzinfo=UTC)
        assert t.months is None
        maint = datetime(2026, 6, 1, tzinfo=UTC)
        t = license_terms("issue", NOW, overrides=Overrides(type="perpetual", maintenance_until=maint))
        assert (t.expires, t.maintenance_until) == (None, maint)

    def test_month_end_clamps(self) -> None:
        """January 31 plus one month is the last day of February."""
        t = license_terms("issue", NOW, overrides=Overrides(months=1))
        assert t.expires == datetime(2026, 2, 28, 12, tzinfo=UTC)


class TestRefusals:
    @pytest.mark.parametrize(
        ("given", "words"),
        [
            (Overrides(type="perpetual", expires=datetime(2027, 1, 1, tzinfo=UTC)), "does not expire"),
            (Overrides(months=3, expires=datetime(2027, 1, 1, tzinfo=UTC)), "not both"),
            (Overrides(expires=datetime(2025, 1, 1, tzinfo=UTC)), "already past"),
            (Overrides(expires=NOW), "already past"),
            (Overrides(months=0), "from 1 to"),
            (Overrides(months=MAX_MONTHS + 1), "from 1 to"),
            (Overrides(months=True), "whole number"),
            (Overrides(expires=datetime(2027, 1, 1, tzinfo=UTC).replace(tzinfo=None)), "no time zone"),
        ],
    )
    def test_impossible_terms_are_usage_errors(self, given: Overrides, words: str) -> None:
        """What cannot be signed is refused by name, never a crash."""
        with pytest.raises(UsageError, match=words):
            license_terms("issue", NOW, overrides=given)

    def test_beyond_year_9999(self) -> None:
        """A term that would end after 9999 is refused, not an OverflowError."""
        with pytest.raises(UsageError, match="9999"):
            license_terms("issue", datetime(9990, 1, 1, tzinfo=UTC), overrides=Overrides(months=MAX_MONTHS))

    def test_renew_and_rehost_need_the_old_license(self) -> None:
        with pytest.raises(UsageError, match="supersedes"):
            license_terms("renew", NOW)

    def test_naive_now(self) -> None:
        with pytest.raises(UsageError, match="no time zone"):
            license_terms("issue", NOW.replace(tzinfo=None))


class TestRenew:
    def test_subscription_runs_on_from_its_end(self) -> None:
        """A running subscription is extended from its current expiry, by the plan's months."""
        old = Old("subscription", datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))
        t = license_terms("renew", NOW, plan=SUB, current=old)
        assert t.expires == t.maintenance_until == datetime(2028, 6, 30, tzinfo=UTC)
        assert (t.type, t.nodes, t.remote_clusters, t.features, t.grace_days) == ("subscription", 5, 1, ("a",), 3)

    def test_lapsed_subscription_runs_from_now(self) -> None:
        """A subscription that already ended is renewed from now, 12 months without a plan."""
        old = Old("subscription", datetime(2025, 6, 30, tzinfo=UTC), datetime(2025, 6, 30, tzinfo=UTC))
        t = license_terms("renew", NOW, current=old)
        assert t.expires == datetime(2027, 1, 31, 12, tzinfo=UTC)

    def test_months_and_overrides(self) -> None:
        """Months given beat the plan; counts and features given replace the old ones."""
        old = Old("subscription", datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))
        given = Overrides(months=1, nodes=9, remote_clusters=0, features=(), grace_days=0)
        t = license_terms("renew", NOW, plan=SUB, current=old, overrides=given)
        assert t.expires == datetime(2026, 7, 30, tzinfo=UTC)
        assert (t.nodes, t.remote_clusters, t.features, t.grace_days) == (9, 0, (), 0)

    def test_zero_months_is_the_default_term(self) -> None:
        """A renewal asked for 0 months gets the plan's term (a new license would be refused)."""
        old = Old("subscription", datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))
        assert license_terms("renew", NOW, plan=SUB, current=old, overrides=Overrides(months=0)).expires == datetime(
            2028, 6, 30, tzinfo=UTC
        )

    def test_expiry_given(self) -> None:
        old = Old("subscription", datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 6, 30, tzinfo=UTC))
        t = license_terms("renew", NOW, current=old, overrides=Overrides(expires=datetime(2030, 1, 1, tzinfo=UTC)))
        assert t.expires == t.maintenance_until == datetime(2030, 1, 1, tzinfo=UTC)

    def test_months_and_expiry_refused(self) -> None:
        old = Old("subscription", None, NOW)
        with pytest.raises(UsageError, match="not both"):
            license_terms("renew", NOW, current=old, overrides=Overrides(months=2, expires=datetime(2030, 1, 1, tzinfo=UTC)))

    def test_perpetual_maintenance_runs_on(self) -> None:
        """A perpetual license's maintenance is extended from its end (or now, if it lapsed); it never expires."""
        old = Old("perpetual", None, datetime(2026, 3, 1, tzinfo=UTC))
        t = license_terms("renew", NOW, plan=PERP, current=old)
        assert (t.expires, t.maintenance_until) == (None, datetime(2029, 3, 1, tzinfo=UTC))
        lapsed = Old("perpetual", None, datetime(2025, 3, 1, tzinfo=UTC))
        assert license_terms("renew", NOW, current=lapsed).maintenance_until == add_months(NOW, 12)

    def test_perpetual_expiry_refused_unless_maintenance_given(self) -> None:
        """An expiry for a perpetual renewal is refused; beside a maintenance end it is not signed."""
        old = Old("perpetual", None, datetime(2026, 3, 1, tzinfo=UTC))
        with pytest.raises(UsageError, match="does not expire"):
            license_terms("renew", NOW, current=old, overrides=Overrides(expires=datetime(2030, 1, 1, tzinfo=UTC)))
        maint = datetime(2031, 1, 1, tzinfo=UTC)
        given = Overrides(expires=datetime(2030, 1, 1, tzinfo=UTC), maintenance_until=maint)
        t = license_terms("renew", NOW, current=old, overrides=given)
        assert (t.expires, t.maintenance_until) == (None, maint)


class TestRehost:
    def test_keeps_the_old_terms(self) -> None:
        """A rehost keeps expiry, maintenance end, counts, features and grace."""
        old = Old("subscription", datetime(2026, 6, 30, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
        t = license_terms("rehost", NOW, current=old)
        assert (t.expires, t.maintenance_until) == (old.expires, old.maintenance_until)
        assert (t.nodes, t.remote_clusters, t.features, t.grace_days) == (5, 1, ("a",), 3)

    def test_overrides(self) -> None:
        old = Old("perpetual", None, datetime(2026, 5, 1, tzinfo=UTC))
        t = license_terms("rehost", NOW, current=old, overrides=Overrides(nodes=2, maintenance_until=datetime(2027, 1, 1, tzinfo=UTC)))
        assert (t.expires, t.maintenance_until, t.nodes) == (None, datetime(2027, 1, 1, tzinfo=UTC), 2)

    def test_lapsed_subscription_cannot_move(self) -> None:
        """A subscription that has ended cannot be rehosted without a new expiry."""
        old = Old("subscription", datetime(2025, 6, 30, tzinfo=UTC), datetime(2025, 6, 30, tzinfo=UTC))
        with pytest.raises(UsageError, match="already past"):
            license_terms("rehost", NOW, current=old)
        t = license_terms("rehost", NOW, current=old, overrides=Overrides(expires=datetime(2027, 1, 1, tzinfo=UTC)))
        assert t.expires == datetime(2027, 1, 1, tzinfo=UTC)
