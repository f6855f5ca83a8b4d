"""License claims exactly as the issuer writes them, read without the general JSON parser.

The issuer writes every license's claims from one template (``License.claims_json``:
sorted names, no whitespace, plain strings, small whole numbers, times to the second
in UTC).  ``canonical_fields`` recognises that one shape with a single regular
expression and returns the License's fields; for any other text it returns None and
the caller reads the claims the general way (``codec.parse_json`` then
``license.license_from_claims``), which decides what to refuse and why.

What the expression accepts is a subset of what that way accepts, with the same
value: ASCII only; strings without a backslash or a control character (so nothing
is escaped and nothing needs checking after reading); whole numbers of at most 15
digits without a sign or a leading zero (below 2**53); every name of the schema
once, in the template's order (so no name twice, nothing unknown, nothing missing
that has no default); the license texts (id, product, customer, installation) not
empty; the type one of the two; times ``YYYY-MM-DDTHH:MM:SSZ`` read by
``datetime.fromisoformat`` (an impossible date such as month 13 goes the general way
and is refused there).  Binding factors named twice go the general way too.
``tests/unit/test_claims_fast.py`` holds the two ways to the same answer.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from .identity import Binding

__all__ = ["canonical_fields"]

_S = r'"([^"\\\x00-\x1f]+)"'  # a license text: not empty
_ANY = r'"[^"\\\x00-\x1f]*"'  # a factor, a name in a list: may be empty
_LIST = rf"((?:{_ANY}(?:,{_ANY})*)?)"
_N = r"(0|[1-9][0-9]{0,14})"
_T = r'"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z)"'
_CANONICAL = re.compile(
    rf'\{{"aud":{_S},"binding":\{{"factors":\{{((?:{_ANY}:{_ANY}(?:,{_ANY}:{_ANY})*)?)\}},"k":{_N},"require":\[{_LIST}\]\}},'
    rf'"customer":{_S},(?:"exp":{_T},)?"features":\[{_LIST}\],"grace_days":{_N},"iat":{_T},"jti":{_S},"lv":1,'
    rf'"maintenance_until":{_T},"nbf":{_T},"nodes":{_N},"remote_clusters":{_N},"serial":{_N},"sub":{_S},'
    r'"type":"(perpetual|subscription)"\}'
)
_PAIR = re.compile(r'"([^"]*)":"([^"]*)"')
_ITEM = re.compile(r'"([^"]*)"')
_time = datetime.fromisoformat


#: Bindings and feature lists already read, by their text: the keys of one installation share them.
_SEEN: dict[tuple[str, ...], Any] = {}
_SEEN_MAX = 64


def _binding(factors: str, k: str, require: str) -> Binding | None:
    pairs = _PAIR.findall(factors)
    f = dict(pairs)
    if len(f) != len(pairs):
        return None  # a factor named twice: the general way refuses it
    b = object.__new__(Binding)  # the frozen dataclass's __init__ sets each field through object.__setattr__
    b.__dict__.update({"factors": f, "require": tuple(_ITEM.findall(require)), "k": int(k)})
    return b


def _shared(factors: str, k: str, require: str, features: str) -> tuple[Binding, tuple[str, ...]] | None:
    """The binding and the features of these texts, read once (frozen values: sharing them changes nothing)."""
    key = (factors, k, require, features)
    got = _SEEN.get(key)
    if got is None:
        binding = _binding(factors, k, require)
        if binding is None:
            return None
        got = (binding, tuple(_ITEM.findall(features)))
        if len(_SEEN) >= _SEEN_MAX:
            _SEEN.clear()
        _SEEN[key] = got
    return got


def canonical_fields(message: bytes, kid: str = "", token: str = "") -> dict[str, Any] | None:
    """The License fields of claims in the issuer's exact shape (``kid`` and ``token`` as given), else None."""
    try:
        m = _CANONICAL.fullmatch(message.decode("ascii"))
    except UnicodeDecodeError:
        return None
    if m is None:
        return None
    aud, factors, k, require, customer, exp, features, grace, iat, jti, mnt, nbf, nodes, rc, serial, sub, typ = m.groups()
    shared = _SEEN.get((factors, k, require, features)) or _shared(factors, k, require, features)
    if shared is None:
        return None
    try:
        # A start or an end equal to the issue time is the same text: read it once.
        issued = _time(iat)
        until = _time(mnt)
        times = (issued, issued if nbf == iat else _time(nbf), None if exp is None else until if exp == mnt else _time(exp), until)
    except ValueError:
        return None  # a date that does not exist: the general way says which
    if times[0].tzinfo is not UTC:  # pragma: no cover - 'Z' is read as UTC; kept so a change of Python cannot slip through
        return None
    return {
        "license_id": jti,
        "product": aud,
        "customer": customer,
        "installation_id": sub,
        "binding": shared[0],
        "issued_at": times[0],
        "not_before": times[1],
        "expires": times[2],
        "maintenance_until": times[3],
        "nodes": int(nodes),
        "remote_clusters": int(rc),
        "features": shared[1],
        "type": typ,
        "serial": int(serial),
        "grace_days": int(grace),
        "kid": kid,
        "token": token,
    }
