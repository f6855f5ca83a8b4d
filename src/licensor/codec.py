"""Text encodings: strict base64url, Crockford base32, paste clean-up, armour.

Keys and codes travel through e-mail and chat.  ``clean_paste`` undoes what those
do to text (wrapping, CRLF, ``> `` quoting, zero-width characters, smart quotes)
and nothing else; whatever is still wrong afterwards is *malformed*.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from .errors import MalformedError

__all__ = [
    "MAX_INPUT",
    "Armoured",
    "armour",
    "b32decode",
    "b32encode",
    "b64decode",
    "b64encode",
    "clean_paste",
    "group",
    "unarmour",
]

#: Nothing a person pastes is this big; refusing early keeps parsing cheap.
MAX_INPUT = 64 * 1024


def b64encode(data: bytes) -> str:
    """Unpadded base64url, as PASETO uses."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64_INDEX = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
_TO_STD64 = bytes.maketrans(b"-_", b"+/")


def b64decode(text: str) -> bytes:
    """Strict unpadded base64url: exactly one text for each byte string.

    Lenient decoders ignore the unused low bits of the last character, so two
    different texts decode to the same bytes; a changed character would then go
    unnoticed.  We refuse a last character whose unused bits are not zero, and
    anything outside the alphabet (including padding and the ``+/`` alphabet).
    """
    rem = len(text) % 4
    if rem == 1 or "+" in text or "/" in text:
        raise MalformedError("the text is not valid base64url")
    if rem:
        last = _B64_INDEX.get(text[-1])
        if last is None or last & (0x0F if rem == 2 else 0x03):
            raise MalformedError("the text is not canonical base64url (a character was changed)")
    try:
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STD64) + b"=="[: (4 - rem) % 4], strict_mode=True)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise MalformedError("the text is not valid base64url") from None


# Crockford's base32: no I, L, O, U; case-insensitive; O reads as 0, I and L as 1.
_B32_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_B32_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_STD = str.maketrans(_B32_ALPHABET, _B32_STD)
_FROM_STD = str.maketrans(_B32_STD, _B32_ALPHABET)
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_B32_RE = re.compile(f"[{_B32_ALPHABET}]*")


def b32encode(data: bytes) -> str:
    """Crockford base32, upper case, unpadded (fits a QR code's alphanumeric mode)."""
    return base64.b32encode(data).decode("ascii").rstrip("=").translate(_FROM_STD)


def b32decode(text: str) -> bytes:
    """Decode Crockford base32, ignoring case and reading O as 0 and I/L as 1."""
    text = text.upper().translate(_ALIASES)
    if not _B32_RE.fullmatch(text) or len(text) % 8 in (1, 3, 6):
        raise MalformedError("the text is not valid base32")
    std = text.translate(_TO_STD)
    try:
        data = base64.b32decode(std + "=" * (-len(std) % 8))
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("the text is not valid base32") from exc
    if b32encode(data) != text:
        raise MalformedError("the text is not canonical base32 (a character was changed)")
    return data


def group(text: str, size: int = 4, sep: str = "-") -> str:
    """``ABCDEFGH`` -> ``ABCD-EFGH``: easier to read aloud and compare."""
    return sep.join(text[i : i + size] for i in range(0, len(text), size))


# Characters that mail and chat programs insert or substitute.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
_QUOTE_CHARS = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"
_QUOTES = dict.fromkeys(map(ord, _QUOTE_CHARS), None)
# "> " reply prefixes, possibly nested, possibly after an opening quotation mark.
_QUOTE_PREFIX = re.compile(f"^(?:[ \t{_QUOTE_CHARS}]*>)+[ \t]?")
_ANY_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Armoured:
    """What ``unarmour`` found: the payload with whitespace removed, and header lines."""

    kind: str | None
    payload: str
    headers: dict[str, str] = field(default_factory=dict)


def _lines(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        if len(text) > MAX_INPUT:
            raise MalformedError(f"the input is {len(text)} bytes; a key or code is far smaller")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError("the input is not text (it is not valid UTF-8): paste the key itself, not a binary file") from exc
    if len(text) > MAX_INPUT:
        raise MalformedError(f"the input is {len(text)} characters; a key or code is far smaller")
    text = text.translate(_ZERO_WIDTH)
    return [_QUOTE_PREFIX.sub("", line) for line in text.splitlines()]


def unarmour(text: str | bytes) -> Armoured:
    """Undo paste damage and any ``-----BEGIN …-----`` armour; return the payload.

    Header lines inside an armour (``Customer: ACME``) are returned for display;
    they inform people and decide nothing.
    """
    lines = _lines(text)
    kind = None
    headers: dict[str, str] = {}
    begin = next((i for i, ln in enumerate(lines) if ln.strip().startswith("-----BEGIN ")), None)
    if begin is not None:
        kind = lines[begin].strip().removeprefix("-----BEGIN ").rstrip("-").strip()
        end = next((i for i in range(begin + 1, len(lines)) if lines[i].strip().startswith("-----END ")), None)
        if end is None:
            raise MalformedError(f"the {kind.lower()} block has a BEGIN line but no END line: it was cut off, copy all of it")
        body = lines[begin + 1 : end]
        # Headers run up to the first blank line (or are absent).
        if any(":" in ln for ln in body) and "" in [ln.strip() for ln in body]:
            blank = [ln.strip() for ln in body].index("")
            for ln in body[:blank]:
                name, _, value = ln.partition(":")
                headers[name.strip()] = value.strip()
            body = body[blank + 1 :]
        lines = body
    payload = _ANY_SPACE.sub("", "".join(lines)).translate(_QUOTES)
    return Armoured(kind=kind, payload=payload, headers=headers)


def clean_paste(text: str | bytes) -> str:
    """The payload of a pasted key or code, with paste damage undone."""
    return unarmour(text).payload


def armour(kind: str, payload: str, headers: dict[str, str], width: int = 64) -> str:
    """Wrap ``payload`` in a ``-----BEGIN kind-----`` block with readable headers."""
    out = [f"-----BEGIN {kind}-----"]
    out += [f"{k}: {v}" for k, v in headers.items()]
    out.append("")
    out += [payload[i : i + width] for i in range(0, len(payload), width)]
    out.append(f"-----END {kind}-----")
    return "\n".join(out) + "\n"
