"""check() remembers verified keys per key ring: never a verdict, never across a ring change, never for a changed text."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

from licensor import Keyring, VendorKey, check
from licensor.policy import VERIFIED_MAX
from licensor.testing import T0, TestVendor, test_installation


def _tampered(token: str) -> str:
    at = len(token) // 2
    return token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]


class TestVerifiedCache:
    def test_a_second_check_of_the_same_text_is_remembered_and_gives_the_same_verdict(self) -> None:
        """The first check verifies and remembers the text; the second gives an equal verdict from the ring's memory."""
        vendor = TestVendor()
        _, inst = test_installation()
        token, ring = vendor.issue(inst), vendor.keyring
        first = check(token, ring, inst, T0)
        assert first.code == "valid"
        assert list(ring.verified) == [token]
        assert check(token, ring, inst, T0) == first

    def test_the_verdict_is_not_remembered_only_the_verification(self) -> None:
        """A remembered key is judged again at each call: later it is in grace, then expired; elsewhere it is refused."""
        vendor = TestVendor()
        _, inst = test_installation()
        _, other = test_installation()
        token, ring = vendor.issue(inst, grace_days=7), vendor.keyring
        lic = check(token, ring, inst, T0).license
        assert lic is not None and lic.expires is not None
        assert check(token, ring, inst, lic.expires + timedelta(days=1)).code == "grace"
        assert check(token, ring, inst, lic.expires + timedelta(days=8)).code == "expired"
        assert check(token, ring, other, T0).code == "wrong_installation"
        assert check(token, ring, replace(inst, highest_serial=2), T0).code == "superseded"

    def test_another_key_ring_never_hits(self) -> None:
        """A text verified by one ring is refused by a ring that does not trust its signer."""
        vendor = TestVendor()
        _, inst = test_installation()
        token = vendor.issue(inst)
        assert check(token, vendor.keyring, inst, T0).code == "valid"
        stranger = Keyring([VendorKey.generate().public_key])
        assert check(token, stranger, inst, T0).code == "unknown_key"
        assert not stranger.verified

    def test_a_changed_key_ring_forgets_what_it_verified(self) -> None:
        """Adding a key to a ring empties its memory: the next check verifies the signature again."""
        vendor = TestVendor()
        _, inst = test_installation()
        token, ring = vendor.issue(inst), vendor.keyring
        check(token, ring, inst, T0)
        assert token in ring.verified
        ring.add(VendorKey.generate().public_key)
        assert not ring.verified
        assert check(token, ring, inst, T0).code == "valid"
        assert list(ring.verified) == [token]

    def test_tampered_text_never_hits_and_is_never_remembered(self) -> None:
        """A changed character after the valid key was remembered: refused in full, and the refusal is not kept."""
        vendor = TestVendor()
        _, inst = test_installation()
        token, ring = vendor.issue(inst), vendor.keyring
        assert check(token, ring, inst, T0).code == "valid"
        for bad in (_tampered(token), token[:-1], token + "A", token.replace("v4.public.", "v4.local.")):
            assert check(bad, ring, inst, T0).code in ("bad_signature", "malformed"), bad
            assert check(bad, ring, inst, T0).code in ("bad_signature", "malformed"), bad
        assert list(ring.verified) == [token]

    def test_the_memory_is_bounded(self) -> None:
        """More distinct keys than VERIFIED_MAX: the ring keeps at most VERIFIED_MAX, the newest ones."""
        vendor = TestVendor()
        _, inst = test_installation()
        ring = vendor.keyring
        tokens = [vendor.issue(inst, serial=i + 1) for i in range(VERIFIED_MAX + 20)]
        for t in tokens:
            assert check(t, ring, inst, T0).code == "valid"
        assert len(ring.verified) == VERIFIED_MAX
        assert list(ring.verified) == tokens[-VERIFIED_MAX:]

    def test_threads_checking_at_once_all_get_the_right_verdict(self) -> None:
        """Eight threads checking a mix of good, tampered and new keys on one ring: every verdict right, the memory bounded."""
        vendor = TestVendor()
        _, inst = test_installation()
        ring = vendor.keyring
        good = [vendor.issue(inst, serial=i + 1) for i in range(40)]
        errors: list[str] = []

        def work(n: int) -> None:
            for i in range(300):
                t = good[(i * (n + 1)) % len(good)]
                if i % 3 == 0:
                    if check(_tampered(t), ring, inst, T0).code not in ("bad_signature", "malformed"):
                        errors.append("tampered accepted")
                elif check(t, ring, inst, T0).code != "valid":
                    errors.append("good refused")

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=120)
        assert not errors
        assert set(ring.verified) <= set(good)


class TestValidVerdict:
    def test_the_valid_verdict_is_a_plain_frozen_verdict(self) -> None:
        """The valid verdict, built without the dataclass __init__, equals one built by it and stays frozen."""
        import dataclasses

        import pytest

        from licensor import Verdict

        vendor = TestVendor()
        _, inst = test_installation()
        v = check(vendor.issue(inst), vendor.keyring, inst, T0)
        assert type(v) is Verdict and v.code == "valid" and v.valid
        assert v == Verdict(v.code, v.hint, v.license, v.warnings, {})
        assert v.details == {} and v.as_dict()["code"] == "valid"
        with pytest.raises(dataclasses.FrozenInstanceError):
            v.code = "expired"  # type: ignore[misc]


class TestKnownFooters:
    """The key ring reads each footer once and keeps its key id; a known footer never lets a body skip a check."""

    def test_a_known_footer_with_a_changed_short_or_missing_body_is_refused(self) -> None:
        """After a genuine key taught the ring its footer, bodies around that footer are still decoded and verified."""
        vendor = TestVendor()
        _, inst = test_installation()
        ring = vendor.keyring
        token = vendor.issue(inst)
        assert check(token, ring, inst, T0).code == "valid"
        head, body, footer = token.rsplit(".", 2)
        assert check(f"{head}.{_tampered(body)}.{footer}", ring, inst, T0).code == "bad_signature"
        assert check(f"{head}.{body[:80]}.{footer}", ring, inst, T0).code == "malformed"
        assert check(f"{head}..{footer}", ring, inst, T0).code == "malformed"
        assert check(f"{head}.{body}=.{footer}", ring, inst, T0).code == "malformed"
        assert check(f"{head}.{body}.{footer}.x", ring, inst, T0).code == "malformed"
        assert check(f"v4.public.{body}.{footer}", ring, inst, T0).code == "valid"

    def test_a_footer_naming_an_untrusted_key_is_refused_every_time(self) -> None:
        """A footer is kept only with the key id it names; a ring that does not trust that key refuses on every check."""
        vendor, stranger = TestVendor(), TestVendor()
        _, inst = test_installation()
        token = stranger.issue(inst)
        ring = vendor.keyring
        assert [check(token, ring, inst, T0).code for _ in range(3)] == ["unknown_key"] * 3
