"""Request codes: what an installation sends its vendor to get a license.

Layout (before base32)::

    0x01 | installation public key (32) | raw DEFLATE of JSON | signature (64) | checksum (4)

The signature is the installation key's Ed25519 signature over
``b"licensor-request-v1\\x00" + everything before it``: proof that the code came
from that installation.  The checksum (BLAKE2b-32 of everything before it)
catches typing mistakes before the signature is looked at.  The whole is
written in Crockford base32 behind ``LR1``, so case and the dashes between
groups do not matter, and it fits a QR code's alphanumeric mode.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .codec import b32decode, b32encode, group, parse_json, unarmour
from .errors import BadSignatureError, MalformedError, UsageError
from .identity import InstallationKey, installation_id, verify_installation_signature
from .license import MAX_COUNT, MAX_MONTHS
from .words import plural

__all__ = ["Contact", "RequestCode", "decode_request", "make_request"]

PREFIX = "LR1"
ARMOUR = "LICENSOR REQUEST"
_VERSION = b"\x01"
_DOMAIN = b"licensor-request-v1\x00"
_PK, _SIG, _CS = 32, 64, 4
#: The inflated JSON of a request is a few hundred bytes; a signed deflate bomb stops here.
MAX_PAYLOAD = 16 * 1024
#: Every text field (product, version, contact, cluster name, factor names and hashes).
MAX_TEXT = 256
MAX_FACTORS = 16
#: ``t``: seconds since 1970, up to the end of the year 9999.
MAX_TIME = 253402300799
_FIX = "change it before making the code"
_REMEDY = "the code was not made by licensor; ask the customer to make a new request code on their controller"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str
    company: str


@dataclass(frozen=True)
class RequestCode:
    """A verified request: who asks, for which installation, for what."""

    public_key: bytes
    product: str
    version: str
    contact: Contact
    nodes: int
    months: int
    remote_clusters: int = 0
    factors: Mapping[str, str] = field(default_factory=dict)
    cluster_name: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.fromtimestamp(0, UTC))

    @property
    def installation_id(self) -> str:
        return installation_id(self.public_key)

    def summary(self) -> dict[str, Any]:
        return {
            "installation_id": self.installation_id,
            "product": self.product,
            "version": self.version,
            "contact": {"name": self.contact.name, "email": self.contact.email, "company": self.contact.company},
            "nodes": self.nodes,
            "months": self.months,
            "remote_clusters": self.remote_clusters,
            "factors": dict(self.factors),
            "cluster_name": self.cluster_name,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def make_request(
    key: InstallationKey,
    *,
    product: str,
    version: str,
    contact: Contact,
    nodes: int,
    months: int,
    remote_clusters: int = 0,
    factors: Mapping[str, str] | None = None,
    cluster_name: str = "",
    now: datetime,
) -> str:
    """The request code text (``LR1-…``) for this installation, signed by it.

    What ``decode_request`` would refuse (a number or text out of bounds) is a
    UsageError here: an installation cannot make a code its vendor cannot read.
    """
    doc = {
        "p": product,
        "v": version,
        "c": [contact.name, contact.email, contact.company],
        "n": nodes,
        "m": months,
        "r": remote_clusters,
        "f": dict(factors or {}),
        "cl": cluster_name,
        "t": int(now.timestamp()),
    }
    payload = json.dumps(doc, separators=(",", ":")).encode()
    try:
        # Read back exactly as the vendor will.
        _fields(parse_json(payload, "this request code's content", max_size=MAX_PAYLOAD, remedy=_FIX), _FIX)
    except MalformedError as e:
        raise UsageError(e.hint, details=e.details) from None
    packed = zlib.compress(payload, 9, wbits=-15)
    body = _VERSION + key.public_key + packed
    sig = key.sign(_DOMAIN + body)
    raw = body + sig
    raw += hashlib.blake2b(raw, digest_size=_CS).digest()
    return group(PREFIX + b32encode(raw), 5)


def request_file(code: str, req: RequestCode) -> str:
    from .codec import armour

    headers = {
        "Installation": req.installation_id,
        "Product": f"{req.product} {req.version}",
        "Company": req.contact.company,
        "Contact": f"{req.contact.name} <{req.contact.email}>",
        "Asked": f"{plural(req.nodes, 'node')}, {plural(req.months, 'month')}, {plural(req.remote_clusters, 'remote cluster')}",
        "Note": "send this whole block to your vendor",
    }
    return armour(ARMOUR, code, headers)


def _clean(text: str | bytes) -> str:
    a = unarmour(text)
    if a.kind is not None and a.kind != ARMOUR:
        raise MalformedError(f"This is a '{a.kind}' block, not a request code")
    code = a.payload.replace("-", "").upper()
    if not code:
        raise MalformedError("No request code was given: paste the code the customer sent")
    if not code.startswith(PREFIX):
        raise MalformedError("This is not a licensor request code: a request code starts with 'LR1-'")
    return code[len(PREFIX) :]


def decode_request(text: str | bytes) -> RequestCode:
    """Read, check and verify a request code (paste damage undone), or raise why not."""
    raw = b32decode(_clean(text))
    if len(raw) < 1 + _PK + _SIG + _CS + 2:
        raise MalformedError("This request code is too short: it was cut off, copy all of it")
    data, cs = raw[:-_CS], raw[-_CS:]
    if hashlib.blake2b(data, digest_size=_CS).digest() != cs:
        raise MalformedError("This request code's checksum does not match: a character was mistyped or lost; copy it again")
    if data[:1] != _VERSION:
        raise MalformedError("This request code is of a newer format than this licensor understands: upgrade licensor")
    body, sig = data[:-_SIG], data[-_SIG:]
    pk = body[1 : 1 + _PK]
    if not verify_installation_signature(pk, _DOMAIN + body, sig):
        raise BadSignatureError("This request code's signature does not match its installation: it was altered; ask for a new code")
    doc = parse_json(_inflate(body[1 + _PK :]), "this request code's content", max_size=MAX_PAYLOAD, remedy=_REMEDY)
    return RequestCode(public_key=pk, **_fields(doc))


def _inflate(packed: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=-15)
    try:
        out = inflater.decompress(packed, MAX_PAYLOAD + 1)
    except zlib.error:
        raise MalformedError(
            f"This request code is signed but its content is not readable: {_REMEDY}", details={"reason": "not_deflate"}
        ) from None
    if len(out) > MAX_PAYLOAD or inflater.unconsumed_tail:
        raise MalformedError(
            f"This request code's content inflates to more than {MAX_PAYLOAD} bytes: {_REMEDY}", details={"reason": "too_large"}
        )
    if not inflater.eof or inflater.unused_data:
        raise MalformedError(
            f"This request code's content is cut short or has bytes after its end: {_REMEDY}", details={"reason": "not_deflate"}
        )
    return out


_NAMES = {"p": "product", "v": "version", "c": "contact", "n": "nodes", "m": "months", "r": "remote clusters",
          "f": "fingerprint factors", "cl": "cluster name", "t": "creation time"}  # fmt: skip


def _bad(field: str, problem: str, remedy: str) -> MalformedError:
    return MalformedError(
        f"This request code's {_NAMES[field]} ('{field}') {problem}: {remedy}", details={"reason": "bad_field", "field": field}
    )


def _text(v: Any, name: str, remedy: str, *, required: bool = False) -> str:
    if not isinstance(v, str) or len(v) > MAX_TEXT or (required and not v.strip()):
        raise _bad(name, f"is not {'a non-empty' if required else 'a'} text of at most {MAX_TEXT} characters", remedy)
    return v


def _number(v: Any, name: str, high: int, remedy: str) -> int:
    if type(v) is not int or not 0 <= v <= high:  # a bool is not a number here
        raise _bad(name, f"is not a whole number from 0 to {high}", remedy)
    return v


def _fields(doc: Any, remedy: str = _REMEDY) -> dict[str, Any]:
    """The RequestCode fields of a request's JSON, every type and bound checked (keys unknown to us are ignored)."""
    if not isinstance(doc, dict):
        raise MalformedError(f"This request code's content is not a JSON object: {remedy}", details={"reason": "bad_field"})
    c = doc.get("c")
    if not isinstance(c, list) or len(c) != 3:
        raise _bad("c", "is not [name, e-mail, company]", remedy)
    factors = doc.get("f", {})
    if not isinstance(factors, dict) or len(factors) > MAX_FACTORS:
        raise _bad("f", f"is not a map of at most {MAX_FACTORS} factors", remedy)
    for name, value in factors.items():
        _text(name, "f", remedy, required=True)
        _text(value, "f", remedy)
    return {
        "product": _text(doc.get("p"), "p", remedy, required=True),
        "version": _text(doc.get("v", ""), "v", remedy),
        "contact": Contact(*(_text(x, "c", remedy) for x in c)),
        "nodes": _number(doc.get("n"), "n", MAX_COUNT, remedy),
        "months": _number(doc.get("m"), "m", MAX_MONTHS, remedy),
        "remote_clusters": _number(doc.get("r", 0), "r", MAX_COUNT, remedy),
        "factors": factors,
        "cluster_name": _text(doc.get("cl", ""), "cl", remedy),
        "created_at": datetime.fromtimestamp(_number(doc.get("t", 0), "t", MAX_TIME, remedy), UTC),
    }
