"""licensor.claims: the issuer's own claims read by one regular expression, to the same License as the general way.

The general way (``codec.parse_json`` then ``license.license_from_claims``) decides what is refused;
the fast way may only ever accept a text the general way accepts, with the same value.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from licensor.claims import canonical_fields
from licensor.codec import parse_json
from licensor.errors import BadSignatureError, MalformedError
from licensor.identity import Binding
from licensor.license import License, decode_license, license_from_claims, new_license
from licensor.signing import Keyring, paseto_verify
from licensor.testing import T0, TestVendor, test_installation

FIELDS = list(License.__dataclass_fields__)


def _general(message: bytes) -> dict[str, Any]:
    lic = license_from_claims(parse_json(message, "claims"))
    return {f: getattr(lic, f) for f in FIELDS}


def _lic(**kw: Any) -> License:
    base: dict[str, Any] = {
        "license_id": "lic-1",
        "product": "demo",
        "customer": "ACME",
        "installation_id": "ABCD-EFGH",
        "binding": Binding({"cluster": "C1", "machine": "M1"}, ("cluster",), 1),
        "type": "subscription",
        "nodes": 50,
        "now": T0,
        "serial": 7,
    }
    return new_license(**(base | kw))


CASES = {
    "subscription": _lic(),
    "perpetual": _lic(type="perpetual"),
    "features and remote clusters": _lic(features=("fips", "multi-cluster", ""), remote_clusters=3, grace_days=14),
    "a start of its own": _lic(not_before=T0 + timedelta(days=3)),
    "maintenance apart from expiry": _lic(maintenance_until=T0 + timedelta(days=30)),
    "no factors": _lic(binding=Binding({}, (), 0)),
    "empty factor texts": _lic(binding=Binding({"": "", "dmi": ""}, (), 2)),
    "largest numbers": _lic(nodes=1_000_000, serial=10**15 - 1),
    "a serial of 16 digits": _lic(serial=2**53 - 1),  # the general way: it checks the bound
    "zeros": _lic(nodes=0, serial=1),
    "a customer with a quote": _lic(customer='ACME "Cloud"'),  # escaped: the general way
    "a customer not in ASCII": _lic(customer="Müller GmbH"),  # escaped: the general way
}

#: Written by the issuer, but read the general way (escaped texts, a number that needs its bound checked).
GENERAL = {"a customer with a quote", "a customer not in ASCII", "a serial of 16 digits"}


@pytest.mark.parametrize("name", list(CASES))
def test_the_fast_way_reads_what_the_general_way_reads(name: str) -> None:
    message = CASES[name].claims_json()
    fast = canonical_fields(message)
    if name in GENERAL:
        assert fast is None
        assert _general(message)
    else:
        assert fast == _general(message)


def test_a_signed_key_decodes_alike_both_ways() -> None:
    vendor = TestVendor()
    _, inst = test_installation()
    token = vendor.issue(inst, nodes=50, features=("fips",), remote_clusters=2)
    lic = decode_license(token, vendor.keyring)
    general = license_from_claims(parse_json(lic.claims_json(), "claims"), kid=lic.kid, token=token)
    assert lic == general and lic.__dict__ == general.__dict__
    assert type(lic.binding) is Binding and lic.binding == general.binding


REFUSED_OR_OTHER = {
    "a factor named twice": (b'"factors":{"cluster":"C1","machine":"M1"}', b'"factors":{"cluster":"C1","cluster":"M1"}'),
    "a space": (b'"nodes":50', b'"nodes": 50'),
    "an escape": (b'"customer":"ACME"', b'"customer":"AC\\nME"'),
    "a 16-digit number": (b'"nodes":50', b'"nodes":1000000000000000'),
    "a leading zero": (b'"nodes":50', b'"nodes":050'),
    "a sign": (b'"nodes":50', b'"nodes":-50'),
    "a fraction": (b'"nodes":50', b'"nodes":50.0'),
    "month 13": (b'"iat":"2026-01-15T12:00:00Z"', b'"iat":"2026-13-15T12:00:00Z"'),
    "hour 24": (b'"nbf":"2026-01-15T12:00:00Z"', b'"nbf":"2026-01-15T24:00:00Z"'),
    "an empty id": (b'"jti":"lic-1"', b'"jti":""'),
    "an unknown type": (b'"type":"subscription"', b'"type":"trial"'),
    "no expiry as null": (b'"exp":"', b'"exp":null,"x":"'),
    "another claims version": (b'"lv":1', b'"lv":2'),
    "a raw control character": (b'"customer":"ACME"', b'"customer":"AC\x01ME"'),
    "trailing text": (b'"type":"subscription"}', b'"type":"subscription"} '),
    "a time zone of its own": (b'"nbf":"2026-01-15T12:00:00Z"', b'"nbf":"2026-01-15T12:00:00+01:00"'),
    "no grace days": (b'"grace_days":0,', b""),
}


@pytest.mark.parametrize("name", list(REFUSED_OR_OTHER))
def test_anything_else_goes_the_general_way(name: str) -> None:
    old, new = REFUSED_OR_OTHER[name]
    message = CASES["subscription"].claims_json()
    assert old in message
    changed = message.replace(old, new, 1)
    assert canonical_fields(changed) is None


def test_a_factor_named_twice_is_refused_by_the_general_way() -> None:
    message = CASES["subscription"].claims_json().replace(b'"machine":"M1"', b'"cluster":"M1"')
    assert canonical_fields(message) is None
    with pytest.raises(MalformedError) as e:
        parse_json(message, "claims")
    assert e.value.details["reason"] == "duplicate_key"


def test_random_changes_never_make_the_two_ways_disagree() -> None:
    rng = random.Random(13)
    texts = [c.claims_json() for c in CASES.values()]
    alphabet = b'"{}[],:0123456789-TZ\\ aez\x00\x1f'
    fast_taken = 0
    for _ in range(3000):
        b = bytearray(rng.choice(texts))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            op = rng.random()
            if op < 0.4:
                b[i] = rng.choice(alphabet)
            elif op < 0.7:
                del b[i]
            else:
                b.insert(i, rng.choice(alphabet))
        message = bytes(b)
        fast = canonical_fields(message)
        if fast is None:
            continue
        fast_taken += 1
        assert fast == _general(message), message  # the general way accepts it, with the same value
    assert fast_taken > 100  # the changes kept some texts in the issuer's shape (a digit for a digit…)


def test_a_public_key_of_the_wrong_size_verifies_nothing() -> None:
    vendor = TestVendor()
    _, inst = test_installation()
    token = vendor.issue(inst, nodes=5)
    assert paseto_verify(vendor.key.public_key, token)[0]
    with pytest.raises(BadSignatureError):
        paseto_verify(vendor.key.public_key[:31], token)


def test_a_known_footer_does_not_skip_a_check() -> None:
    vendor = TestVendor()
    _, inst = test_installation()
    ring = Keyring([vendor.key.public_key])
    token = vendor.issue(inst, nodes=5)
    ring.verify(token)  # the footer is known from here on
    head, body, footer = token.rsplit(".", 2)
    flipped = body[:20] + ("A" if body[20] != "A" else "B") + body[21:]
    with pytest.raises(BadSignatureError):
        ring.verify(f"{head}.{flipped}.{footer}")
    with pytest.raises(MalformedError):
        ring.verify(f"{head}.{body}=.{footer}")
    with pytest.raises(MalformedError):
        ring.verify(f"{head}.{body[:40]}.{footer}")
    other = TestVendor()
    with pytest.raises(BadSignatureError):  # the same footer text cannot name another key's signature
        ring.verify(other.issue(inst, nodes=5).rsplit(".", 1)[0] + "." + footer)
