"""Names of the files people download: a license key after its customer, cluster and serial.

``license_filename("ACME Corp", "prod eu-west", 2, "7Q4M-…")`` -> ``"acme-corp-prod-eu-west-serial2.lic"``: what an
admin keeps in a folder and finds again by name.  ``content_disposition(name)`` is the HTTP header that offers it
for download (RFC 6266, with ``filename*`` for a name that is not plain ASCII).  Pure, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from urllib.parse import quote

__all__ = ["MAX_PART", "content_disposition", "license_filename", "request_filename", "slug"]

#: The longest a customer or cluster part of a name may be (a whole name stays well under 255 bytes).
MAX_PART = 40
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f"\\/:;*?<>|%]+')


def slug(text: str, limit: int = MAX_PART) -> str:
    """``text`` as a file-name part: ASCII letters and digits in lower case joined by '-', at most ``limit`` characters.

    Accents are dropped (``"Müller"`` -> ``"muller"``); everything else (path separators, dots, spaces, quotes,
    control characters) separates words.  May be empty: the callers choose what stands in for nothing.
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")[:limit].rstrip("-")


def license_filename(customer: str, cluster: str, serial: int, installation_id: str = "") -> str:
    """``<customer>-<cluster>-serial<N>.lic``; the installation id stands in for a cluster without a name, and the
    word ``license`` for a customer whose name has no letter or digit to keep.  Never empty, never a path."""
    where = slug(cluster) or slug(installation_id)
    parts = [slug(customer) or "license", *([where] if where else []), f"serial{max(0, int(serial))}"]
    return "-".join(parts) + ".lic"


def request_filename(cluster: str, installation_id: str = "", day: date | None = None) -> str:
    """``<cluster>-request-<YYYY-MM-DD>.txt`` for a controller's request code made on ``day`` (the installation id
    without a cluster name; no date part without a day)."""
    made = f"-{day.isoformat()}" if day is not None else ""
    return f"{slug(cluster) or slug(installation_id) or 'license'}-request{made}.txt"


def content_disposition(filename: str) -> str:
    """``attachment`` with ``filename`` (RFC 6266): a plain-ASCII ``filename`` any client reads, and ``filename*``
    (RFC 5987, UTF-8) with the name itself when it is not plain ASCII.  Quotes, separators and control characters
    never reach the header."""
    name = _UNSAFE.sub("-", filename).strip(" .-") or "download"
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    plain = (_ascii(stem) or "download") + dot + _ascii(ext)
    header = f'attachment; filename="{plain}"'
    return header if plain == name else f"{header}; filename*=UTF-8''{quote(name, safe='')}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").strip(" .-")
