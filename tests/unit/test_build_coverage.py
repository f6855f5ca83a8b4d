"""Whether this build is covered by maintenance (``coverage.build_coverage``) and what a renewal asks (``renewal_ask``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from licensor.coverage import build_coverage, parse_build_date, renewal_ask
from licensor.license import License
from licensor.policy import Installation
from licensor.testing import TestVendor

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _license(**kw: Any) -> License:
    inst = Installation(id="inst-coverage", product="demo", factors={"machine_id": "m1", "hostname": "h1"})
    return TestVendor().license(inst, now=NOW, **kw)


def test_a_build_made_before_maintenance_ends_is_covered() -> None:
    lic = _license(maintenance_until=datetime(2027, 6, 30, tzinfo=UTC), months=24)
    cov = build_coverage(lic, "1.2.3", datetime(2026, 5, 1, tzinfo=UTC))
    assert cov.state == "covered" and cov.covered and cov.advice == ""
    assert cov.sentence == "This build (licensor 1.2.3, built 2026-05-01) is covered by maintenance until 2027-06-30."


def test_a_build_made_on_the_last_day_is_covered_and_the_day_after_is_not() -> None:
    end = datetime(2027, 6, 30, tzinfo=UTC)
    lic = _license(type="perpetual", maintenance_until=end)
    assert build_coverage(lic, "1.0", end).covered
    late = build_coverage(lic, "1.0", end + timedelta(days=1))
    assert late.state == "not_covered" and not late.covered
    assert late.sentence == (
        "This build (licensor 1.0, built 2027-07-01) was built after maintenance ended on 2027-06-30: "
        "it keeps running, but it is not covered by maintenance."
    )
    assert "renewal" in late.advice and "2027-06-30" in late.advice


def test_no_license_and_an_unknown_build_date_say_so() -> None:
    none = build_coverage(None, "1.0", NOW)
    assert none.state == "no_license" and "no license is activated here" in none.sentence and not none.covered
    unknown = build_coverage(_license(), "1.0", None)
    assert unknown.state == "unknown" and "unknown date" in unknown.sentence


def test_build_dates_are_read_as_utc_days_or_times() -> None:
    assert parse_build_date("2026-05-01") == datetime(2026, 5, 1, tzinfo=UTC)
    assert parse_build_date("2026-05-01T12:00:00Z") == datetime(2026, 5, 1, 12, tzinfo=UTC)
    assert parse_build_date("2026-05-01T12:00:00+02:00") == datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert parse_build_date("yesterday") is None and parse_build_date("") is None


def test_a_renewal_asks_for_the_same_nodes_clusters_and_term() -> None:
    assert renewal_ask(None) == {"nodes": 0, "remote_clusters": 0, "months": 12}
    assert renewal_ask(_license(nodes=7, remote_clusters=2, months=36)) == {"nodes": 7, "remote_clusters": 2, "months": 36}
    assert renewal_ask(_license(months=1))["months"] == 1
    perpetual = _license(type="perpetual", months=18, nodes=3)
    assert renewal_ask(perpetual) == {"nodes": 3, "remote_clusters": 0, "months": 18}
