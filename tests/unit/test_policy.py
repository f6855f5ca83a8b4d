"""evaluate() and check(): one test per state, and the hints people read."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from licensor import Installation, Keyring, VendorKey, check, evaluate, feature_enabled, update_allowed
from licensor.identity import hash_factors
from licensor.testing import T0, TestVendor, test_installation


class TestEvaluate:
    def test_valid(self) -> None:
        """A fresh key for this installation and product is valid, with its terms."""
        vendor = TestVendor()
        _, inst = test_installation()
        v = check(vendor.issue(inst, nodes=5, features=("fips",)), vendor.keyring, inst, T0)
        assert v.code == "valid" and v.valid and v.keeps_seats
        assert v.license is not None and v.license.nodes == 5
        assert feature_enabled(v, "fips") and not feature_enabled(v, "multi-cluster")

    def test_missing(self) -> None:
        """No key: missing, with a hint that says how to get one."""
        _, inst = test_installation()
        for nothing in (None, "", "  \n"):
            v = check(nothing, Keyring([VendorKey.generate().public_key]), inst, T0)
            assert v.code == "missing"
            assert "request" in v.hint and inst.id in v.hint

    def test_malformed(self) -> None:
        """Text that is not a key is malformed, not forged."""
        _, inst = test_installation()
        v = check("hello, here is my key", TestVendor().keyring, inst, T0)
        assert v.code == "malformed" and not v.keeps_seats

    def test_other_algorithms_are_malformed_not_negotiated(self) -> None:
        """v3.public or v4.local tokens are refused by name: there is no algorithm choice."""
        _, inst = test_installation()
        for t in ("v3.public.eyJhIjoxfQ", "v4.local.AAAA", "v2.public.AAAA"):
            v = check(t, TestVendor().keyring, inst, T0)
            assert v.code == "malformed" and "v4.public" in v.hint

    def test_bad_signature(self) -> None:
        """A key whose content was changed after signing fails the signature."""
        vendor = TestVendor()
        _, inst = test_installation()
        token = vendor.issue(inst)
        forged = vendor.license(inst, nodes=10_000).sign(VendorKey.generate())
        # Splice the other key's claims into this key's signature and footer.
        body = forged.split(".")[2]
        good_body = token.split(".")[2]
        spliced = "v4.public." + body[: len(body) - 86] + good_body[-86:] + "." + token.split(".")[3]
        v = check(spliced, vendor.keyring, inst, T0)
        assert v.code == "bad_signature"

    def test_unknown_key(self) -> None:
        """A key signed by a vendor key not in the ring names that key id."""
        vendor, other = TestVendor(), TestVendor()
        _, inst = test_installation()
        v = check(other.issue(inst), vendor.keyring, inst, T0)
        assert v.code == "unknown_key"
        assert other.key.kid in v.hint

    def test_wrong_product(self) -> None:
        """A key for another product is refused naming both products."""
        vendor = TestVendor()
        _, inst = test_installation(product="guard")
        v = check(vendor.issue(inst, product="analyser"), vendor.keyring, inst, T0)
        assert v.code == "wrong_product" and "analyser" in v.hint and "guard" in v.hint

    def test_wrong_installation_names_both(self) -> None:
        """A key issued for installation A, used on B: the hint names A and B."""
        vendor = TestVendor()
        _, a = test_installation()
        _, b = test_installation()
        v = check(vendor.issue(a), vendor.keyring, b, T0)
        assert v.code == "wrong_installation"
        assert a.id in v.hint and b.id in v.hint
        assert v.details == {"issued_for": a.id, "this_installation": b.id}

    def test_copy_on_another_cluster_is_refused_naming_the_factor(self) -> None:
        """Same identity (restored database) on another cluster: the cluster factor differs."""
        vendor = TestVendor()
        key, home = test_installation(factors={"cluster": "uid-1", "machine": "m1", "hostname": "h1"})
        _, copy = test_installation(factors={"cluster": "uid-2", "machine": "m1", "hostname": "h1"}, key=key)
        v = check(vendor.issue(home), vendor.keyring, copy, T0)
        assert v.code == "wrong_installation"
        assert v.details["factors_changed"] == ["cluster"]
        assert "cluster" in v.hint and "rehost" in v.hint

    def test_failover_and_replaced_host_in_the_cluster_stay_valid(self) -> None:
        """Another replica or a replaced host of the same cluster keeps the license."""
        vendor = TestVendor()
        key, home = test_installation(factors={"cluster": "uid-1", "machine": "m1", "hostname": "h1"})
        _, failover = test_installation(factors={"cluster": "uid-1", "machine": "m2", "hostname": "h2"}, key=key)
        assert check(vendor.issue(home), vendor.keyring, failover, T0).code == "valid"

    def test_without_a_cluster_id_one_changed_host_factor_is_tolerated(self) -> None:
        """k-of-n: a changed host name alone is fine, a different machine and host name are not."""
        vendor = TestVendor()
        key, home = test_installation(factors={"machine": "m1", "dmi": "d1", "hostname": "h1"})
        token = vendor.issue(home)
        _, renamed = test_installation(factors={"machine": "m1", "dmi": "d1", "hostname": "h2"}, key=key)
        _, moved = test_installation(factors={"machine": "m9", "dmi": "d1", "hostname": "h9"}, key=key)
        assert check(token, vendor.keyring, renamed, T0).code == "valid"
        v = check(token, vendor.keyring, moved, T0)
        assert v.code == "wrong_installation" and set(v.details["factors_changed"]) == {"machine", "hostname"}

    def test_superseded(self) -> None:
        """An older serial after a newer one was activated is superseded."""
        vendor = TestVendor()
        _, inst = test_installation()
        old = vendor.issue(inst, serial=1)
        v = check(old, vendor.keyring, replace(inst, highest_serial=2), T0)
        assert v.code == "superseded" and "newest" in v.hint

    def test_not_yet_valid(self) -> None:
        """A key that starts tomorrow is not valid today."""
        vendor = TestVendor()
        _, inst = test_installation()
        v = check(vendor.issue(inst, not_before=T0 + timedelta(days=1)), vendor.keyring, inst, T0)
        assert v.code == "not_yet_valid"

    def test_subscription_expires(self) -> None:
        """A subscription is valid until its expiry, then expired."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, months=12)
        assert lic.expires is not None
        assert evaluate(lic, inst, lic.expires - timedelta(seconds=1)).code == "valid"
        v = evaluate(lic, inst, lic.expires)
        assert v.code == "expired" and "renew" in v.hint and not v.keeps_seats

    def test_grace_days_keep_seats_but_not_joins(self) -> None:
        """Within grace_days after expiry the verdict is grace: seats kept, not valid for new joins."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, months=1, grace_days=7)
        assert lic.expires is not None
        v = evaluate(lic, inst, lic.expires + timedelta(days=3))
        assert v.code == "grace" and v.keeps_seats and not v.valid
        assert evaluate(lic, inst, lic.expires + timedelta(days=7)).code == "expired"

    def test_perpetual_stays_valid_after_maintenance(self) -> None:
        """A perpetual license runs for ever; after maintenance only updates are refused."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, type="perpetual")
        assert lic.expires is None
        later = lic.maintenance_until + timedelta(days=3650)
        v = evaluate(lic, inst, later)
        assert v.code == "valid"
        assert any("Maintenance ended" in w for w in v.warnings)
        assert update_allowed(lic, lic.maintenance_until + timedelta(days=1)).code == "maintenance_expired"
        assert update_allowed(lic, lic.maintenance_until - timedelta(days=1)).code == "valid"

    def test_clock_rollback(self) -> None:
        """A clock behind the trusted high-water mark by more than a day is a rollback; an hour is not."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst)
        seen = replace(inst, trusted_time=T0 + timedelta(days=10))
        assert evaluate(lic, seen, T0 + timedelta(days=7)).code == "clock_rollback"
        assert evaluate(lic, seen, T0 + timedelta(days=10) - timedelta(hours=1)).code == "valid"

    def test_expiry_warnings(self) -> None:
        """Warnings appear 30, 14, 7 and 1 days ahead, and not before."""
        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, months=12)
        assert lic.expires is not None
        assert evaluate(lic, inst, lic.expires - timedelta(days=31)).warnings == ()
        for days in (30, 14, 7, 1):
            w = evaluate(lic, inst, lic.expires - timedelta(days=days)).warnings
            assert any(f"expires in {days} day" in x for x in w), w


class TestInstallation:
    def test_factor_hashes_are_salted_per_installation(self) -> None:
        """The same machine id hashes differently for two installations."""
        a, _ = test_installation()
        b, _ = test_installation()
        assert hash_factors(a.public_key, {"machine": "m"}) != hash_factors(b.public_key, {"machine": "m"})

    def test_installation_is_a_plain_value(self) -> None:
        """Installation is frozen and comparable (it is passed in, never read from the system)."""
        i = Installation(id="X", product="p")
        assert i == Installation(id="X", product="p")


class TestDecodedLicense:
    def test_decoded_license_is_a_plain_license(self) -> None:
        """The verify path builds License without its __init__: it must be the very same value, every field set."""
        import dataclasses

        from licensor.license import License, decode_license

        vendor = TestVendor()
        _, inst = test_installation()
        lic = vendor.license(inst, nodes=7, remote_clusters=2, features=("sso", "fips"), grace_days=3)
        decoded = decode_license(lic.sign(vendor.key), vendor.keyring)
        assert type(decoded) is License
        names = [f.name for f in dataclasses.fields(License)]
        assert sorted(vars(decoded)) == sorted(names)
        rebuilt = License(**{n: getattr(decoded, n) for n in names})
        assert decoded == rebuilt == lic
        assert decoded.kid == vendor.key.kid and decoded.token
        try:
            decoded.nodes = 8  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:
            raise AssertionError("a decoded license must stay frozen")
