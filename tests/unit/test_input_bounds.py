"""Issue 9: bad input is refused by the core with a code and a hint, never with another exception.

Each test here pins one defect of issue 9 (3, 4, 6, 8, 9): it failed before the bounded
parser, the strict request fields, the term bounds and the strict base64url went in.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from licensor import Contact, LicensorError, MalformedError, UsageError, check, codec, decode_license, decode_request, make_request
from licensor.codec import b64decode, b64encode
from licensor.identity import InstallationKey
from licensor.license import add_months
from licensor.signing import paseto_sign, split_token
from licensor.testing import T0, TestVendor, test_installation
from licensor.usage import decode_usage_report, make_usage_report

VENDOR = TestVendor()
KEY, INST = test_installation()
TOKEN = VENDOR.issue(INST, nodes=5)


def crafted_request(key: InstallationKey, payload: bytes) -> str:
    """A request code around any JSON bytes, validly signed by ``key`` (the layout of docs/FORMAT.md)."""
    body = b"\x01" + key.public_key + zlib.compress(payload, 9, wbits=-15)
    raw = body + key.sign(b"licensor-request-v1\x00" + body)
    raw += hashlib.blake2b(raw, digest_size=4).digest()
    from licensor.codec import b32encode

    return "LR1" + b32encode(raw)


def request_doc(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"p": "demo", "v": "1", "c": ["A", "a@example.com", "ACME"], "n": 3, "m": 12, "r": 0, "f": {}, "cl": "", "t": 0}
    doc.update(kw)
    return doc


def crafted_usage(key: InstallationKey, body: bytes) -> str:
    """A usage report around any bytes, validly signed by ``key``."""
    sig = key.sign(b"licensor-usage-v1\x00" + body)
    return f"-----BEGIN LICENSOR USAGE REPORT-----\n{b64encode(body)}.{b64encode(sig)}\n-----END LICENSOR USAGE REPORT-----\n"


def _refused(exc: LicensorError) -> None:
    assert exc.code and exc.hint and exc.hint[0].isupper(), exc


class TestBoundedParser:
    """The one JSON parser the core uses on untrusted text."""

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b"[" * 30_000 + b"]" * 30_000, "too_deep"),
            (b'{"a":' * 9 + b"1" + b"}" * 9, "too_deep"),
            (b'{"a": 1, "a": 2}', "duplicate_key"),
            (b"NaN", "not_a_number"),
            (b'{"a": Infinity}', "not_a_number"),
            (b'{"a": 1e400}', "not_a_number"),
            (b'{"a": 9007199254740992}', "number_too_big"),
            (b'{"a": [1, {"b": -90071992547409910}]}', "number_too_big"),
            (b'{"a": ' + b"9" * 5000 + b"}", "number_too_big"),
            (b'{"a": "\xff"}', "not_utf8"),
            (b'{"a": "\\ud800"}', "bad_character"),
            (b'{"a\\u0000": 1}', "bad_character"),
            (b'{"a": "x\\ny"}', "bad_character"),
            (b"\xef\xbb\xbf{}", "not_json"),
            (b"\xff\xfe{\x00}\x00", "not_utf8"),
            (b"{", "not_json"),
            (b" " * 70_000, "too_large"),
        ],
    )
    def test_refusals(self, data: bytes, reason: str) -> None:
        """Each kind of hostile JSON is MalformedError with its reason, never RecursionError or ValueError."""
        with pytest.raises(MalformedError) as e:
            codec.parse_json(data, "the test content")
        _refused(e.value)
        assert e.value.details["reason"] == reason

    def test_what_the_formats_need_is_accepted(self) -> None:
        """Depth up to the limit, brackets inside strings, escaped emoji and a backslash before 'u0000' are fine."""
        assert codec.parse_json(b'{"a":' * 8 + b"1" + b"}" * 8, "x") is not None
        assert codec.parse_json(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{{{{{{{"}', "x") == {"a": "[" * 35 + "{" * 16}
        assert codec.parse_json(b'{"e": "\\ud83d\\ude00", "b": "\\\\u0000"}', "x") == {"e": "\U0001f600", "b": "\\u0000"}
        assert codec.parse_json(b'{"n": 9007199254740991, "f": 1.5}', "x") == {"n": 2**53 - 1, "f": 1.5}

    @pytest.mark.parametrize(
        ("data", "value"),
        [
            (b'{"n":999999999999999}', {"n": 10**15 - 1}),
            (b'{"n":-9007199254740991}', {"n": -(2**53 - 1)}),
            (b'{"s":"12345678901234567890","n":1}', {"s": "12345678901234567890", "n": 1}),
            (b' {"a":[1,2]}\n', {"a": [1, 2]}),
            (b'"x"', "x"),
            (b"7", 7),
        ],
    )
    def test_numbers_and_whitespace_read_the_same_on_every_path(self, data: bytes, value: Any) -> None:
        """Texts with and without long digit runs or surrounding whitespace (the scanner's fast path or not) read alike."""
        assert codec.parse_json(data, "x") == value == json.loads(data)

    @pytest.mark.parametrize(
        ("data", "reason"),
        [
            (b'{"n":-9007199254740992}', "number_too_big"),
            (b'{"s":"short","n":90071992547409920}', "number_too_big"),
            (b'{"a":1,"a":1}', "duplicate_key"),
            (b'{"a":{"b":1,"b":2}}', "duplicate_key"),
            (b'{"a":1e999}', "not_a_number"),
            (b'{"a":-Infinity}', "not_a_number"),
            (b'{"a":1} x', "not_json"),
            (b'{"a":1}{', "not_json"),
            (b"", "not_json"),
            (b'{"a":"\\u001f"}', "bad_character"),
            (b'{"a":"\\udfff"}', "bad_character"),
            (b'{"a":"x\\ty"}', "bad_character"),
            (b'{"a":"x\x01y"}', "not_json"),
        ],
    )
    def test_compact_hostile_text_is_refused(self, data: bytes, reason: str) -> None:
        """Compact text (no whitespace, the scanner's fast path) is held to every bound the spaced text is."""
        with pytest.raises(MalformedError) as e:
            codec.parse_json(data, "the test content")
        assert e.value.details["reason"] == reason


class TestDefect3CraftedFooter:
    """check() never raises on a crafted footer: it is malformed, before any signature check."""

    def _with_footer(self, footer: bytes) -> str:
        message, sig, _ = split_token(TOKEN)
        return "v4.public." + b64encode(message + sig) + "." + b64encode(footer)

    @pytest.mark.parametrize(
        "footer",
        [b"[" * 40_000, b'{"kid":' * 5000 + b"1" + b"}" * 5000, b'{"kid": "k4.pid.x", "kid": "k4.pid.y"}', b'{"kid": NaN}', b"\xff"],
    )
    def test_crafted_footer_is_malformed(self, footer: bytes) -> None:
        """Deep, duplicate, NaN or non-UTF-8 footers: a malformed verdict, not RecursionError."""
        v = check(self._with_footer(footer), VENDOR.keyring, INST, T0)
        assert v.code == "malformed" and v.hint
        with pytest.raises(MalformedError):
            decode_license(self._with_footer(footer), VENDOR.keyring)

    def test_vendor_signed_deep_footer_is_malformed(self) -> None:
        """Even the vendor's own signature over a deep footer does not get it parsed."""
        message, _, _ = split_token(TOKEN)
        sk = VENDOR.key._keypair[1]
        token = paseto_sign(sk, message, b"[" * 30_000)
        assert check(token, VENDOR.keyring, INST, T0).code == "malformed"

    def test_vendor_signed_deep_claims_are_malformed(self) -> None:
        """Deep claims under a good signature are malformed, not a RecursionError."""
        token = paseto_sign(VENDOR.key._keypair[1], b"[" * 30_000, json.dumps({"kid": VENDOR.key.kid}).encode())
        v = check(token, VENDOR.keyring, INST, T0)
        assert v.code == "malformed" and v.hint


class TestDefect4CraftedRequestCodes:
    """A request code signed by a fresh installation key cannot crash the vendor side."""

    @pytest.mark.parametrize(
        "payload",
        [
            b"[" * 50_000,
            json.dumps(request_doc(c=[["x"] * 3])).encode(),
            json.dumps(request_doc(n=2**64)).encode(),
            json.dumps(request_doc(n=10**100)).encode(),
            json.dumps(request_doc(r=2**63)).encode(),
            json.dumps(request_doc(m=10**6)).encode(),
            json.dumps(request_doc(t=10**13)).encode(),
            json.dumps(request_doc(t=-(10**13))).encode(),
            json.dumps(request_doc(n=True)).encode(),
            json.dumps(request_doc(n=-1)).encode(),
            json.dumps(request_doc(n=3.0)).encode(),
            json.dumps(request_doc(p=["demo"])).encode(),
            json.dumps(request_doc(p="")).encode(),
            json.dumps(request_doc(p="x" * 10_000)).encode(),
            json.dumps(request_doc(f={"cluster": 1})).encode(),
            json.dumps(request_doc(f={str(i): "x" for i in range(100)})).encode(),
            json.dumps(request_doc(c=["a\u0000b", "a@b", "c"])).encode(),
            b'{"p": "demo", "c": ["a", "b", "c"], "n": 1, "m": 1, "n": 2}',
            b"[]",
            b"null",
            json.dumps(request_doc(p=" " * 10)).encode() + b" " * 200_000,
        ],
    )
    def test_signed_crafted_request_is_malformed(self, payload: bytes) -> None:
        """Deep JSON, absurd or mistyped numbers, long or odd text, a deflate bomb: MalformedError with a hint."""
        code = crafted_request(InstallationKey.generate(), payload)
        with pytest.raises(MalformedError) as e:
            decode_request(code)
        _refused(e.value)

    def test_bounds_are_inclusive(self) -> None:
        """The largest numbers the format allows still decode."""
        req = decode_request(crafted_request(KEY, json.dumps(request_doc(n=1_000_000, r=1_000_000, m=1200, t=253402300799)).encode()))
        assert (req.nodes, req.remote_clusters, req.months) == (1_000_000, 1_000_000, 1200)

    def test_make_request_refuses_what_decode_would(self) -> None:
        """An installation cannot make a code its vendor cannot read."""
        with pytest.raises(UsageError):
            make_request(KEY, product="demo", version="1", contact=Contact("a", "b", "c"), nodes=10**7, months=12, now=T0)


class TestDefect6Terms:
    """License-term arithmetic refuses absurd months and naive dates with UsageError."""

    @pytest.mark.parametrize("months", [0, -1, 1201, 10**6, 10**10, True, 1.5])
    def test_months_out_of_range(self, months: Any) -> None:
        """months outside 1..1200 (or not an int) is a UsageError, not 'year out of range'."""
        with pytest.raises(UsageError) as e:
            VENDOR.license(INST, months=months)
        _refused(e.value)
        with pytest.raises(UsageError):
            add_months(T0, months)

    def test_months_at_the_bound(self) -> None:
        """1200 months is a (very long) valid term."""
        assert VENDOR.license(INST, months=1200).expires == T0.replace(year=T0.year + 100)

    @pytest.mark.parametrize("field", ["expires", "maintenance_until", "not_before", "now"])
    def test_naive_datetimes_are_refused(self, field: str) -> None:
        """A date without a time zone is a UsageError, not a TypeError comparing naive and aware."""
        kw: dict[str, Any] = {field: datetime(2030, 1, 1)}  # noqa: DTZ001 (naive on purpose)
        if field == "maintenance_until":
            kw["type"] = "perpetual"
        with pytest.raises(UsageError) as e:
            VENDOR.license(INST, **kw)
        _refused(e.value)

    def test_term_past_year_9999_is_refused(self) -> None:
        """A term that runs past what dates can hold is a UsageError, not OverflowError."""
        with pytest.raises(UsageError):
            VENDOR.license(INST, now=datetime(9990, 1, 1, tzinfo=UTC), months=1200)
        with pytest.raises(UsageError):
            VENDOR.license(INST, expires=datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))))

    @pytest.mark.parametrize(
        ("field", "value"), [("nodes", 2**63), ("nodes", True), ("remote_clusters", -1), ("grace_days", 10**9), ("serial", 2**64)]
    )
    def test_counts_out_of_range(self, field: str, value: Any) -> None:
        """Counts beyond the documented bounds are a UsageError."""
        with pytest.raises(UsageError):
            VENDOR.license(INST, **{field: value})

    def test_grace_past_year_9999_does_not_raise(self) -> None:
        """A genuine key expiring near the end of time with grace days evaluates without OverflowError."""
        token = VENDOR.issue(INST, expires=datetime(9999, 12, 30, tzinfo=UTC), grace_days=30)
        assert check(token, VENDOR.keyring, INST, datetime(9999, 12, 31, tzinfo=UTC)).code == "grace"


class TestDefect8UsageReports:
    """Deep or absurd usage reports are malformed, not a RecursionError."""

    @pytest.mark.parametrize("body", [b"[" * 40_000, b'{"v":1,' + b'"x":[' * 5000 + b"]" * 5000 + b"}", b'{"v": 1, "v": 1}', b"\xff\xfe"])
    def test_crafted_report_is_malformed(self, body: bytes) -> None:
        """The signed body goes through the bounded parser before anything else."""
        with pytest.raises(MalformedError) as e:
            decode_usage_report(crafted_usage(KEY, body))
        _refused(e.value)

    def test_genuine_report_reads(self) -> None:
        """A report made by make_usage_report still decodes."""
        text = make_usage_report(KEY, month="2026-10", peak_nodes=7, peak_clusters=1, now=T0)
        assert decode_usage_report(text).peak_nodes == 7


class TestDefect9Base64:
    """base64url is unpadded and canonical only, as docs/FORMAT.md says."""

    @pytest.mark.parametrize("text", ["YQ==", "YWI=", "YWJj=", "YQ", "YW=I", "Y=Q", "=", "YWJj===="])
    def test_padding_is_refused(self, text: str) -> None:
        """Padding anywhere is malformed, even when the padded length is a multiple of four."""
        if "=" not in text:
            assert b64decode(text) == b"a"
            return
        with pytest.raises(MalformedError):
            b64decode(text)

    def test_padded_token_is_malformed(self) -> None:
        """A key whose body or footer was re-encoded with padding is not accepted."""
        head, _, rest = TOKEN.removeprefix("v4.public.").partition(".")
        padded = [
            "v4.public." + base64.urlsafe_b64encode(b64decode(head)).decode() + "." + rest,
            "v4.public." + head + "." + base64.urlsafe_b64encode(b64decode(rest)).decode(),
        ]
        padded = [t for t in padded if t != TOKEN]
        assert padded  # the footer or the body has a length that needs padding
        for token in padded:
            v = check(token, VENDOR.keyring, INST, T0)
            assert v.code == "malformed", (token, v)

    def test_padded_key_line_is_malformed(self) -> None:
        """A vendor public key with padding is refused too."""
        from licensor.signing import parse_public_key

        with pytest.raises(MalformedError):
            parse_public_key(VENDOR.key.paserk_public() + "=")


class TestDefect4OnTheEdges:
    """The vendor's CLI and API refuse a crafted request code cleanly (they map MalformedError; the core decides)."""

    CODES = (
        crafted_request(InstallationKey.generate(), b"[" * 50_000),
        crafted_request(InstallationKey.generate(), json.dumps(request_doc(n=2**64, r=10**30)).encode()),
        crafted_request(InstallationKey.generate(), json.dumps(request_doc(m=10**10)).encode()),
    )

    def test_cli_inspect_request_has_no_traceback(self, tmp_path: Any) -> None:
        """'licensor vendor inspect-request' exits 2 with the malformed code and a hint, not a traceback."""
        import os

        from tests.helpers import run_licensor

        for i, code in enumerate(self.CODES):
            path = tmp_path / f"code{i}.txt"
            path.write_text(code)
            proc = run_licensor("vendor", "inspect-request", str(path), env=dict(os.environ), timeout=60)
            assert proc.returncode == 2, proc
            assert "malformed" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr

    def test_issuer_api_inspect_is_400(self, tmp_path: Any) -> None:
        """POST /api/v1/requests/inspect answers 400 malformed with a hint (in process, on SQLite)."""
        from fastapi.testclient import TestClient

        from licensor.issuer.app import create_app
        from licensor.issuer.migrate import upgrade
        from licensor.issuer.service import IssuerService
        from licensor.issuer.settings import IssuerSettings
        from licensor.issuer.store import Store

        url = f"sqlite:///{tmp_path / 'issuer.db'}"
        store = Store(url)
        upgrade(store)
        svc = IssuerService(store)
        svc.init("test")
        token = svc.create_token("t", ["licenses:read"], actor="test")
        try:
            with TestClient(create_app(IssuerSettings(database_url=url), svc)) as client:
                for code in self.CODES:
                    r = client.post("/api/v1/requests/inspect", json={"request_code": code}, headers={"Authorization": f"Bearer {token}"})
                    assert r.status_code == 400, r.text
                    assert r.json()["code"] == "malformed" and r.json()["hint"]
        finally:
            store.close()


class TestQuotedArmour:
    def test_file_between_smart_quotes_reads(self) -> None:
        """A license file pasted between quotation marks is paste damage (docs/FORMAT.md), not malformed (found by the tamper corpus)."""
        from licensor.license import license_file

        lic = VENDOR.license(INST, nodes=5)
        text = "\u201c" + license_file(lic, lic.sign(VENDOR.key)).strip() + "\u201d"
        assert check(text, VENDOR.keyring, INST, T0).code == "valid"

    @pytest.mark.parametrize("value", [12345, 1.5, ["v4.public.x"], {"token": "x"}, bytearray(b"v4.public.x"), memoryview(b"garbage")])
    def test_check_takes_any_object_without_raising(self, value: Any) -> None:
        """check() never raises for bad input, even an object that is not text."""
        v = check(value, VENDOR.keyring, INST, T0)
        assert v.code == "malformed" and v.hint


class TestDatesBeyond9999:
    def test_usage_report_dated_past_9999_is_malformed(self) -> None:
        """A signed report whose date is past the year 9999 in UTC is malformed, not an OverflowError when shown."""
        text = make_usage_report(KEY, month="2026-10", peak_nodes=1, peak_clusters=0, now=T0)
        body_b64 = text.split("\n\n", 1)[1].split("\n-----END")[0].replace("\n", "").split(".")[0]
        doc = json.loads(b64decode(body_b64))
        doc["generated_at"] = "9999-12-31T23:00:00-05:00"
        report = crafted_usage(KEY, json.dumps(doc).encode())
        try:
            rep = decode_usage_report(report)
        except MalformedError as e:
            _refused(e)
        else:
            rep.summary()


class TestNothingSignedThatCannotBeRead:
    @pytest.mark.parametrize("field", ["customer", "product", "features"])
    def test_control_characters_are_refused_when_issuing(self, field: str) -> None:
        """A key holding a line break would be refused by every controller: new_license refuses to sign it."""
        value: Any = ("fips\n",) if field == "features" else "ACME\r\nBcc: x@y.z"
        with pytest.raises(UsageError) as e:
            VENDOR.license(INST, **{field: value})
        _refused(e.value)
