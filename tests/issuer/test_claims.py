"""The license encoder's fast path writes exactly the generic bytes: same claims JSON, same token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import nacl.bindings
from hypothesis import given, settings
from hypothesis import strategies as st

from licensor.identity import Binding
from licensor.license import License
from licensor.signing import paseto_sign
from licensor.testing import TestVendor

VENDOR = TestVendor()
SIGNER = VENDOR.key.signer()
SECRET = nacl.bindings.crypto_sign_seed_keypair(VENDOR.key.seed)[1]
FOOTER = json.dumps({"kid": VENDOR.key.kid}, separators=(",", ":")).encode()

text = st.text(min_size=1, max_size=40)  # any Unicode, quotes, backslashes, control characters
instants = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 (hypothesis bounds are naive; the zones come from timezones=)
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7, minutes=-30))]),
)


@st.composite
def licenses(draw: st.DrawFn) -> License:
    issued = draw(instants)
    start = issued if draw(st.booleans()) else draw(instants)
    maintenance = draw(instants)
    expires = draw(st.sampled_from(["none", "same", "other"]))
    factors = draw(st.dictionaries(st.sampled_from(["cluster", "machine", "dmi", "hostname", 'ü"\\']), text, max_size=4))
    return License(
        license_id=draw(text),
        product=draw(text),
        customer=draw(text),
        installation_id=draw(text),
        binding=Binding(factors, tuple(draw(st.lists(text, max_size=2))), draw(st.integers(0, 4))),
        issued_at=issued,
        not_before=start,
        expires=None if expires == "none" else maintenance if expires == "same" else draw(instants),
        maintenance_until=maintenance,
        nodes=draw(st.integers(0, 10**9)),
        remote_clusters=draw(st.integers(0, 10**6)),
        features=tuple(draw(st.lists(text, max_size=4))),
        type=draw(st.sampled_from(["perpetual", "subscription"])),
        serial=draw(st.integers(1, 10**6)),
        grace_days=draw(st.integers(0, 365)),
    )


class TestFastSigner:
    @settings(max_examples=300, deadline=None)
    @given(licenses())
    def test_same_claims_json_and_same_token_as_license_sign(self, lic: License) -> None:
        generic = json.dumps(lic.claims(), separators=(",", ":"), sort_keys=True).encode()
        assert lic.claims_json() == generic
        assert lic.sign_with(SIGNER) == lic.sign(VENDOR.key) == paseto_sign(SECRET, generic, FOOTER)  # deterministic: byte for byte
