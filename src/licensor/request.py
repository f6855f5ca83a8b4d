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

from .codec import b32decode, b32encode, group, unarmour
from .errors import BadSignatureError, MalformedError
from .identity import InstallationKey, installation_id, verify_installation_signature

__all__ = ["Contact", "RequestCode", "decode_request", "make_request"]

PREFIX = "LR1"
ARMOUR = "LICENSOR REQUEST"
_VERSION = b"\x01"
_DOMAIN = b"licensor-request-v1\x00"
_PK, _SIG, _CS = 32, 64, 4


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
    """The request code text (``LR1-…``) for this installation, signed by it."""
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
    packed = zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 9, wbits=-15)
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
        "Asked": f"{req.nodes} nodes, {req.months} months, {req.remote_clusters} remote clusters",
        "Note": "send this whole block to your vendor",
    }
    return armour(ARMOUR, code, headers)


def _clean(text: str | bytes) -> str:
    a = unarmour(text)
    if a.kind is not None and a.kind != ARMOUR:
        raise MalformedError(f"this is a '{a.kind}' block, not a request code")
    code = a.payload.replace("-", "").upper()
    if not code:
        raise MalformedError("no request code was given: paste the code the customer sent")
    if not code.startswith(PREFIX):
        raise MalformedError("this is not a licensor request code: a request code starts with 'LR1-'")
    return code[len(PREFIX) :]


def decode_request(text: str | bytes) -> RequestCode:
    """Read, check and verify a request code (paste damage undone), or raise why not."""
    raw = b32decode(_clean(text))
    if len(raw) < 1 + _PK + _SIG + _CS + 2:
        raise MalformedError("this request code is too short: it was cut off, copy all of it")
    data, cs = raw[:-_CS], raw[-_CS:]
    if hashlib.blake2b(data, digest_size=_CS).digest() != cs:
        raise MalformedError("this request code's checksum does not match: a character was mistyped or lost; copy it again")
    if data[:1] != _VERSION:
        raise MalformedError("this request code is of a newer format than this licensor understands: upgrade licensor")
    body, sig = data[:-_SIG], data[-_SIG:]
    pk = body[1 : 1 + _PK]
    if not verify_installation_signature(pk, _DOMAIN + body, sig):
        raise BadSignatureError("this request code's signature does not match its installation: it was altered; ask for a new code")
    try:
        doc = json.loads(zlib.decompress(body[1 + _PK :], wbits=-15, bufsize=4096))
        contact = Contact(*(str(x) for x in doc["c"]))
        factors = doc.get("f", {})
        if not isinstance(factors, dict) or not all(isinstance(v, str) for v in factors.values()):
            raise TypeError
        nodes, months, rc, t = doc["n"], doc["m"], doc.get("r", 0), doc.get("t", 0)
        if not all(type(x) is int and x >= 0 for x in (nodes, months, rc, t)):
            raise TypeError
        return RequestCode(
            public_key=pk,
            product=str(doc["p"]),
            version=str(doc.get("v", "")),
            contact=contact,
            nodes=nodes,
            months=months,
            remote_clusters=rc,
            factors=factors,
            cluster_name=str(doc.get("cl", "")),
            created_at=datetime.fromtimestamp(t, UTC),
        )
    except (zlib.error, ValueError, KeyError, TypeError, OverflowError):
        raise MalformedError("this request code is signed but its content is not understood: upgrade licensor") from None
