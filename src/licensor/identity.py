"""Installation identity and fingerprint binding.

An installation is an Ed25519 keypair made once, at ``controller init``, and
kept in the controller's database, so every replica of one controller cluster
shares it.  Its id is a short hash of the public key.

Fingerprint factors (cluster id, machine id, host name, …) are hashed one by
one, salted with the installation key, so a license names them without
revealing them and a refusal can say *which* one changed.

A license binds to the installation id plus a ``Binding``: every factor in
``require`` must match, and at least ``k`` factors must match in all.  The
default (see ``default_binding``) requires the cluster id when there is one, so
failover and replaced hosts inside the cluster keep the license while a copy on
another cluster does not; without a cluster id, all but one host factor must
match, so one replaced part is tolerated but another host is not.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from .codec import b32encode, group
from .signing import Ed25519Key, verify_detached

__all__ = [
    "FACTOR_NAMES",
    "Binding",
    "InstallationKey",
    "default_binding",
    "hash_factor",
    "hash_factors",
    "installation_id",
]

#: Known factors, strongest first.  ``cluster`` identifies the whole cluster
#: (e.g. the kube-system namespace UID); the others identify one host.
FACTOR_NAMES = ("cluster", "machine", "dmi", "hostname", "mac")


def installation_id(public_key: bytes) -> str:
    """``7Q4M-K2XD-…``: 80 bits of BLAKE2b of the installation public key."""
    digest = hashlib.blake2b(public_key, digest_size=10, person=b"licensor-inst").digest()
    return group(b32encode(digest))


def hash_factor(public_key: bytes, name: str, value: str) -> str:
    """One factor's hash, salted with the installation key so it reveals nothing."""
    h = hashlib.blake2b(f"{name}\x00{value}".encode(), digest_size=10, person=b"licensor-fp", salt=public_key[:16])
    return b32encode(h.digest())


def hash_factors(public_key: bytes, raw: Mapping[str, str]) -> dict[str, str]:
    """Hash each non-empty raw factor value."""
    return {name: hash_factor(public_key, name, value) for name, value in raw.items() if value}


@dataclass(frozen=True, repr=False)
class InstallationKey(Ed25519Key):
    """The installation's own keypair.  ``repr`` never shows the secret."""

    def __repr__(self) -> str:
        return f"InstallationKey(id={self.id!r})"

    @property
    def id(self) -> str:
        return installation_id(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self.sign_detached(message)


def verify_installation_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` over ``message`` was made by that installation key."""
    return verify_detached(public_key, message, signature)


@dataclass(frozen=True)
class Binding:
    """What a license demands of the installation's fingerprint."""

    factors: Mapping[str, str] = field(default_factory=dict)
    require: tuple[str, ...] = ()
    k: int = 0

    def mismatches(self, current: Mapping[str, str]) -> list[str]:
        """Names of bound factors that differ here (absent counts as differing)."""
        return [n for n, h in self.factors.items() if current.get(n) != h]

    def satisfied_by(self, current: Mapping[str, str]) -> bool:
        differ = self.mismatches(current)
        if differ and any(n in differ for n in self.require):  # nothing differs: no generator on the common path
            return False
        return len(self.factors) - len(differ) >= self.k


def default_binding(factors: Mapping[str, str]) -> Binding:
    """The binding an issuer uses unless told otherwise (see the module docstring)."""
    factors = dict(factors)
    if "cluster" in factors:
        return Binding(factors, ("cluster",), 1)
    return Binding(factors, (), max(1, len(factors) - 1) if factors else 0)
