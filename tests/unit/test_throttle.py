"""The login limit, decided: per user name, per address, sliding window, known addresses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from licensor.throttle import LoginHistory, LoginPolicy, address_key, decide, user_key

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = LoginPolicy(user_limit=5, address_limit=20, window=timedelta(minutes=15))


def ago(*minutes: float) -> tuple[datetime, ...]:
    return tuple(NOW - timedelta(minutes=m) for m in minutes)


class TestDecide:
    def test_nothing_known_is_allowed(self) -> None:
        """A first attempt runs."""
        d = decide(POLICY, LoginHistory(), NOW)
        assert d.allowed and d.retry_after == 0 and d.hint == ""

    def test_user_limit_locks_until_the_oldest_counted_failure_leaves_the_window(self) -> None:
        """Five failures of one user name within 15 minutes lock it; the lock ends when the oldest of them is 15 minutes old."""
        d = decide(POLICY, LoginHistory(user_failures=ago(10, 8, 6, 4, 2)), NOW)
        assert not d.allowed and d.reason == "user"
        assert d.until == NOW + timedelta(minutes=5) and d.retry_after == 300
        assert "try again in 5 minutes" in d.hint and "for this user name" in d.hint and d.hint[0].isupper()
        assert decide(POLICY, LoginHistory(user_failures=ago(10, 8, 6, 4, 2)), NOW + timedelta(minutes=5)).allowed

    def test_four_failures_do_not_lock(self) -> None:
        """The limit is the number of failures that locks, not one more."""
        assert decide(POLICY, LoginHistory(user_failures=ago(4, 3, 2, 1)), NOW).allowed

    def test_failures_outside_the_window_do_not_count(self) -> None:
        """A failure 15 minutes old or older counts for nothing."""
        assert decide(POLICY, LoginHistory(user_failures=ago(15, 16, 20, 30, 1)), NOW).allowed

    def test_address_limit_holds_whatever_the_user_name(self) -> None:
        """Twenty failures from one address lock that address, for every user name and known or not."""
        failures = ago(*[14 - i * 0.5 for i in range(20)])
        d = decide(POLICY, LoginHistory(address_failures=failures, known_since=NOW - timedelta(days=1)), NOW)
        assert not d.allowed and d.reason == "address" and "from this address" in d.hint
        assert d.until == failures[0] + POLICY.window

    def test_known_address_is_held_only_by_its_own_failures(self) -> None:
        """A stranger's failures lock the user name for strangers, not for an address its owner signed in from."""
        strangers = LoginHistory(user_failures=ago(5, 4, 3, 2, 1))
        assert not decide(POLICY, strangers, NOW).allowed
        known = LoginHistory(user_failures=ago(5, 4, 3, 2, 1), known_since=NOW - timedelta(days=2))
        assert decide(POLICY, known, NOW).allowed
        own = LoginHistory(user_failures=ago(5, 4, 3, 2, 1), known_since=NOW - timedelta(days=2), pair_failures=ago(5, 4, 3, 2, 1))
        assert not decide(POLICY, own, NOW).allowed

    def test_an_old_success_does_not_make_an_address_known(self) -> None:
        """A success longer ago than ``remember`` is forgotten."""
        h = LoginHistory(user_failures=ago(5, 4, 3, 2, 1), known_since=NOW - POLICY.remember - timedelta(seconds=1))
        assert not decide(POLICY, h, NOW).allowed

    def test_the_later_of_two_locks_is_the_answer(self) -> None:
        """Locked both ways: the wait is until both have ended."""
        h = LoginHistory(user_failures=ago(14, 13, 12, 11, 10), address_failures=ago(*[5 - i * 0.1 for i in range(20)]))
        d = decide(POLICY, h, NOW)
        assert d.reason == "address" and d.until == NOW + timedelta(minutes=10)

    def test_retry_after_is_at_least_one_second(self) -> None:
        """A lock about to end still says to wait."""
        d = decide(POLICY, LoginHistory(user_failures=(NOW - POLICY.window + timedelta(milliseconds=1), *ago(1, 1, 1, 1))), NOW)
        assert not d.allowed and d.retry_after == 1 and "try again in 1 second (" in d.hint

    def test_bad_policy_is_refused(self) -> None:
        """A limit of 0 would lock everyone out."""
        with pytest.raises(ValueError, match="at least 1"):
            LoginPolicy(user_limit=0)
        with pytest.raises(ValueError, match="must be positive"):
            LoginPolicy(window=timedelta(0))


class TestKeys:
    def test_user_names_are_counted_without_case_or_space(self) -> None:
        """'Admin ' and 'admin' are one user name for the count."""
        assert user_key(" Admin ") == user_key("admin") == "admin"

    @pytest.mark.parametrize(
        ("host", "key"),
        [
            ("127.0.0.1", "127.0.0.1"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
            ("::ffff:10.0.0.1", "10.0.0.1"),
            ("fe80::1%eth0", "fe80::/64"),
            ("testclient", "testclient"),
            ("", "unknown"),
        ],
    )
    def test_addresses_are_counted_by_what_one_holder_controls(self, host: str, key: str) -> None:
        """An IPv6 client is counted by its /64: changing the interface id does not make a new address."""
        assert address_key(host) == key
