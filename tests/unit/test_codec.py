"""Encodings and paste clean-up."""

from __future__ import annotations

import pytest

from licensor.codec import armour, b32decode, b32encode, b64decode, b64encode, clean_paste, unarmour
from licensor.errors import MalformedError


class TestBase64url:
    def test_round_trip(self) -> None:
        """Every length round-trips without padding."""
        for n in range(70):
            data = bytes(range(n))
            assert "=" not in b64encode(data)
            assert b64decode(b64encode(data)) == data

    def test_non_canonical_last_character_is_refused(self) -> None:
        """A last character differing only in unused bits would decode to the same bytes: refused."""
        text = b64encode(b"\x00")  # "AA"
        assert text == "AA"
        with pytest.raises(MalformedError):
            b64decode("AB")

    @pytest.mark.parametrize("bad", ["A", "AB=C", "a+b/", "AAAA AAAA", "é"])
    def test_invalid_text_is_malformed(self, bad: str) -> None:
        """Padding, the standard alphabet, spaces and non-ASCII are not base64url."""
        with pytest.raises(MalformedError):
            b64decode(bad)


class TestBase32:
    def test_round_trip_and_case_insensitive(self) -> None:
        """Crockford base32 ignores case and reads O as 0, I and L as 1."""
        data = bytes(range(40))
        text = b32encode(data)
        assert b32decode(text.lower()) == data
        assert b32decode(text.replace("0", "O").replace("1", "I")) == data

    def test_non_canonical_is_refused(self) -> None:
        """Trailing unused bits must be zero."""
        text = b32encode(b"\xff")  # 2 characters, 2 unused bits
        with pytest.raises(MalformedError):
            b32decode(text[:-1] + "Z")


TOKEN = "v4.public.eyJhIjoxfQabc_-XYZ.eyJraWQiOiJ4In0"


def _wrap(text: str, width: int, sep: str = "\n", prefix: str = "") -> str:
    return prefix + (sep + prefix).join(text[i : i + width] for i in range(0, len(text), width))


class TestCleanPaste:
    @pytest.mark.parametrize(
        "damaged",
        [
            TOKEN,
            f"  {TOKEN}\r\n",
            _wrap(TOKEN, 10),
            _wrap(TOKEN, 7, "\r\n"),
            _wrap(TOKEN, 12, "\n", "> "),
            "> > " + TOKEN,
            TOKEN[:5] + "\u200b" + TOKEN[5:20] + "\ufeff\u200d" + TOKEN[20:],
            f"\u201c{TOKEN}\u201d",
            f"\u2018{TOKEN}\u2019",
            f'"{TOKEN}"',
            TOKEN[:15] + "\u00a0" + TOKEN[15:],
        ],
    )
    def test_paste_damage_is_undone(self, damaged: str) -> None:
        """What mail and chat do to a key does not matter."""
        assert clean_paste(damaged) == TOKEN

    def test_bytes_are_read_as_utf8(self) -> None:
        """An uploaded file's bytes are text."""
        assert clean_paste(TOKEN.encode()) == TOKEN

    def test_binary_is_malformed(self) -> None:
        """A binary upload is refused with a hint, not a traceback."""
        with pytest.raises(MalformedError, match="not text"):
            clean_paste(b"\xff\xfe\x00\x81garbage")

    def test_huge_input_is_malformed(self) -> None:
        """Nothing a person pastes is megabytes long."""
        with pytest.raises(MalformedError):
            clean_paste("A" * 100_000)


class TestArmour:
    def test_headers_and_payload(self) -> None:
        """Header lines are returned for display; the payload is rejoined."""
        text = armour("LICENSOR LICENSE", "x" * 100, {"Customer": "ACME", "Nodes": "5"})
        a = unarmour(text)
        assert a.kind == "LICENSOR LICENSE"
        assert a.headers == {"Customer": "ACME", "Nodes": "5"}
        assert a.payload == "x" * 100

    def test_quoted_armour_in_a_reply(self) -> None:
        """An armoured block quoted in a reply, with text around it, still reads."""
        text = armour("LICENSOR LICENSE", "y" * 80, {"Customer": "ACME"})
        mail = "Hi, here it is:\n\n" + "".join("> " + ln + "\r\n" for ln in text.splitlines()) + "\nRegards"
        assert unarmour(mail).payload == "y" * 80

    def test_cut_off_armour_is_malformed(self) -> None:
        """A BEGIN without END means the paste was cut."""
        text = armour("LICENSOR LICENSE", "z" * 80, {})
        with pytest.raises(MalformedError, match="cut off"):
            unarmour(text.split("-----END")[0])
