"""Text encodings: strict base64url, Crockford base32, paste clean-up, armour.

Keys and codes travel through e-mail and chat.  ``clean_paste`` undoes what those
do to text (wrapping, CRLF, ``> `` quoting, zero-width characters, smart quotes)
and nothing else; whatever is still wrong afterwards is *malformed*.

``parse_json`` is the one JSON reader for untrusted content (footers, claims,
request codes, usage reports): bounded in size and depth, strict, and refusing
with MalformedError only.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import MalformedError
from .words import sentence

__all__ = [
    "MAX_DEPTH",
    "MAX_INPUT",
    "MAX_INT",
    "Armoured",
    "armour",
    "b32decode",
    "b32encode",
    "b64decode",
    "b64encode",
    "clean_paste",
    "group",
    "parse_json",
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

    Only the 64 characters of the url alphabet are read: ``=`` padding, the
    ``+/`` alphabet and anything else are refused.  Lenient decoders also ignore
    the unused low bits of the last character, so two different texts decode to
    the same bytes and a changed character goes unnoticed; we refuse a last
    character whose unused bits are not zero.  Together: ``b64encode(b64decode(t)) == t``.
    """
    rem = len(text) % 4
    if "=" in text:
        raise MalformedError(
            "The text is padded base64 ('='): licensor writes base64url without padding; paste the key exactly as the vendor sent it",
            details={"reason": "padded_base64"},
        )
    if rem == 1 or "+" in text or "/" in text:
        raise MalformedError("The text is not valid base64url", details={"reason": "not_base64url"})
    if rem:
        last = _B64_INDEX.get(text[-1])
        if last is None or last & (0x0F if rem == 2 else 0x03):
            raise MalformedError("The text is not canonical base64url (a character was changed)", details={"reason": "not_canonical"})
    try:
        # Strict mode refuses any character outside the alphabet; the padding is ours (the text's own was refused above).
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STD64) + b"=="[: (4 - rem) % 4], strict_mode=True)
    except (binascii.Error, ValueError):  # UnicodeEncodeError is a ValueError
        raise MalformedError("The text is not valid base64url", details={"reason": "not_base64url"}) from None


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
        raise MalformedError("The text is not valid base32")
    std = text.translate(_TO_STD)
    try:
        data = base64.b32decode(std + "=" * (-len(std) % 8))
    except (binascii.Error, ValueError) as exc:
        raise MalformedError("The text is not valid base32") from exc
    if b32encode(data) != text:
        raise MalformedError("The text is not canonical base32 (a character was changed)")
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
    if isinstance(text, bytearray | memoryview):
        text = bytes(text)
    if not isinstance(text, str | bytes):
        # Typed callers never get here; an SDK user passing a number gets a refusal, not a TypeError.
        raise MalformedError(f"The input is a {type(text).__name__}, not text: pass the key or code as a string")
    if isinstance(text, bytes):
        if len(text) > MAX_INPUT:
            raise MalformedError(f"The input is {len(text)} bytes; a key or code is far smaller")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedError("The input is not text (it is not valid UTF-8): paste the key itself, not a binary file") from exc
    if len(text) > MAX_INPUT:
        raise MalformedError(f"The input is {len(text)} characters; a key or code is far smaller")
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
    # A block pasted between quotation marks has them on its BEGIN and END lines.
    marks = [ln.strip().strip(_QUOTE_CHARS).strip() for ln in lines]
    begin = next((i for i, ln in enumerate(marks) if ln.startswith("-----BEGIN ")), None)
    if begin is not None:
        kind = marks[begin].removeprefix("-----BEGIN ").rstrip("-").strip()
        end = next((i for i in range(begin + 1, len(lines)) if marks[i].startswith("-----END ")), None)
        if end is None:
            raise MalformedError(f"The {kind.lower()} block has a BEGIN line but no END line: it was cut off, copy all of it")
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


# -- JSON from untrusted text ---------------------------------------------------

#: Deepest nesting any licensor JSON may have; the formats need 3 (license claims' binding factors).
MAX_DEPTH = 8
#: Largest integer read from JSON: 2**53 - 1, the largest every JSON implementation holds exactly.
MAX_INT = 2**53 - 1
_MAX_INT_DIGITS = len(str(MAX_INT))
# A JSON string literal, escapes included: removed before counting brackets.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Escapes that may spell a control character or half of a surrogate pair: checked after parsing.
_SUSPECT_ESCAPE = re.compile(r"\\(?:[bfnrt]|u(?:00[01]|[dD][89a-fA-F]))")
_BAD_CHAR = re.compile("[\x00-\x1f\ud800-\udfff]")
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class _Refused(ValueError):
    """Raised inside the parser's hooks; becomes a MalformedError with ``reason``."""

    def __init__(self, reason: str, problem: str):
        super().__init__(problem)
        self.reason, self.problem = reason, problem


def _json_int(text: str) -> int:
    if len(text) < _MAX_INT_DIGITS:  # the common case, and nothing this short is out of range
        return int(text)
    # The length before int(): converting a long enough text costs quadratic time.
    if len(text) > _MAX_INT_DIGITS + 1 or abs(value := int(text)) > MAX_INT:
        raise _Refused("number_too_big", f"it holds a number beyond ±{MAX_INT}")
    return value


def _json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("not_a_number", "it holds a number too big to represent")
    return value


def _json_constant(name: str) -> Any:
    raise _Refused("not_a_number", f"it holds {name}, which is not JSON")


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        # Parsers disagree on which of two equal names wins; a text with two meanings has none.
        raise _Refused("duplicate_key", "it names the same field twice")
    return obj


# Built once: json.loads with hooks would build a decoder on every call.
_DECODER = json.JSONDecoder(parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant, object_pairs_hook=_json_object)
# The same without the integer hook, for a text with no run of 16 digits: nothing shorter exceeds MAX_INT
# (a number of 15 digits is below 10**15 < 2**53), and the C scanner then makes integers without calling back.
_SHORT_INTS = json.JSONDecoder(parse_float=_json_float, parse_constant=_json_constant, object_pairs_hook=_json_object)
_DIGITS_AS_0 = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * _MAX_INT_DIGITS


def _depth(text: str) -> int:
    depth = deepest = 0
    for c in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if c in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif c in "]}":
            depth -= 1
    return deepest


def _bad_value(value: Any) -> tuple[str, str] | None:
    """The first control character or lone surrogate in any string or name in ``value``."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if _BAD_CHAR.search(v):
                return "bad_character", "it holds a control character or a broken Unicode escape"
        elif isinstance(v, dict):
            stack.extend(v)
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return None


def parse_json(
    data: bytes,
    what: str,
    *,
    max_size: int = MAX_INPUT,
    max_depth: int = MAX_DEPTH,
    remedy: str = "it was not made by licensor; ask its sender for a new one",
) -> Any:
    """The one way the core reads JSON from untrusted text: bounded, strict, and refusing as MalformedError.

    ``what`` names the content for the hint (``"the license key's footer"``).  Refused,
    each with ``details["reason"]``: more than ``max_size`` bytes (``too_large``), not
    UTF-8 (``not_utf8``, so no UTF-16 or byte order mark guessing), nesting deeper than
    ``max_depth`` (``too_deep``, counted before parsing so nothing recurses on it),
    not JSON (``not_json``), NaN, Infinity or a float that overflows (``not_a_number``),
    an integer beyond ±(2**53 - 1) (``number_too_big``), a name twice in one object
    (``duplicate_key``), and control characters or lone surrogates in any string or
    name (``bad_character``: they break databases, mail headers and terminals).
    """

    if len(data) > max_size:
        raise _refuse(what, remedy, "too_large", f"it is {len(data)} bytes, more than the {max_size} allowed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(what, remedy, "not_utf8", "it is not UTF-8 text") from None
    # Counting brackets is cheap; the exact (string-aware) count runs only when it could matter.
    if text.count("[") + text.count("{") > max_depth and _depth(text) > max_depth:
        raise _refuse(what, remedy, "too_deep", f"it is nested more than {max_depth} levels deep")
    # Two passes over the bytes in C prove most texts free of long numbers, so their integers need no hook.
    decoder = _DECODER if _LONG_RUN in data.translate(_DIGITS_AS_0) else _SHORT_INTS
    try:
        value = _decode(decoder, text)
    except _Refused as e:
        raise _refuse(what, remedy, e.reason, e.problem) from None
    except (ValueError, RecursionError):
        raise _refuse(what, remedy, "not_json", "it is not JSON") from None
    # Raw control characters are not JSON (the scanner is strict); one in a string or name, or half a
    # surrogate pair, can only be spelt with a backslash: without one, there is nothing to look for.
    if "\\" in text and _SUSPECT_ESCAPE.search(text) and (bad := _bad_value(value)):
        raise _refuse(what, remedy, *bad)
    return value


def _decode(decoder: json.JSONDecoder, text: str) -> Any:
    # The scanner itself first: JSONDecoder.decode matches whitespace around the value with a regex, twice.
    # A text with whitespace around it, or that is not JSON, goes through decode, which reads or refuses it.
    try:
        value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]  # set by JSONDecoder.__init__, not in typeshed
    except StopIteration:
        end = -1
    return value if end == len(text) else decoder.decode(text)


def _refuse(what: str, remedy: str, reason: str, problem: str) -> MalformedError:
    return MalformedError(f"{sentence(what)} is not valid: {problem}; {remedy}", details={"reason": reason})
