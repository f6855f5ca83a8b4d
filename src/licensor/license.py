"""The license model, its claims, and the license file.

Claims are the PASETO payload (JSON).  Registered PASETO claims are used where
they fit so that other languages can check a key with an off-the-shelf
library: ``jti`` license id, ``aud`` product, ``sub`` installation id, ``iat``,
``nbf``, ``exp`` (absent for perpetual).  The rest are licensor's own; see
docs/FORMAT.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _s
from typing import Any, Protocol

from .claims import canonical_fields
from .codec import MAX_INPUT, MAX_INT, armour, parse_json, unarmour
from .errors import MalformedError, UsageError
from .identity import Binding
from .signing import Keyring, VendorKey
from .terms import MAX_COUNT, MAX_GRACE_DAYS, MAX_MONTHS, LicenseType, Overrides, add_months, aware, license_terms, whole

__all__ = [
    "MAX_COUNT",
    "MAX_GRACE_DAYS",
    "MAX_MONTHS",
    "License",
    "LicenseType",
    "Signer",
    "add_months",
    "decode_license",
    "fmt_time",
    "license_file",
    "new_license",
    "parse_time",
    "read_license_text",
]

LICENSE_ARMOUR = "LICENSOR LICENSE"
CLAIMS_VERSION = 1
_CONTROL = re.compile("[\x00-\x1f\ud800-\udfff]")


#: The claims in the order ``json.dumps(sort_keys=True)`` writes them (``License.claims_json``).
_CLAIMS = (
    '{"aud":%s,"binding":{"factors":{%s},"k":%d,"require":[%s]},"customer":%s,%s"features":[%s],"grace_days":%d,'
    '"iat":"%s","jti":%s,"lv":' + str(CLAIMS_VERSION) + ',"maintenance_until":"%s","nbf":"%s","nodes":%d,"remote_clusters":%d,'
    '"serial":%d,"sub":%s,"type":%s}'
)


class Signer(Protocol):
    """Signs a message as a license key: ``VendorKey.signer()``."""

    def sign(self, message: bytes) -> str: ...


def _stamp(t: datetime) -> str:
    """``fmt_time(t)`` without ``strftime`` (the claims encoder's hot path)."""
    if t.tzinfo is not UTC or t.microsecond:
        t = t.astimezone(UTC).replace(microsecond=0)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t.year, t.month, t.day, t.hour, t.minute, t.second)  # noqa: UP031 - fastest


def fmt_time(t: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second."""
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any, what: str = "time") -> datetime:
    if not isinstance(text, str):
        raise MalformedError(f"The {what} in this license is not a date")
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise MalformedError(f"The {what} in this license is not a valid date") from None
    if t.tzinfo is UTC:  # every date licensor writes ('…Z'): nothing to convert
        return t
    if t.utcoffset() is None:
        raise MalformedError(f"The {what} in this license has no time zone")
    try:
        # In UTC from here on: 9999-12-31T23:00-05:00 is after the year 9999 and would overflow later, when shown.
        return t.astimezone(UTC)
    except (OverflowError, ValueError):
        raise MalformedError(f"The {what} in this license is after the year 9999") from None


@dataclass(frozen=True)
class License:
    """A license as issued: every field is inside the signature."""

    license_id: str
    product: str
    customer: str
    installation_id: str
    binding: Binding
    issued_at: datetime
    not_before: datetime
    expires: datetime | None
    maintenance_until: datetime
    nodes: int
    remote_clusters: int = 0
    features: tuple[str, ...] = ()
    type: LicenseType = "subscription"
    serial: int = 1
    grace_days: int = 0
    #: Set on decode: the vendor key that signed it and the token itself.
    kid: str = field(default="", compare=False)
    token: str = field(default="", compare=False, repr=False)

    @classmethod
    def _from_fields(cls, fields: dict[str, Any]) -> License:
        """Every field given, already checked: set them without the generated ``__init__``.

        A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
        on the verify path that costs more than all the claims' checks.  The result is
        the same value, still frozen (``test_decoded_license_is_a_plain_license`` pins it).
        """
        obj = object.__new__(cls)
        object.__setattr__(obj, "__dict__", fields)  # the dict itself, not a copy of it
        return obj

    def claims(self) -> dict[str, Any]:
        c: dict[str, Any] = {
            "lv": CLAIMS_VERSION,
            "jti": self.license_id,
            "aud": self.product,
            "sub": self.installation_id,
            "iat": fmt_time(self.issued_at),
            "nbf": fmt_time(self.not_before),
        }
        if self.expires is not None:
            c["exp"] = fmt_time(self.expires)
        c.update(
            {
                "customer": self.customer,
                "type": self.type,
                "serial": self.serial,
                "maintenance_until": fmt_time(self.maintenance_until),
                "nodes": self.nodes,
                "remote_clusters": self.remote_clusters,
                "features": list(self.features),
                "grace_days": self.grace_days,
                "binding": {"factors": dict(self.binding.factors), "require": list(self.binding.require), "k": self.binding.k},
            }
        )
        return c

    def claims_json(self) -> bytes:
        """``json.dumps(self.claims(), separators=(",", ":"), sort_keys=True).encode()``, written from a template.

        The issuer signs thousands of licenses a second, and the generic path (a dict, then a sorted dump, times
        through ``strftime``) costs as much as the Ed25519 signature itself: this writes the same bytes, the keys
        in sorted order, strings escaped by the C JSON escaper (tests pin the equality).
        """
        b = self.binding
        # A subscription's maintenance ends with its term and most keys start when issued: format each instant once.
        mnt = _stamp(self.maintenance_until)
        exp = "" if self.expires is None else '"exp":"' + (mnt if self.expires == self.maintenance_until else _stamp(self.expires)) + '",'
        iat = _stamp(self.issued_at)
        nbf = iat if self.not_before == self.issued_at else _stamp(self.not_before)
        factors = ",".join([_s(k) + ":" + _s(v) for k, v in sorted(b.factors.items())])
        text = _CLAIMS % (
            _s(self.product), factors, b.k, ",".join([_s(x) for x in b.require]), _s(self.customer), exp,
            ",".join([_s(f) for f in self.features]), self.grace_days, iat, _s(self.license_id), mnt, nbf,
            self.nodes, self.remote_clusters, self.serial, _s(self.installation_id), _s(self.type),
        )  # fmt: skip
        return text.encode()

    def sign(self, key: VendorKey) -> str:
        """The license key (a v4.public token) for this license; signing many, keep ``key.signer()`` and use ``sign_with``."""
        return self.sign_with(key.signer())

    def sign_with(self, signer: Signer) -> str:
        """The license key, signed by ``signer`` (``VendorKey.signer()``: the expanded key kept between licenses)."""
        return signer.sign(self.claims_json())

    def summary(self) -> dict[str, Any]:
        """What ``status --json`` and the API show about a license."""
        return {
            "license_id": self.license_id,
            "product": self.product,
            "customer": self.customer,
            "type": self.type,
            "serial": self.serial,
            "issued_at": fmt_time(self.issued_at),
            "not_before": fmt_time(self.not_before),
            "expires": fmt_time(self.expires) if self.expires else None,
            "maintenance_until": fmt_time(self.maintenance_until),
            "nodes": self.nodes,
            "remote_clusters": self.remote_clusters,
            "features": list(self.features),
            "grace_days": self.grace_days,
            "installation_id": self.installation_id,
            "kid": self.kid,
        }


def _int(c: Mapping[str, Any], name: str, default: int | None = None) -> int:
    v = c.get(name, default)
    if type(v) is not int or v < 0:
        raise MalformedError(f"The license's '{name}' is not a non-negative whole number")
    return v


def _str(c: Mapping[str, Any], name: str) -> str:
    v = c.get(name)
    if not isinstance(v, str) or not v:
        raise MalformedError(f"The license has no '{name}'")
    return v


def license_from_claims(c: Any, *, kid: str = "", token: str = "") -> License:
    """Build a License from verified claims; refuse anything not of our schema."""
    if not isinstance(c, dict) or type(c.get("lv")) is not int or c["lv"] != CLAIMS_VERSION:
        raise MalformedError("The signed content is not a licensor license (unknown claims version)")
    b = c.get("binding")
    if not isinstance(b, dict):
        raise MalformedError("The license has no installation binding")
    factors, require, k = b.get("factors", {}), b.get("require", []), b.get("k", 0)
    if (
        type(factors) is not dict
        or type(require) is not list
        or type(k) is not int
        or {type(x) for x in (*factors, *factors.values(), *require)} - {str}
    ):
        raise MalformedError("The license's installation binding is not well formed")
    features = c.get("features", [])
    if type(features) is not list or {type(f) for f in features} - {str}:
        raise MalformedError("The license's features are not a list of names")
    typ = c.get("type")
    if typ not in ("perpetual", "subscription"):
        raise MalformedError("The license's type is neither 'perpetual' nor 'subscription'")
    exp = c.get("exp")
    return License._from_fields(
        {
            "license_id": _str(c, "jti"),
            "product": _str(c, "aud"),
            "customer": _str(c, "customer"),
            "installation_id": _str(c, "sub"),
            "binding": Binding(factors, tuple(require), k),
            "issued_at": parse_time(c.get("iat"), "issue date"),
            "not_before": parse_time(c.get("nbf"), "start date"),
            "expires": parse_time(exp, "expiry date") if exp is not None else None,
            "maintenance_until": parse_time(c.get("maintenance_until"), "maintenance end"),
            "nodes": _int(c, "nodes"),
            "remote_clusters": _int(c, "remote_clusters", 0),
            "features": tuple(features),
            "type": typ,
            "serial": _int(c, "serial"),
            "grace_days": _int(c, "grace_days", 0),
            "kid": kid,
            "token": token,
        }
    )


def read_license_text(text: str | bytes) -> str:
    """The token inside a pasted key or license file, paste damage undone."""
    a = unarmour(text)
    if a.kind is not None and a.kind != LICENSE_ARMOUR:
        raise MalformedError(f"This is a '{a.kind}' block, not a license: paste the license key or file the vendor sent")
    if not a.payload:
        raise MalformedError("No license key was given: paste the key or upload the license file")
    return a.payload


def decode_license(text: str | bytes, keyring: Keyring) -> License:
    """Read, verify and decode a pasted key or license file, or raise why not.

    Paste damage is undone first; what is still not a token is *malformed*
    before any signature is checked.
    """
    try:
        # Most keys arrive clean: try them as they are before undoing paste damage.
        if not isinstance(text, str):
            raise MalformedError("Bytes")
        token = text
        message, kid = keyring.verify(token)
    except MalformedError:
        token = read_license_text(text)
        message, kid = keyring.verify(token)
    # Claims in the issuer's own shape are read by one regular expression (licensor.claims); any other text,
    # and everything to refuse, the general way.
    fields = canonical_fields(message, kid, token)
    if fields is not None:
        lic = object.__new__(License)  # License._from_fields, inlined: this is the path of every new key
        object.__setattr__(lic, "__dict__", fields)
        return lic
    claims = parse_json(message, "the signed content of this license key", max_size=MAX_INPUT)
    return license_from_claims(claims, kid=kid, token=token)


def license_file(lic: License, token: str) -> str:
    """The license file: the token in an armour with readable header lines."""
    headers = {
        "Customer": lic.customer,
        "Product": lic.product,
        "Type": lic.type,
        "Installation": lic.installation_id,
        "Nodes": str(lic.nodes),
        "Remote clusters": str(lic.remote_clusters),
        "Features": ", ".join(lic.features) or "(none)",
        "Expires": fmt_time(lic.expires) if lic.expires else "never (perpetual)",
        "Maintenance until": fmt_time(lic.maintenance_until),
        "Serial": str(lic.serial),
        "Note": "these lines are for people; only the key below decides",
    }
    return armour(LICENSE_ARMOUR, token, headers)


def _check_texts(
    *, license_id: str, product: str, customer: str, installation_id: str, features: tuple[str, ...], binding: Binding
) -> None:
    """What the bounded parser refuses in a key (docs/FORMAT.md) must not be signed into one."""
    texts = {"license id": license_id, "product": product, "customer": customer, "installation id": installation_id}
    texts.update({f"feature {f!r}": f for f in features})
    texts.update({f"binding factor {k!r}": f"{k}{v}" for k, v in binding.factors.items()})
    for what, text in texts.items():
        if not isinstance(text, str) or _CONTROL.search(text):
            raise UsageError(
                f"The {what} holds a control character (a line break, a tab…) or is not text: remove it", details={"field": what}
            )


def new_license(
    *,
    license_id: str,
    product: str,
    customer: str,
    installation_id: str,
    binding: Binding,
    type: LicenseType,
    nodes: int,
    now: datetime,
    serial: int,
    months: int | None = None,
    expires: datetime | None = None,
    maintenance_until: datetime | None = None,
    remote_clusters: int = 0,
    features: tuple[str, ...] = (),
    grace_days: int = 0,
    not_before: datetime | None = None,
) -> License:
    """A license with the plan rules applied (``terms.license_terms`` decides the dates); UsageError for impossible asks.

    perpetual: no expiry, maintenance ``months`` (default 12) from now.
    subscription: expires after ``months`` (default 12) or at ``expires``;
    maintenance runs to expiry unless given.

    Every number is an int (not a bool) within its bound (months 1..MAX_MONTHS,
    nodes and remote clusters 0..MAX_COUNT, grace days 0..MAX_GRACE_DAYS, serial
    1..2**53-1) and every date time-zone aware and before the year 10000; anything
    else is a UsageError, so no caller can turn a bad field into a crash.
    """
    now = aware(now, "current time")
    if type not in ("perpetual", "subscription"):
        raise UsageError("The license type is 'perpetual' or 'subscription'", details={"field": "type"})
    whole(nodes, "nodes", 0, MAX_COUNT)
    whole(remote_clusters, "remote_clusters", 0, MAX_COUNT)
    whole(grace_days, "grace_days", 0, MAX_GRACE_DAYS)
    whole(serial, "serial", 1, MAX_INT)
    not_before = aware(not_before, "start date") if not_before is not None else None
    given = Overrides(type=type, months=months, expires=expires, maintenance_until=maintenance_until)
    term = license_terms("issue", now, overrides=given)
    texts = {"license_id": license_id, "product": product, "customer": customer, "installation_id": installation_id}
    _check_texts(**texts, features=features, binding=binding)
    exp, maint = term.expires, term.maintenance_until
    return License(
        license_id=license_id,
        product=product,
        customer=customer,
        installation_id=installation_id,
        binding=binding,
        issued_at=now,
        not_before=not_before or now,
        expires=exp,
        maintenance_until=maint,
        nodes=nodes,
        remote_clusters=remote_clusters,
        features=tuple(sorted(set(features))),
        type=type,
        serial=serial,
        grace_days=grace_days,
    )
