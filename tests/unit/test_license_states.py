"""``licensor.terms.license_state``, ``check_issue`` and ``check_features``: where a license stands, what may be issued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licensor.errors import UsageError
from licensor.terms import EXPIRING_DAYS, Overrides, Plan, check_features, check_issue, license_state, license_terms

NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=UTC)
PERP = Plan("perpetual", "perpetual", maintenance_months=12)


class TestLicenseState:
    def test_superseded_wins_over_dates(self) -> None:
        """A superseded key is superseded whether it has expired or not."""
        assert license_state(NOW + timedelta(days=400), "next", NOW) == "superseded"
        assert license_state(NOW - timedelta(days=1), "next", NOW) == "superseded"
        assert license_state(None, "next", NOW) == "superseded"

    def test_perpetual_is_current(self) -> None:
        """A live key that never expires is current."""
        assert license_state(None, None, NOW) == "current"

    @pytest.mark.parametrize(
        ("days", "state"),
        [(-400, "expired"), (0, "expired"), (1, "expiring soon"), (EXPIRING_DAYS, "expiring soon"), (EXPIRING_DAYS + 1, "current")],
    )
    def test_by_expiry(self, days: int, state: str) -> None:
        """Expired at or after the expiry, expiring soon within the window, else current."""
        assert license_state(NOW + timedelta(days=days), None, NOW) == state

    def test_window_is_a_parameter(self) -> None:
        """The expiring-soon window can be widened (a 90-day view)."""
        assert license_state(NOW + timedelta(days=60), None, NOW, soon_days=90) == "expiring soon"


class TestCheckIssue:
    def test_zero_nodes_refused(self) -> None:
        """A license with no node is refused in a sentence."""
        t = license_terms("issue", NOW, overrides=Overrides(nodes=0))
        with pytest.raises(UsageError, match=r"^A license needs at least 1 node"):
            check_issue(t, plan=None, type_given=None)

    def test_plan_sets_the_type(self) -> None:
        """Plan perpetual with type subscription is refused; the plan's own type passes."""
        t = license_terms("issue", NOW, plan=PERP, overrides=Overrides(nodes=3, type="subscription"))
        with pytest.raises(UsageError, match=r"^The plan perpetual is perpetual, not subscription") as e:
            check_issue(t, plan=PERP, type_given="subscription")
        assert e.value.details == {"field": "type"}
        check_issue(license_terms("issue", NOW, plan=PERP, overrides=Overrides(nodes=3)), plan=PERP, type_given="perpetual")
        check_issue(license_terms("issue", NOW, plan=PERP, overrides=Overrides(nodes=3)), plan=PERP, type_given=None)

    def test_past_expiry_refused_in_words(self) -> None:
        """An expiry in the past is refused by the term function with a sentence naming the date."""
        with pytest.raises(UsageError, match=r"^The expiry date 2025-01-01T00:00:00Z is already past"):
            license_terms("issue", NOW, overrides=Overrides(nodes=1, expires=datetime(2025, 1, 1, tzinfo=UTC)))


class TestCheckFeatures:
    def test_known_and_open_catalogues_pass(self) -> None:
        """Features of the catalogue pass; an empty catalogue takes any name."""
        check_features("demo", ["audit"], ["audit", "multi-cluster"])
        check_features("demo", ["anything"], [])

    def test_unknown_refused_naming_it_and_the_known_ones(self) -> None:
        """An unknown feature is refused, naming it and the catalogue."""
        with pytest.raises(UsageError, match=r"^Product demo has no feature multi-clustr: its catalogue is audit, multi-cluster") as e:
            check_features("demo", ["multi-clustr", "audit"], ["multi-cluster", "audit"])
        assert e.value.details["unknown"] == ["multi-clustr"]

    def test_unknown_passes_when_confirmed(self) -> None:
        """The vendor's explicit confirmation lets an unknown feature through."""
        check_features("demo", ["multi-clustr"], ["multi-cluster"], allow_unknown=True)
