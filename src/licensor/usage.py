"""Usage reports: what an installation tells its vendor about its peak use in a month.

A controller makes one per month (``licensor controller usage-report --month
YYYY-MM``); the vendor imports it (``licensor vendor import-usage``) and sees peak
use against the license.  It is signed by the installation's own key, whose
public half is inside the report and must match the installation the vendor
learned from its request code.

Format (see docs/ISSUER.md)::

    -----BEGIN LICENSOR USAGE REPORT-----
    Installation: 7Q4M-…            (header lines inform; they decide nothing)
    Month: 2026-10
    Peak nodes: 7

    <base64url(JSON)>.<base64url(Ed25519 signature)>
    -----END LICENSOR USAGE REPORT-----

The JSON (UTF-8, any key order, exactly these bytes are signed) is::

    {"v": 1, "installation_id": "…", "month": "YYYY-MM", "peak_nodes": int,
     "peak_clusters": int, "generated_at": "RFC 3339 UTC", "public_key": base64url(32 bytes),
     "license_id": "…" or null, "serial": int or null}

The signature is over ``b"licensor-usage-v1\\x00" + JSON bytes``.  Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .clock import is_month
from .codec import armour, b64decode, b64encode, parse_json, unarmour
from .errors import BadSignatureError, MalformedError
from .identity import InstallationKey, installation_id, verify_installation_signature
from .license import fmt_time, parse_time

__all__ = ["USAGE_ARMOUR", "UsageReport", "decode_usage_report", "make_usage_report"]

USAGE_ARMOUR = "LICENSOR USAGE REPORT"
USAGE_VERSION = 1
_DOMAIN = b"licensor-usage-v1\x00"
#: The signed JSON is about 300 bytes.
MAX_REPORT = 16 * 1024
_REMEDY = "it was not made by a licensor controller; ask the customer for a new usage report"


@dataclass(frozen=True)
class UsageReport:
    """A verified usage report: the installation's key signed every field."""

    installation_id: str
    month: str
    peak_nodes: int
    peak_clusters: int
    generated_at: datetime
    public_key: bytes
    license_id: str | None = None
    serial: int | None = None
    #: The armoured text as received (what the vendor stores).
    text: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "installation_id": self.installation_id,
            "month": self.month,
            "peak_nodes": self.peak_nodes,
            "peak_clusters": self.peak_clusters,
            "generated_at": fmt_time(self.generated_at),
            "license_id": self.license_id,
            "serial": self.serial,
        }


def make_usage_report(
    key: InstallationKey,
    *,
    month: str,
    peak_nodes: int,
    peak_clusters: int,
    now: datetime,
    license_id: str | None = None,
    serial: int | None = None,
) -> str:
    """The armoured, signed usage report of installation ``key`` for ``month``."""
    if not is_month(month):
        raise MalformedError(f"'{month}' is not a month: use YYYY-MM")
    doc = {
        "v": USAGE_VERSION,
        "installation_id": key.id,
        "month": month,
        "peak_nodes": peak_nodes,
        "peak_clusters": peak_clusters,
        "generated_at": fmt_time(now),
        "public_key": b64encode(key.public_key),
        "license_id": license_id,
        "serial": serial,
    }
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    payload = b64encode(body) + "." + b64encode(key.sign(_DOMAIN + body))
    headers = {
        "Installation": key.id,
        "Month": month,
        "Peak nodes": str(peak_nodes),
        "Peak clusters": str(peak_clusters),
        "Note": "send this whole block to your vendor; only the signed text below counts",
    }
    return armour(USAGE_ARMOUR, payload, headers)


def _nonneg(doc: dict[str, Any], name: str, optional: bool = False) -> int | None:
    v = doc.get(name)
    if v is None and optional:
        return None
    if type(v) is not int or v < 0:
        raise MalformedError(f"The usage report's '{name}' is not a non-negative whole number")
    return v


def decode_usage_report(text: str | bytes) -> UsageReport:
    """Read and verify a usage report (paste damage undone), or raise why not.

    This proves the report was signed by the key inside it; the caller must
    still check that key is the one it knows for that installation.
    """
    a = unarmour(text)
    if a.kind is not None and a.kind != USAGE_ARMOUR:
        raise MalformedError(f"This is a '{a.kind}' block, not a usage report")
    body_b64, dot, sig_b64 = a.payload.partition(".")
    if not dot or not body_b64 or not sig_b64:
        raise MalformedError("This is not a usage report: it has no '<content>.<signature>' text")
    body, sig = b64decode(body_b64), b64decode(sig_b64)
    doc = parse_json(body, "the usage report's content", max_size=MAX_REPORT, remedy=_REMEDY)
    if not isinstance(doc, dict) or type(doc.get("v")) is not int or doc["v"] != USAGE_VERSION:
        raise MalformedError("This usage report is of a format this licensor does not understand: upgrade licensor")
    pk_text = doc.get("public_key")
    if not isinstance(pk_text, str):
        raise MalformedError("The usage report names no installation public key")
    pk = b64decode(pk_text)
    if len(pk) != 32 or len(sig) != 64:
        raise MalformedError("The usage report's key or signature has the wrong length")
    if not verify_installation_signature(pk, _DOMAIN + body, sig):
        raise BadSignatureError("The usage report's signature does not match: it was changed after the installation signed it")
    inst = doc.get("installation_id")
    if inst != installation_id(pk):
        raise BadSignatureError("The usage report's installation id does not belong to the key that signed it")
    month = doc.get("month")
    if not isinstance(month, str) or not is_month(month):
        raise MalformedError("The usage report's month is not YYYY-MM")
    lid = doc.get("license_id")
    if lid is not None and (not isinstance(lid, str) or len(lid) > 256):
        raise MalformedError("The usage report's license id is not a text of at most 256 characters")
    peak_nodes, peak_clusters = _nonneg(doc, "peak_nodes"), _nonneg(doc, "peak_clusters")
    assert peak_nodes is not None and peak_clusters is not None
    return UsageReport(
        installation_id=inst,
        month=month,
        peak_nodes=peak_nodes,
        peak_clusters=peak_clusters,
        generated_at=parse_time(doc.get("generated_at"), "report date"),
        public_key=pk,
        license_id=lid,
        serial=_nonneg(doc, "serial", optional=True),
        text=text if isinstance(text, str) else text.decode("utf-8", "replace"),
    )
