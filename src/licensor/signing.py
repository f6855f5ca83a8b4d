"""Ed25519 vendor keys and PASETO v4.public tokens.

There is exactly one token format (``v4.public``): no header is consulted to
choose an algorithm.  Keys are written as PASERK strings (``k4.public.…``,
``k4.secret.…``) and named by their PASERK id (``k4.pid.…``), which goes into
the token footer so a key ring can pick the right key during rotation.

The signature primitive is libsodium's (through PyNaCl): on this class of
machine it verifies about twice as fast as OpenSSL's Ed25519.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Self

import nacl.bindings as _sodium
import nacl.exceptions
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _lib

from .codec import MAX_INPUT, b64decode, b64encode, parse_json
from .errors import BadSignatureError, MalformedError, UnknownKeyError

__all__ = [
    "Keyring",
    "VendorKey",
    "key_id",
    "pae",
    "parse_public_key",
    "paseto_sign",
    "paseto_verify",
    "split_token",
]

HEADER = "v4.public."
_HEADER_B = HEADER.encode()
_SIG = 64
#: A footer holds one key id (about 60 bytes); PASETO advises bounding footers before parsing them.
MAX_FOOTER = 1024
MAX_FOOTER_DEPTH = 2


def pae(*pieces: bytes) -> bytes:
    """PASETO pre-authentication encoding: lengths as 64-bit LE, then the pieces."""
    out = [struct.pack("<Q", len(pieces))]
    for p in pieces:
        out.append(struct.pack("<Q", len(p)))
        out.append(p)
    return b"".join(out)


def key_id(public_key: bytes) -> str:
    """PASERK ``k4.pid`` of an Ed25519 public key (BLAKE2b-264 of its PASERK)."""
    paserk = "k4.public." + b64encode(public_key)
    digest = hashlib.blake2b(("k4.pid." + paserk).encode(), digest_size=33).digest()
    return "k4.pid." + b64encode(digest)


def parse_public_key(text: str) -> bytes:
    """Read a ``k4.public.…`` PASERK; refuse anything else by name."""
    text = text.strip()
    if not text.startswith("k4.public."):
        raise MalformedError("A vendor public key starts with 'k4.public.'; this does not", code="malformed")
    raw = b64decode(text.removeprefix("k4.public."))
    if len(raw) != 32:
        raise MalformedError("A vendor public key is 32 bytes; this one is not")
    return raw


@dataclass(frozen=True, repr=False)
class Ed25519Key:
    """An Ed25519 keypair from its 32-byte seed; subclasses never show the secret in ``repr``."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise MalformedError("An Ed25519 seed is 32 bytes")

    @classmethod
    def generate(cls) -> Self:
        return cls(os.urandom(32))

    @property
    def _keypair(self) -> tuple[bytes, bytes]:
        return _sodium.crypto_sign_seed_keypair(self.seed)

    @property
    def public_key(self) -> bytes:
        return self._keypair[0]

    def sign_detached(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return _sodium.crypto_sign(message, self._keypair[1])[:_SIG]


def verify_detached(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``message`` was made by ``public_key``."""
    try:
        _sodium.crypto_sign_open(signature + message, public_key)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


@dataclass(frozen=True, repr=False)
class VendorKey(Ed25519Key):
    """An Ed25519 signing key of a vendor.  ``repr`` never shows the secret."""

    def __repr__(self) -> str:
        return f"VendorKey(kid={self.kid!r})"

    @classmethod
    def from_paserk(cls, text: str) -> VendorKey:
        text = text.strip()
        if not text.startswith("k4.secret."):
            raise MalformedError("A vendor secret key starts with 'k4.secret.'")
        raw = b64decode(text.removeprefix("k4.secret."))
        if len(raw) != 64:
            raise MalformedError("A k4.secret key is 64 bytes")
        key = cls(raw[:32])
        if key.public_key != raw[32:]:
            raise MalformedError("This k4.secret key's public half does not match its seed")
        return key

    @property
    def kid(self) -> str:
        return key_id(self.public_key)

    def paserk_secret(self) -> str:
        return "k4.secret." + b64encode(self._keypair[1])

    def paserk_public(self) -> str:
        return "k4.public." + b64encode(self.public_key)

    def signer(self) -> _Signer:
        """A signer with the expanded key cached, for signing many tokens."""
        return _Signer(self._keypair[1], self.kid)


def paseto_sign(secret_key: bytes, message: bytes, footer: bytes = b"", implicit: bytes = b"") -> str:
    """A v4.public token (PASETO spec, v4.Sign) made with a 64-byte libsodium secret key."""
    sig = _sodium.crypto_sign(pae(_HEADER_B, message, footer, implicit), secret_key)[:_SIG]
    return HEADER + b64encode(message + sig) + ("." + b64encode(footer) if footer else "")


def paseto_verify(public_key: bytes, token: str, implicit: bytes = b"") -> tuple[bytes, bytes]:
    """``(message, footer)`` of a v4.public token signed by ``public_key``, or raise."""
    message, sig, footer = split_token(token)
    _check(public_key, message, sig, footer, implicit)
    return message, footer


_Q = struct.Struct("<Q").pack
#: The start of every v4.public PAE: four pieces, the first of them the header.
_PAE_HEAD = _Q(4) + _Q(len(_HEADER_B)) + _HEADER_B


_NULL = _ffi.NULL


def _check(public_key: bytes, message: bytes, sig: bytes, footer: bytes, implicit: bytes) -> None:
    # libsodium's combined form: the signature, then what it signs, PAE(header, message, footer, implicit), in one join.
    _open(public_key, b"".join((sig, _PAE_HEAD, _Q(len(message)), message, _Q(len(footer)), footer, _Q(len(implicit)), implicit)))


def _open(public_key: bytes, signed: bytes) -> None:
    """Verify libsodium's combined form (the signature, then what it signs), or raise BadSignatureError."""
    # libsodium's crypto_sign_open itself (PyNaCl's cffi library), asked for the verdict only: with no output buffer
    # it verifies and copies nothing (the message is ours already).  PyNaCl's wrapper would allocate and fill a buffer
    # the size of the message on every call; the key is 32 bytes, checked when the ring took it.
    if len(public_key) != 32 or _lib.crypto_sign_open(_NULL, _NULL, signed, len(signed), public_key) != 0:
        raise BadSignatureError(
            "The signature does not match: this key was changed after the vendor signed it; "
            "paste it again from the vendor's original message or file"
        ) from None


class _Signer:
    """``paseto_sign(sk, message, footer)`` for one key and footer, the parts that never change built once."""

    __slots__ = ("_sk", "_suffix", "_tail", "kid")

    def __init__(self, sk: bytes, kid: str):
        self._sk = sk
        self.kid = kid
        footer = json.dumps({"kid": kid}, separators=(",", ":")).encode()
        # PAE(header, message, footer, ""): only the message and its length vary.
        self._suffix = _Q(len(footer)) + footer + _Q(0)
        self._tail = "." + b64encode(footer)

    def sign(self, message: bytes) -> str:
        sig = _sodium.crypto_sign(_PAE_HEAD + _Q(len(message)) + message + self._suffix, self._sk)[:_SIG]
        return HEADER + b64encode(message + sig) + self._tail


def split_token(token: str) -> tuple[bytes, bytes, bytes]:
    """``(message, signature, footer)`` of a clean token; malformed if it is not one."""
    if len(token) > MAX_INPUT:
        raise MalformedError(f"The input is {len(token)} characters; a license key is far smaller", details={"reason": "too_large"})
    parts = token.split(".")
    if len(parts) not in (3, 4) or parts[0] != "v4" or parts[1] != "public" or not parts[2]:
        if token.startswith(("v1.", "v2.", "v3.", "v4.local.")):
            raise MalformedError(
                f"This is a '{'.'.join(parts[:2])}' token; licensor keys are always v4.public: ask your vendor for a licensor license key"
            )
        raise MalformedError("This is not a license key: a key starts with 'v4.public.' and holds only letters, digits, '-', '_' and '.'")
    body = b64decode(parts[2])
    if len(body) <= _SIG:
        raise MalformedError("This license key is too short: it was cut off, copy all of it")
    footer = b64decode(parts[3]) if len(parts) == 4 else b""
    return body[:-_SIG], body[-_SIG:], footer


class Keyring:
    """The vendor public keys an installation trusts, by key id."""

    def __init__(self, keys: Iterable[bytes] = ()):
        self._keys: dict[str, bytes] = {}
        # Footers already parsed, by their base64url text, to their bytes and key id: a product checks the
        # same few footers over and over.
        self._footers: dict[str, tuple[str, bytes]] = {}
        #: Texts this ring has verified, to what they decoded to (``policy.check`` keeps it).
        self.verified: dict[str, object] = {}
        for k in keys:
            self.add(k)

    def add(self, public_key: bytes) -> str:
        if len(public_key) != 32:
            raise MalformedError("A vendor public key is 32 bytes")
        kid = key_id(public_key)
        self._keys[kid] = public_key
        # Whatever was verified before the ring changed is verified again (a new dict: a check
        # running meanwhile may still write to the old one, which no one reads any more).
        self.verified = {}
        return kid

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def public_keys(self) -> list[bytes]:
        return list(self._keys.values())

    @classmethod
    def from_text(cls, text: str) -> Keyring:
        """One ``k4.public.…`` per line; blank lines and ``#`` comments ignored."""
        ring = cls()
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                ring.add(parse_public_key(line))
        if not ring:
            raise MalformedError("The public key file holds no 'k4.public.' key: use the file from 'licensor vendor public-key'")
        return ring

    def to_text(self) -> str:
        return "".join(f"# {kid}\nk4.public.{b64encode(pk)}\n" for kid, pk in self._keys.items())

    def verify(self, token: str) -> tuple[bytes, str]:
        """Verify a clean token; return ``(message, kid)`` or raise."""
        parts = token.split(".") if len(token) <= MAX_INPUT else []
        seen = self._footers.get(parts[3]) if len(parts) == 4 and parts[0] == "v4" and parts[1] == "public" else None
        if seen is not None:  # a footer read before: decode the body only (split_token's checks, in its order)
            body = b64decode(parts[2])
            pk = self._keys.get(seen[0])
            if len(body) > _SIG and pk is not None:
                message = body[:-_SIG]
                _open(pk, b"".join((body[-_SIG:], _PAE_HEAD, _Q(len(message)), message, seen[1])))
                return message, seen[0]
        message, sig, footer = split_token(token)
        kid = _footer_kid(footer)
        # The end of the PAE after the message (the footer, no implicit assertion) is the same for every token with it.
        tail = _Q(len(footer)) + footer + _Q(0)
        if len(self._footers) < 64 and len(parts) == 4:
            self._footers[parts[3]] = (kid, tail)
        return self._verified(message, sig, kid, tail)

    def _verified(self, message: bytes, sig: bytes, kid: str, tail: bytes) -> tuple[bytes, str]:
        pk = self._keys.get(kid)
        if pk is None:
            raise UnknownKeyError(
                f"This key was signed by vendor key {kid}, which this installation does not trust: "
                "import the vendor's current public key set, or ask the vendor for a key signed with a key you trust",
                details={"kid": kid},
            )
        _open(pk, b"".join((sig, _PAE_HEAD, _Q(len(message)), message, tail)))
        return message, kid


def _footer_kid(footer: bytes) -> str:
    # The footer is not yet authenticated here: it only selects a key, and the
    # signature over it is checked next.
    if not footer:
        raise MalformedError("The license key has no footer naming its vendor key: it is not a licensor key")
    data = parse_json(
        footer,
        "the license key's footer",
        max_size=MAX_FOOTER,
        max_depth=MAX_FOOTER_DEPTH,
        remedy="it is not a licensor key; paste the key exactly as the vendor sent it",
    )
    kid = data.get("kid") if isinstance(data, dict) else None
    if kid is None:
        raise MalformedError("The license key has no vendor key id in its footer: it is not a licensor key")
    if not isinstance(kid, str) or not kid.startswith("k4.pid."):
        raise MalformedError("The license key's footer names no k4.pid vendor key id: it is not a licensor key")
    return kid
