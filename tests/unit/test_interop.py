"""Cross-checks against an independent PASETO implementation (pyseto)."""

from __future__ import annotations

import json

import pyseto
import pytest
from pyseto import Key

from licensor import Keyring, LicensorError, VendorKey, decode_license
from licensor.testing import TestVendor, test_installation


class TestPyseto:
    def test_pyseto_verifies_our_license_keys(self) -> None:
        """A product in another stack can check our keys with an off-the-shelf PASETO library."""
        vendor = TestVendor()
        _, inst = test_installation()
        token = vendor.issue(inst, nodes=7)
        decoded = pyseto.decode(Key.from_paserk(vendor.key.paserk_public()), token)
        assert json.loads(decoded.payload)["nodes"] == 7
        assert json.loads(decoded.footer)["kid"] == vendor.key.kid

    def test_we_verify_tokens_pyseto_signs(self) -> None:
        """Tokens signed by pyseto with our claims and footer decode as licenses."""
        vendor = TestVendor()
        _, inst = test_installation()
        claims = vendor.license(inst).claims()
        token = pyseto.encode(
            Key.from_paserk(vendor.key.paserk_secret()), json.dumps(claims).encode(), footer=json.dumps({"kid": vendor.key.kid}).encode()
        ).decode()
        assert decode_license(token, vendor.keyring).claims() == claims

    def test_key_ids_agree_with_paserk(self) -> None:
        """Our k4.pid equals pyseto's PASERK id for the same key."""
        key = VendorKey.generate()
        assert Key.from_paserk(key.paserk_public()).to_paserk_id() == key.kid

    def test_pyseto_refuses_a_key_we_refuse(self) -> None:
        """A token altered after signing fails in both implementations."""
        vendor = TestVendor()
        _, inst = test_installation()
        token = vendor.issue(inst)
        body_end = token.rindex(".")
        i = body_end - 10
        bad = token[:i] + ("A" if token[i] != "A" else "B") + token[i + 1 :]
        with pytest.raises(pyseto.VerifyError):
            pyseto.decode(Key.from_paserk(vendor.key.paserk_public()), bad)
        with pytest.raises(LicensorError) as exc:
            decode_license(bad, Keyring([vendor.key.public_key]))
        assert exc.value.code in ("bad_signature", "malformed")
