"""Known-answer vectors: the official PASETO v4.public cases and licensor's own formats."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from licensor import Contact, InstallationKey, Keyring, VendorKey, decode_license, decode_request, hash_factors, make_request
from licensor.license import license_file, license_from_claims
from licensor.signing import key_id, paseto_sign, paseto_verify, split_token

VECTORS = Path(__file__).parent.parent / "vectors"
PASETO = json.loads((VECTORS / "paseto-v4-public.json").read_text())["tests"]
OURS = json.loads((VECTORS / "licensor-v1.json").read_text())


class TestPasetoV4Public:
    @pytest.mark.parametrize("v", PASETO, ids=[v["name"] for v in PASETO])
    def test_sign_reproduces_the_official_token(self, v: dict) -> None:
        """Signing the vector's message, footer and implicit assertion gives its exact token."""
        message, _, _ = split_token(v["token"])
        token = paseto_sign(bytes.fromhex(v["secret-key"]), message, v["footer"].encode(), v["implicit-assertion"].encode())
        assert token == v["token"]

    @pytest.mark.parametrize("v", PASETO, ids=[v["name"] for v in PASETO])
    def test_verify_accepts_the_official_token(self, v: dict) -> None:
        """Verifying the official token yields its payload and footer."""
        message, footer = paseto_verify(bytes.fromhex(v["public-key"]), v["token"], v["implicit-assertion"].encode())
        assert json.loads(message) == v["payload"]
        assert footer.decode() == v["footer"]

    @pytest.mark.parametrize("v", PASETO, ids=[v["name"] for v in PASETO])
    def test_verify_refuses_a_wrong_implicit_assertion(self, v: dict) -> None:
        """The implicit assertion is authenticated: a different one fails."""
        from licensor.errors import BadSignatureError

        with pytest.raises(BadSignatureError):
            paseto_verify(bytes.fromhex(v["public-key"]), v["token"], b"something else")


class TestLicensorVectors:
    def test_vendor_key_encodings(self) -> None:
        """The seed gives the recorded PASERK public and secret keys and k4.pid."""
        key = VendorKey(bytes.fromhex(OURS["vendor"]["seed_hex"]))
        assert key.paserk_public() == OURS["vendor"]["paserk_public"]
        assert key.paserk_secret() == OURS["vendor"]["paserk_secret"]
        assert key.kid == key_id(key.public_key) == OURS["vendor"]["kid"]
        assert VendorKey.from_paserk(OURS["vendor"]["paserk_secret"]) == key

    def test_installation_id_and_factor_hashes(self) -> None:
        """The installation seed gives the recorded id and factor hashes."""
        inst = OURS["installation"]
        key = InstallationKey(bytes.fromhex(inst["seed_hex"]))
        assert key.public_key.hex() == inst["public_key_hex"]
        assert key.id == inst["id"]
        assert hash_factors(key.public_key, inst["raw_factors"]) == inst["factors"]

    def test_request_code_is_reproduced_and_decodes(self) -> None:
        """Same installation, contents and time: the same request code, which decodes to those contents."""
        r, inst = OURS["request"], OURS["installation"]
        key = InstallationKey(bytes.fromhex(inst["seed_hex"]))
        code = make_request(
            key,
            product=r["product"],
            version=r["version"],
            contact=Contact(*r["contact"]),
            nodes=r["nodes"],
            months=r["months"],
            remote_clusters=r["remote_clusters"],
            factors=inst["factors"],
            cluster_name=r["cluster_name"],
            now=datetime.fromisoformat(r["now"]),
        )
        assert code == r["code"]
        req = decode_request(code)
        assert req.installation_id == inst["id"]
        assert (req.nodes, req.months, req.remote_clusters, req.cluster_name) == (50, 12, 2, "prod-eu")
        assert dict(req.factors) == inst["factors"]

    @pytest.mark.parametrize("case", OURS["licenses"], ids=[c["name"] for c in OURS["licenses"]])
    def test_license_token_is_reproduced_and_decodes(self, case: dict) -> None:
        """The recorded claims, signed with the vendor seed, give the recorded token; decoding gives the claims back."""
        key = VendorKey(bytes.fromhex(OURS["vendor"]["seed_hex"]))
        lic = license_from_claims(case["claims"])
        assert lic.sign(key) == case["token"]
        decoded = decode_license(case["token"], Keyring([key.public_key]))
        assert decoded.claims() == case["claims"]
        assert decoded.kid == OURS["vendor"]["kid"]
        if "file" in case:
            assert license_file(decoded, case["token"]) == case["file"]
            assert decode_license(case["file"], Keyring([key.public_key])) == decoded

    def test_perpetual_vector_has_no_expiry(self) -> None:
        """A perpetual license carries no exp claim, and a maintenance end a year out."""
        claims = OURS["licenses"][1]["claims"]
        assert "exp" not in claims
        assert claims["maintenance_until"] == "2027-03-01T09:30:00Z"
        assert datetime.fromisoformat(claims["iat"]) == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
