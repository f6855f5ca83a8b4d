"""Property tests: tampering is never accepted, paste damage never matters, garbage never crashes."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensor import Contact, LicensorError, check, decode_request, make_request
from licensor.testing import T0, TestVendor, test_installation

VENDOR = TestVendor()
KEY, INST = test_installation()
TOKEN = VENDOR.issue(INST, nodes=12, features=("fips", "multi-cluster"), grace_days=3)
CODE = make_request(
    KEY, product="demo", version="1", contact=Contact("A", "a@example.com", "ACME"), nodes=3, months=12, factors=INST.factors, now=T0
)
REQUEST = decode_request(CODE)

SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
any_char = st.characters(codec="utf-8") | st.sampled_from(list("AZaz09-_.=+/ \n\t\u200b\u201c\"'>"))


class TestTampering:
    @SETTINGS
    @given(pos=st.integers(0, len(TOKEN) - 1), char=any_char)
    def test_any_single_character_change_is_refused(self, pos: int, char: str) -> None:
        """Changing any one character of a key never yields a valid verdict, and never raises."""
        if TOKEN[pos] == char:
            return
        changed = TOKEN[:pos] + char + TOKEN[pos + 1 :]
        v = check(changed, VENDOR.keyring, INST, T0)
        assert v.code != "valid"
        assert v.code in {"malformed", "bad_signature", "unknown_key"}, v

    @SETTINGS
    @given(pos=st.integers(0, len(TOKEN) - 1))
    def test_any_deleted_character_is_refused(self, pos: int) -> None:
        """A character lost in transit is never valid."""
        assert check(TOKEN[:pos] + TOKEN[pos + 1 :], VENDOR.keyring, INST, T0).code != "valid"

    @SETTINGS
    @given(pos=st.integers(0, len(CODE) - 1), char=any_char)
    def test_request_code_change_is_refused_or_harmless(self, pos: int, char: str) -> None:
        """A changed request code character is refused, or is one of the tolerated aliases (case, O/0, I/L/1, dashes)."""
        changed = CODE[:pos] + char + CODE[pos + 1 :]
        try:
            req = decode_request(changed)
        except LicensorError as e:
            refused: LicensorError | None = e
        else:
            refused = None
        if refused is not None:
            assert refused.code in {"malformed", "bad_signature"}
        else:
            assert req == REQUEST


def _damage(token: str, width: int, crlf: bool, quote: int, zw: list[int], smart: bool, pad: str) -> str:
    lines = [token[i : i + width] for i in range(0, len(token), width)]
    for n, i in enumerate(sorted(zw)):
        j = i % len(lines)
        k = (i // 7) % (len(lines[j]) + 1)
        lines[j] = lines[j][:k] + "\u200b\u200c\u200d\u2060\ufeff"[n % 5] + lines[j][k:]
    lines = [("> " * quote) + ln for ln in lines]
    text = ("\r\n" if crlf else "\n").join(lines)
    if smart:
        text = "\u201c" + text + "\u201d"
    return pad + text + pad


class TestPasteTolerance:
    @SETTINGS
    @given(
        width=st.integers(1, 120),
        crlf=st.booleans(),
        quote=st.integers(0, 3),
        zw=st.lists(st.integers(0, 10_000), max_size=6),
        smart=st.booleans(),
        pad=st.sampled_from(["", " ", "\n\n", "\t \r\n"]),
    )
    def test_paste_damage_still_verifies(self, width: int, crlf: bool, quote: int, zw: list[int], smart: bool, pad: str) -> None:
        """Wrapping, CRLF, quote prefixes, zero-width characters, smart quotes and padding do not matter."""
        damaged = _damage(TOKEN, width, crlf, quote, zw, smart, pad)
        v = check(damaged, VENDOR.keyring, INST, T0)
        assert v.code == "valid", (v, damaged)
        assert v.license is not None and v.license.nodes == 12

    @SETTINGS
    @given(width=st.integers(5, 80), crlf=st.booleans(), quote=st.integers(0, 2))
    def test_paste_damage_to_request_codes(self, width: int, crlf: bool, quote: int) -> None:
        """Request codes survive the same damage, and lower case."""
        damaged = _damage(CODE.lower(), width, crlf, quote, [], False, " ")
        assert decode_request(damaged) == REQUEST


class TestGarbage:
    @SETTINGS
    @given(st.text(max_size=2000) | st.binary(max_size=2000).map(lambda b: b.decode("latin-1")))
    def test_random_text_is_malformed(self, text: str) -> None:
        """Random text is malformed (or missing when blank), never valid, never a traceback."""
        v = check(text, VENDOR.keyring, INST, T0)
        assert v.code in {"malformed", "missing"}
        assert v.hint

    @SETTINGS
    @given(st.binary(max_size=2000))
    def test_random_bytes_are_malformed(self, data: bytes) -> None:
        """An uploaded binary file is malformed, never a traceback."""
        assert check(data, VENDOR.keyring, INST, T0).code in {"malformed", "missing"}

    @SETTINGS
    @given(st.text(alphabet="v4.publicABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=400))
    def test_token_shaped_garbage_is_refused(self, body: str) -> None:
        """Text made of token characters is refused with a code, not accepted and not raised."""
        v = check("v4.public." + body, VENDOR.keyring, INST, T0)
        assert v.code in {"malformed", "bad_signature", "unknown_key"}

    @SETTINGS
    @given(st.text(max_size=1500))
    def test_request_garbage_raises_only_licensor_errors(self, text: str) -> None:
        """decode_request refuses garbage with a coded error."""
        try:
            decode_request("LR1" + text)
        except LicensorError as e:
            refused: LicensorError | None = e
        else:
            refused = None
        assert refused is None or refused.code in {"malformed", "bad_signature"}
