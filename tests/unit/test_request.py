"""Request codes: compact, checksummed, signed by the installation, paste tolerant."""

from __future__ import annotations

import pytest

from licensor import Contact, decode_request, make_request
from licensor.errors import BadSignatureError, MalformedError
from licensor.request import request_file
from licensor.testing import T0, test_installation


def _code(**kw: object) -> tuple[str, str]:
    key, inst = test_installation()
    args: dict = {"product": "demo", "version": "1.2.3", "contact": Contact("Ann Admin", "ann@example.com", "ACME"),
                  "nodes": 20, "months": 12, "remote_clusters": 1, "factors": inst.factors, "now": T0}  # fmt: skip
    args.update(kw)
    return make_request(key, **args), inst.id


class TestRequestCode:
    def test_round_trip(self) -> None:
        """What the installation asks is what the vendor reads, with the installation id."""
        code, inst_id = _code()
        req = decode_request(code)
        assert req.installation_id == inst_id
        assert (req.product, req.version, req.nodes, req.months, req.remote_clusters) == ("demo", "1.2.3", 20, 12, 1)
        assert req.contact == Contact("Ann Admin", "ann@example.com", "ACME")
        assert req.created_at == T0

    def test_fits_a_qr_code(self) -> None:
        """Upper-case base32 and dashes only (QR alphanumeric mode), well under a QR code's capacity."""
        code, _ = _code(contact=Contact("A" * 40, "a" * 40 + "@example.com", "B" * 60))
        assert set(code) <= set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")  # QR alphanumeric
        assert len(code) < 1200

    def test_case_whitespace_and_dashes_do_not_matter(self) -> None:
        """Lower case, wrapped lines and lost dashes read the same."""
        code, inst_id = _code()
        mangled = "\n".join(code.lower().replace("-", "")[i : i + 30] for i in range(0, len(code), 30))
        assert decode_request("> " + mangled.replace("\n", "\n> ")).installation_id == inst_id

    def test_request_file_reads_back(self) -> None:
        """The armoured request file decodes to the same request."""
        code, inst_id = _code()
        assert decode_request(request_file(code, decode_request(code))).installation_id == inst_id

    def test_typo_is_caught_by_the_checksum(self) -> None:
        """One mistyped character is malformed (checksum), said before the signature."""
        code, _ = _code()
        i = len(code) // 2
        while code[i] == "-":  # a group separator: mistype a code character, not the layout
            i += 1
        typo = code[:i] + ("X" if code[i] != "X" else "Y") + code[i + 1 :]
        with pytest.raises(MalformedError, match="checksum"):
            decode_request(typo)

    def test_altered_content_with_a_fixed_checksum_fails_the_signature(self) -> None:
        """Someone who recomputes the checksum still cannot change what is asked."""
        import hashlib

        from licensor.codec import b32decode, b32encode, group

        code, _ = _code()
        raw = bytearray(b32decode(code.replace("-", "")[3:]))
        raw[40] ^= 1
        body = bytes(raw[:-4])
        forged = group("LR1" + b32encode(body + hashlib.blake2b(body, digest_size=4).digest()), 5)
        with pytest.raises((BadSignatureError, MalformedError)):
            decode_request(forged)

    @pytest.mark.parametrize(
        "bad", ["", "hello", "LR1", "LR1-00000", "v4.public.abc", "-----BEGIN LICENSOR LICENSE-----\nx\n-----END LICENSOR LICENSE-----"]
    )
    def test_garbage_is_malformed(self, bad: str) -> None:
        """Anything that is not a request code is malformed with a hint."""
        with pytest.raises(MalformedError) as exc:
            decode_request(bad)
        assert exc.value.hint
