"""``licensor.due``: the state and renewal windows agree with ``terms.license_state``; days left; CSV cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from licensor.due import STATES, days_left, due_window, state_window
from licensor.issuer.licenses.export import csv_text, safe_cell
from licensor.terms import EXPIRING_DAYS, license_state

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
#: Expiries on and around every edge: now, the end of the "expiring soon" window, a second either side.
EDGES = [NOW + timedelta(days=d, seconds=s) for d in (-400, -1, 0, 1, 29, 30, 31, 60, 90, 400) for s in (-1, 0, 1)]


def test_each_license_is_in_the_window_of_its_state_and_no_other() -> None:
    for superseded_by in (None, "newer"):
        for expires in [None, *EDGES]:
            state = license_state(expires, superseded_by, NOW)
            admitted = [s for s in STATES if state_window(s, NOW).admits(expires, superseded_by)]
            assert admitted == [state], (expires, superseded_by)


@given(
    offset=st.integers(min_value=-(10**9), max_value=10**9),
    soon=st.integers(min_value=0, max_value=400),
    superseded=st.booleans(),
    never=st.booleans(),
)
def test_windows_agree_with_license_state_anywhere(offset: int, soon: int, superseded: bool, never: bool) -> None:
    expires = None if never else NOW + timedelta(seconds=offset)
    by = "newer" if superseded else None
    state = license_state(expires, by, NOW, soon_days=soon)
    assert [s for s in STATES if state_window(s, NOW, soon_days=soon).admits(expires, by)] == [state]


def test_due_within_n_days_is_a_live_key_expiring_in_the_window() -> None:
    w = due_window(30, NOW)
    assert w.admits(NOW + timedelta(days=30), None) and w.admits(NOW + timedelta(seconds=1), None)
    assert not w.admits(NOW + timedelta(days=30, seconds=1), None)
    assert not w.admits(NOW, None), "expired at this instant: lapsed, not due"
    assert not w.admits(NOW + timedelta(days=3), "newer"), "a superseded key is not the installation's key any more"
    assert not w.admits(None, None), "a key without expiry is never due"
    # Due within the soon window is exactly "expiring soon".
    for expires in EDGES:
        assert due_window(EXPIRING_DAYS, NOW).admits(expires, None) == (license_state(expires, None, NOW) == "expiring soon")


def test_days_left_counts_whole_days_down() -> None:
    assert days_left(None, NOW) is None
    assert days_left(NOW + timedelta(days=10, hours=23), NOW) == 10
    assert days_left(NOW + timedelta(hours=5), NOW) == 0
    assert days_left(NOW - timedelta(hours=5), NOW) == -1


def test_csv_cells_never_start_a_formula() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("ACME") == "ACME" and safe_cell(-3) == -3 and safe_cell(None) == "" and safe_cell(["a", "b"]) == "a b"
    text = csv_text([{"license_id": "x", "customer": '=HYPERLINK("http://evil")', "days_left": -2}])
    assert text.splitlines()[1].startswith('x,"\'=HYPERLINK(""http://evil"")"')
    assert ",-2," in text
