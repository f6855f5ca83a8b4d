"""The standing tamper corpus: license keys, license files, request codes and usage reports, mutated as an attacker would.

Mutations: bit flips, truncation, extension, substitution, deletion and duplication of
ranges, re-encoding (padding, the ``+/`` alphabet, RFC 4648 base32, hex), swapped or
crafted footers (well formed with another key id, nested, huge, duplicate names),
vendor-signed but broken claims, deep and huge JSON, look-alike formats (v3.public,
v4.local, v2, JWT, PASERK keys, a non-empty implicit assertion), another vendor's key,
and paste damage.

Properties, for every example:

- nothing is accepted unless the damage is the documented paste tolerance (docs/FORMAT.md):
  what is accepted decodes to exactly the original, and the text differs from the
  original only in characters that tolerance removes (whitespace, zero-width characters,
  quotes, ``>`` prefixes; for request codes also case, dashes, O/0 and I/L/1; armour header lines);
- nothing raises but the documented error: ``check()`` never raises, the decoders raise
  only LicensorError;
- every refusal has a non-empty code and a hint.

Paste damage itself must be accepted (so the properties cannot pass by refusing everything).
Figures: ``record("tamper", tried=…, accepted=…, raised=…, tolerated=…)``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensor import Contact, LicensorError, RequestCode, Verdict, check, decode_request, make_request
from licensor.codec import b32decode, b32encode, b64decode, b64encode
from licensor.identity import InstallationKey
from licensor.license import license_file
from licensor.signing import paseto_sign, split_token
from licensor.testing import T0, TestVendor, test_installation
from licensor.usage import UsageReport, decode_usage_report, make_usage_report

from .conftest import LONG, record, scale

T = TypeVar("T")

VENDOR = TestVendor()
OTHER = TestVendor()  # another vendor, whose keys this installation does not trust
RING = VENDOR.keyring
KEY, INST = test_installation()
LICENSE = VENDOR.license(INST, nodes=12, features=("fips", "multi-cluster"), grace_days=3)
TOKEN = LICENSE.sign(VENDOR.key)
FILE = license_file(LICENSE, TOKEN)
OTHER_TOKEN = OTHER.issue(INST, nodes=12)
CODE = make_request(
    KEY, product="demo", version="1.2", contact=Contact("Ann", "ann@example.com", "ACME"), nodes=3, months=12, factors=INST.factors, now=T0
)
REQUEST = decode_request(CODE)
REPORT_TEXT = make_usage_report(KEY, month="2026-10", peak_nodes=7, peak_clusters=1, now=T0, license_id=LICENSE.license_id, serial=1)
REPORT = decode_usage_report(REPORT_TEXT)

MESSAGE, SIGNATURE, FOOTER = split_token(TOKEN)
VENDOR_SK = VENDOR.key._keypair[1]
OTHER_SK = OTHER.key._keypair[1]

BASE = settings(
    deadline=None,
    derandomize=not LONG,  # the short run is reproducible; the long run explores
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

FIGURES: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _figures() -> Iterator[None]:
    yield
    record("tamper", tried=FIGURES["tried"], accepted=FIGURES["accepted"], raised=FIGURES["raised"], tolerated=FIGURES["tolerated"])


# -- what paste tolerance may change ------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"
_QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"
_DROP = re.compile(f"[\\s{_ZERO_WIDTH}{_QUOTES}>]+")


def essence(text: str | bytes, *, code: bool = False) -> str | None:
    """The text with everything documented paste tolerance removes taken out (None: not UTF-8).

    Deliberately written from docs/FORMAT.md, not from codec.clean_paste: it is looser
    (drops '>' anywhere), so it can only let more through, never flag tolerated damage.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return None
    lines = [_DROP.sub("", line) for line in text.splitlines()]
    begin = next((i for i, ln in enumerate(lines) if ln.startswith("-----BEGIN")), None)
    if begin is not None:
        # Only the armour counts: text around it is set aside, and header lines (up to the blank line) decide nothing.
        end = next((i for i in range(begin + 1, len(lines)) if lines[i].startswith("-----END")), len(lines))
        body = lines[begin + 1 : end]
        if "" in body and ":" in text:
            body = body[body.index("") + 1 :]
        lines = body
    flat = "".join(lines)
    if code:
        flat = flat.upper().replace("-", "").translate(str.maketrans("OIL", "011"))
    return flat


# -- the three outcomes ---------------------------------------------------------------------------


def _refusal_ok(code: str, hint: str) -> None:
    assert code and isinstance(code, str), code
    assert hint and isinstance(hint, str), hint


def try_license(text: str | bytes, original: str = FILE) -> None:
    """check() a tampered key or file: a verdict, never an exception; decoded only when the damage is tolerated."""
    FIGURES["tried"] += 1
    try:
        v = check(text, RING, INST, T0)
    except BaseException:
        FIGURES["raised"] += 1
        raise
    assert isinstance(v, Verdict)
    _refusal_ok(v.code, v.hint)
    if v.license is not None:
        _tolerated(v.license.token == TOKEN and v.license == LICENSE and essence(text) == essence(original) == essence(TOKEN), v, text)


def _try_decode(text: str | bytes, decode: Callable[[str | bytes], T], ok: Callable[[T], bool]) -> None:
    """``decode(text)``: a LicensorError with code and hint, or a result ``ok`` accepts; counted in FIGURES either way."""
    FIGURES["tried"] += 1
    try:
        got = decode(text)
    except LicensorError as e:
        _refusal_ok(e.code, e.hint)
        return
    except BaseException:
        FIGURES["raised"] += 1
        raise
    _tolerated(ok(got), got, text)


def _tolerated(ok: bool, got: object, text: str | bytes) -> None:
    """A decoded result must be what ``ok`` says it is: anything else was accepted that should not have been."""
    if not ok:
        FIGURES["accepted"] += 1
    assert ok, (got, text)
    FIGURES["tolerated"] += 1


def try_request(text: str | bytes, *, bounds_only: bool = False) -> None:
    """decode_request on a tampered or crafted code: LicensorError, or the very request (or, crafted, one within bounds)."""

    def ok(req: RequestCode) -> bool:
        if bounds_only:
            return _within_bounds(req.summary())
        return req == REQUEST and essence(text, code=True) == essence(CODE, code=True)

    _try_decode(text, decode_request, ok)


def _within_bounds(s: dict[str, Any]) -> bool:
    texts = [s["product"], s["version"], s["cluster_name"], *s["contact"].values(), *s["factors"], *s["factors"].values()]
    return (
        all(isinstance(t, str) and len(t) <= 256 and not re.search("[\x00-\x1f]", t) for t in texts)
        and bool(s["product"].strip())
        and all(type(s[k]) is int and 0 <= s[k] <= 1_000_000 for k in ("nodes", "remote_clusters"))
        and type(s["months"]) is int
        and 0 <= s["months"] <= 1200
    )


def try_usage(text: str | bytes, *, crafted: bool = False) -> None:
    """decode_usage_report on a tampered or crafted report: LicensorError, or the very report (or, crafted, a sane one)."""

    def decode(text: str | bytes) -> UsageReport:
        rep = decode_usage_report(text)
        rep.summary()  # what the vendor's console shows must not raise either
        return rep

    def ok(rep: UsageReport) -> bool:
        if crafted:
            nums = [rep.peak_nodes, rep.peak_clusters, rep.serial or 0]
            return all(type(n) is int and 0 <= n < 2**53 for n in nums) and len(rep.month) == 7
        return (rep.summary(), rep.public_key) == (REPORT.summary(), REPORT.public_key) and essence(text) == essence(REPORT_TEXT)

    _try_decode(text, decode, ok)


# -- mutations of any text ------------------------------------------------------------------------

_NOISE = st.sampled_from(list("AZaz09-_.=+/:{}[]\"' \n\t>\u200b\u201cOIL\x00\xff\u0430\u2010")) | st.characters()


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str | bytes:
    """One attacker's edit of ``original``: bit flip, truncation, extension, substitution, deletion, duplication."""
    data = original.encode()
    n = len(data)
    kind = draw(st.sampled_from(["flip", "flip", "truncate", "head", "extend", "substitute", "substitute", "delete", "duplicate", "swap"]))
    i = draw(st.integers(0, n - 1))
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, 7)), min_size=1, max_size=3))
        out = bytearray(data)
        for pos, bit in flips:
            out[pos] ^= 1 << bit
        return bytes(out)  # may not be UTF-8: that is part of the attack
    if kind == "truncate":
        return original[:i]
    if kind == "head":
        return original[i + 1 :]
    if kind == "extend":
        extra = draw(st.text(_NOISE, min_size=1, max_size=40) | st.sampled_from(["A" * 3000, "A" * 70_000]))
        return original[:i] + extra + original[i:] if draw(st.booleans()) else original + extra
    if kind == "substitute":
        j = draw(st.integers(i, min(n, i + 4)))
        return original[:i] + draw(st.text(_NOISE, min_size=1, max_size=4)) + original[j:]
    if kind == "delete":
        return original[:i] + original[i + draw(st.integers(1, 40)) :]
    if kind == "duplicate":
        j = min(n, i + draw(st.integers(1, 60)))
        return original[:j] + original[i:j] + original[j:]
    j = min(n - 2, i)
    return original[:j] + original[j + 1] + original[j] + original[j + 2 :]


@st.composite
def paste_damage(draw: st.DrawFn, original: str, *, code: bool = False) -> str:
    """Only what docs/FORMAT.md tolerates: wrapping, CRLF, quote prefixes, zero-width characters, smart quotes, spaces."""
    width = draw(st.integers(4, 120))
    lines = [original[i : i + width] for i in range(0, len(original), width)] if "\n" not in original else original.splitlines()
    zw = draw(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(list(_ZERO_WIDTH))), max_size=5))
    for pos, ch in zw:
        j = pos % len(lines)
        k = (pos // 7) % (len(lines[j]) + 1)
        lines[j] = lines[j][:k] + ch + lines[j][k:]
    quote = draw(st.integers(0, 3))
    trail = draw(st.sampled_from(["", " ", "\t", "\u00a0"]))
    lines = [("> " * quote) + ln + trail for ln in lines]
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    if draw(st.booleans()):
        text = draw(st.sampled_from(["\u201c", '"', "'", "\u00ab"])) + text + draw(st.sampled_from(["\u201d", '"', "'", "\u00bb"]))
    if code and draw(st.booleans()):
        text = text.lower()
    if code and draw(st.booleans()):
        text = text.replace("-", "")
    return draw(st.sampled_from(["", " ", "\n\n", "\t \r\n"])) + text + draw(st.sampled_from(["", "\n", "  \n"]))


# -- crafted JSON ------------------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(_NOISE, max_size=20)
_JSON = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12
)


@st.composite
def hostile_json(draw: st.DrawFn) -> bytes:
    """Deep, huge, duplicate-named, non-finite, non-UTF-8 or simply odd JSON text."""
    kind = draw(st.sampled_from(["deep", "deep", "huge", "dup", "nan", "bigint", "raw", "value", "utf16", "bom"]))
    if kind == "deep":
        d = draw(st.integers(9, 100) | st.integers(900, 20_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"kid":[', "]}")]))
        return (opener * d + "1" + closer * d).encode()
    if kind == "huge":
        return json.dumps({"kid": "k4.pid." + "A" * draw(st.integers(1_000, 40_000))}).encode()
    if kind == "dup":
        return b'{"kid": "k4.pid.x", "kid": "' + VENDOR.key.kid.encode() + b'"}'
    if kind == "nan":
        return draw(st.sampled_from([b"NaN", b'{"kid": Infinity}', b"[-Infinity]", b'{"n": 1e999}']))
    if kind == "bigint":
        return b'{"n": ' + str(draw(st.integers(2**53, 10**400))).encode() + b"}"
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "utf16":
        return json.dumps({"kid": VENDOR.key.kid}).encode("utf-16")
    if kind == "bom":
        return b"\xef\xbb\xbf" + json.dumps({"kid": VENDOR.key.kid}).encode()
    return json.dumps(draw(_JSON)).encode()


# Claims the vendor's own key signed, each wrong in one way: they must still be refused, not crash.
_BAD_CLAIMS: list[tuple[str, Any]] = [
    ("lv", True), ("lv", 2), ("lv", "1"), ("nodes", "12"), ("nodes", 12.0), ("nodes", True), ("nodes", -1), ("nodes", None),
    ("serial", [1]), ("exp", "2027-01-01T00:00:00"), ("exp", 1700000000), ("exp", "tomorrow"), ("iat", None),
    ("exp", "9999-12-31T23:00:00-05:00"),
    ("maintenance_until", "9999-99-99T00:00:00Z"), ("features", "fips"), ("features", [1, 2]), ("binding", []),
    ("binding", {"factors": [], "require": [], "k": 1}), ("binding", {"factors": {}, "require": [], "k": True}),
    ("type", "forever"), ("aud", ""), ("sub", 7), ("jti", None), ("customer", {"name": "x"}), ("grace_days", 1.5),
]  # fmt: skip


# Claims without a default (features, remote_clusters, grace_days and exp have one: leaving them out is a genuine license).
_REQUIRED_CLAIMS = {"lv", "jti", "aud", "sub", "iat", "nbf", "customer", "type", "serial", "maintenance_until", "nodes", "binding"}


@st.composite
def crafted_token(draw: st.DrawFn) -> str:
    """A token an attacker can build: swapped or crafted footers, spliced signatures, look-alikes, other keys."""
    claims = LICENSE.claims()
    kind = draw(
        st.sampled_from(
            ["footer", "footer_other_key", "kid_swap", "claims_broken", "claims_hostile", "lookalike", "other_vendor", "implicit", "splice"]
        )
    )
    if kind == "footer":  # the original message and signature under another footer
        footer = draw(hostile_json() | st.sampled_from([json.dumps({"kid": OTHER.key.kid}).encode(), b'{"kid":"k4.pid."}', b"{}", b"[]"]))
        return "v4.public." + b64encode(MESSAGE + SIGNATURE) + "." + b64encode(footer)
    if kind == "footer_other_key":  # well formed, our key id, signed by someone else
        extra = draw(st.dictionaries(st.sampled_from(["wpk", "x", "kid2"]), st.text(max_size=10), max_size=2))
        return paseto_sign(OTHER_SK, MESSAGE, json.dumps({"kid": VENDOR.key.kid, **extra}).encode())
    if kind == "kid_swap":  # another vendor's token claiming to be ours
        m, s, _ = split_token(OTHER_TOKEN)
        return "v4.public." + b64encode(m + s) + "." + b64encode(FOOTER)
    if kind == "claims_broken":
        name, value = draw(st.sampled_from(_BAD_CLAIMS))
        c = dict(claims)
        if draw(st.booleans()) and name in _REQUIRED_CLAIMS:
            del c[name]
        else:
            c[name] = value
        return paseto_sign(VENDOR_SK, json.dumps(c).encode(), FOOTER)
    if kind == "claims_hostile":
        body = draw(hostile_json())
        return paseto_sign(draw(st.sampled_from([VENDOR_SK, OTHER_SK])), body, FOOTER)
    if kind == "lookalike":
        head = draw(
            st.sampled_from(
                ["v3.public.", "v4.local.", "v2.public.", "v1.local.", "v4.secret.", "V4.PUBLIC.", "v4.public.v4.public.", "v4."]
            )
        )
        rest = TOKEN.removeprefix("v4.public.")
        jwt = ".".join(b64encode(json.dumps(x).encode()) for x in ({"alg": "EdDSA", "typ": "JWT"}, claims)) + "." + b64encode(SIGNATURE)
        return draw(
            st.sampled_from(
                [
                    head + rest,
                    jwt,
                    "eyJ" + rest,
                    VENDOR.key.paserk_public(),
                    VENDOR.key.kid,
                    CODE,
                    REPORT_TEXT,
                    TOKEN + "." + b64encode(b"x"),
                    "v4.public." + rest.partition(".")[0],
                    FILE.replace("LICENSOR LICENSE", "LICENSOR REQUEST"),
                ]
            )
        )
    if kind == "other_vendor":
        return draw(st.sampled_from([OTHER_TOKEN, license_file(LICENSE, OTHER_TOKEN)]))
    if kind == "implicit":  # genuine signature, but over a non-empty implicit assertion
        return paseto_sign(VENDOR_SK, MESSAGE, FOOTER, draw(st.binary(min_size=1, max_size=16)))
    m2, s2, _ = split_token(OTHER_TOKEN)
    return (
        "v4.public." + b64encode(draw(st.sampled_from([MESSAGE + s2, m2 + SIGNATURE, MESSAGE[:-1] + SIGNATURE]))) + "." + b64encode(FOOTER)
    )


def reencoded_token(draw: st.DrawFn) -> str:
    body, footer = MESSAGE + SIGNATURE, FOOTER
    how = draw(st.sampled_from(["padded", "standard", "both", "hex"]))
    if how == "hex":
        return "v4.public." + body.hex() + "." + footer.hex()
    enc: Callable[[bytes], str] = {
        "padded": lambda b: base64.urlsafe_b64encode(b).decode(),
        "standard": lambda b: base64.b64encode(b).decode().rstrip("="),
        "both": lambda b: base64.b64encode(b).decode(),
    }[how]
    return "v4.public." + enc(body) + "." + enc(footer)


# -- request codes and usage reports built by an attacker with a fresh key --------------------------


def pack_request(key: InstallationKey, payload: bytes) -> str:
    body = b"\x01" + key.public_key + zlib.compress(payload, 9, wbits=-15)
    raw = body + key.sign(b"licensor-request-v1\x00" + body)
    raw += hashlib.blake2b(raw, digest_size=4).digest()
    return "LR1" + b32encode(raw)


_REQ_DOC = {"p": "demo", "v": "1", "c": ["A", "a@example.com", "ACME"], "n": 3, "m": 12, "r": 0, "f": {}, "cl": "", "t": 0}
_ABSURD_DATES = ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "2027-01-01T00:00:00", "9999-99", "2026-13"]
_ABSURD = st.sampled_from([2**63, 2**64, 10**100, -1, True, False, None, 1.5, "3", [], {}, 1e308, 1_000_001, 1201, *_ABSURD_DATES])


@st.composite
def crafted_request_code(draw: st.DrawFn) -> str:
    key = InstallationKey.generate()
    kind = draw(st.sampled_from(["hostile", "field", "field", "shape", "bomb"]))
    if kind == "hostile":
        return pack_request(key, draw(hostile_json()))
    if kind == "field":
        doc = dict(_REQ_DOC)
        name = draw(st.sampled_from(list(doc)))
        doc[name] = draw(_ABSURD | _JSON | st.text(_NOISE, min_size=200, max_size=400))
        return pack_request(key, json.dumps(doc).encode())
    if kind == "shape":
        doc = dict(_REQ_DOC)
        doc.update(
            draw(st.sampled_from([{"c": ["a", "b"]}, {"c": "abc"}, {"f": {"x": 1}}, {"f": {str(i): "h" for i in range(40)}}, {"p": "  "}]))
        )
        return pack_request(key, json.dumps(doc).encode())
    return pack_request(key, json.dumps(_REQ_DOC).encode() + b" " * draw(st.integers(17_000, 400_000)))


@st.composite
def reencoded_request(draw: st.DrawFn) -> str:
    """The genuine code's bytes in another encoding: RFC 4648 base32, hex, or padded."""
    data = b32decode(CODE.replace("-", "").removeprefix("LR1"))
    how = draw(st.sampled_from(["rfc4648", "hex", "padded"]))
    if how == "rfc4648":
        return "LR1" + base64.b32encode(data).decode().rstrip("=")
    if how == "hex":
        return "LR1" + data.hex().upper()
    return CODE + "======"


def _usage_text(body: bytes, sig: bytes) -> str:
    return f"-----BEGIN LICENSOR USAGE REPORT-----\n{b64encode(body)}.{b64encode(sig)}\n-----END LICENSOR USAGE REPORT-----\n"


_USAGE_DOC = json.loads(b64decode(REPORT_TEXT.split("\n\n", 1)[1].split("\n-----END")[0].replace("\n", "").split(".")[0]))


@st.composite
def crafted_usage_report(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from([KEY, InstallationKey.generate()]))
    kind = draw(st.sampled_from(["hostile", "field", "swap_key"]))
    if kind == "hostile":
        body = draw(hostile_json())
        return _usage_text(body, key.sign(b"licensor-usage-v1\x00" + body))
    if kind == "field":
        doc = dict(_USAGE_DOC, public_key=b64encode(key.public_key), installation_id=key.id)
        doc[draw(st.sampled_from(list(doc)))] = draw(_ABSURD | _JSON)
        body = json.dumps(doc).encode()
        return _usage_text(body, key.sign(b"licensor-usage-v1\x00" + body))
    # signed by a fresh key but naming the known installation, or the reverse
    fresh = InstallationKey.generate()
    doc = dict(_USAGE_DOC, public_key=b64encode(draw(st.sampled_from([KEY.public_key, fresh.public_key]))))
    body = json.dumps(doc).encode()
    return _usage_text(body, fresh.sign(b"licensor-usage-v1\x00" + body))


@st.composite
def reencoded_report(draw: st.DrawFn) -> str:
    """The genuine report's body and signature re-encoded with padding or the standard alphabet."""
    body_b64, sig_b64 = REPORT_TEXT.split("\n\n", 1)[1].split("\n-----END")[0].replace("\n", "").split(".")
    body, sig = b64decode(body_b64), b64decode(sig_b64)
    pad = base64.urlsafe_b64encode
    return f"{pad(body).decode()}.{pad(sig).decode()}" if draw(st.booleans()) else f"{base64.b64encode(body).decode()}.{b64encode(sig)}"


# -- the corpus ---------------------------------------------------------------------------------------


class TestLicenseKeys:
    @settings(BASE, max_examples=scale(450, 3000))
    @given(st.data())
    def test_mutated_keys_are_refused(self, data: st.DataObject) -> None:
        """Bit flips, cuts, additions and substitutions of a key are refused unless they are paste damage."""
        original = data.draw(st.sampled_from([TOKEN, OTHER_TOKEN]))
        try_license(data.draw(mutated(original)), TOKEN)

    @settings(BASE, max_examples=scale(150, 1000))
    @given(st.data())
    def test_mutated_files_are_refused(self, data: st.DataObject) -> None:
        """The same on a whole license file: a changed header line is tolerated (headers decide nothing), the token is not."""
        try_license(data.draw(mutated(FILE)), FILE)

    @settings(BASE, max_examples=scale(300, 2000))
    @given(st.data())
    def test_crafted_tokens_are_refused(self, data: st.DataObject) -> None:
        """Crafted footers and claims, look-alikes, another vendor's key, spliced signatures and re-encodings."""
        token = data.draw(crafted_token()) if data.draw(st.integers(0, 5)) else reencoded_token(data.draw)
        try_license(token, TOKEN)

    @settings(BASE, max_examples=scale(100, 600))
    @given(st.data())
    def test_paste_damage_is_tolerated(self, data: st.DataObject) -> None:
        """Documented paste damage to a key or a file still decodes to the very license."""
        original = data.draw(st.sampled_from([TOKEN, FILE]))
        damaged = data.draw(paste_damage(original))
        v = check(damaged, RING, INST, T0)
        FIGURES["tried"] += 1
        assert v.code == "valid" and v.license == LICENSE, (v, damaged)
        FIGURES["tolerated"] += 1


class TestRequestCodes:
    @settings(BASE, max_examples=scale(250, 2000))
    @given(st.data())
    def test_mutated_codes_are_refused(self, data: st.DataObject) -> None:
        """An edited request code is refused, unless the edit is case, dashes, O/0, I/L/1 or paste damage."""
        try_request(data.draw(mutated(data.draw(st.sampled_from([CODE, CODE.lower()]))) | reencoded_request()))

    @settings(BASE, max_examples=scale(150, 1000))
    @given(st.data())
    def test_crafted_codes_are_refused_or_sane(self, data: st.DataObject) -> None:
        """A code signed by a fresh key with hostile JSON, absurd numbers or a deflate bomb is refused, never raised."""
        try_request(data.draw(crafted_request_code()), bounds_only=True)

    @settings(BASE, max_examples=scale(50, 300))
    @given(st.data())
    def test_paste_damage_is_tolerated(self, data: st.DataObject) -> None:
        """Documented damage to a request code (case and dashes too) reads as the very request."""
        FIGURES["tried"] += 1
        assert decode_request(data.draw(paste_damage(CODE, code=True))) == REQUEST
        FIGURES["tolerated"] += 1


class TestUsageReports:
    @settings(BASE, max_examples=scale(200, 1500))
    @given(st.data())
    def test_mutated_reports_are_refused(self, data: st.DataObject) -> None:
        """An edited usage report is refused unless only its header lines or paste damage changed."""
        try_usage(data.draw(mutated(REPORT_TEXT) | reencoded_report()))

    @settings(BASE, max_examples=scale(100, 800))
    @given(st.data())
    def test_crafted_reports_are_refused_or_sane(self, data: st.DataObject) -> None:
        """Hostile JSON, absurd fields, swapped keys and re-encodings, signed by any installation key, never raise."""
        try_usage(data.draw(crafted_usage_report()), crafted=True)
