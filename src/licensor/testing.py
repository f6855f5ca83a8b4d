"""Helpers for tests, ours and our users': a throwaway vendor, test licenses, request codes, a fixed clock.

Nothing here is for production: keys are made fresh in memory every time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .identity import InstallationKey, default_binding, hash_factors
from .license import License, new_license
from .policy import Installation
from .request import Contact, make_request
from .signing import Keyring, VendorKey

__all__ = ["FixedClock", "TestVendor", "request_code", "test_installation"]

#: A fixed instant the tests agree on.
T0 = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@dataclass
class FixedClock:
    """A clock that only moves when told to: ``clock()``, ``clock.advance(days=3)``."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def set(self, t: datetime) -> None:
        self.now = t


def test_installation(
    product: str = "demo", factors: dict[str, str] | None = None, key: InstallationKey | None = None, **kw: Any
) -> tuple[InstallationKey, Installation]:
    """A fresh installation key and its policy view, with hashed factors."""
    key = key or InstallationKey.generate()
    raw = {"cluster": "cluster-a", "machine": "m-1", "hostname": "host-1"} if factors is None else factors
    inst = Installation(id=key.id, product=product, factors=hash_factors(key.public_key, raw), **kw)
    return key, inst


test_installation.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def request_code(
    key: InstallationKey | None = None,
    *,
    product: str = "demo",
    nodes: int = 5,
    months: int = 12,
    remote_clusters: int = 0,
    company: str = "ACME",
    factors: dict[str, str] | None = None,
    now: datetime = T0,
) -> tuple[InstallationKey, str]:
    """A request code (``LR1-…``) for version 1.0 of ``product``, signed by ``key`` (default: a fresh installation key)."""
    key = key or InstallationKey.generate()
    raw = {"cluster": "c-1", "machine": "m-1"} if factors is None else factors
    code = make_request(
        key,
        product=product,
        version="1.0",
        contact=Contact("Ada Admin", "ada@example.com", company),
        nodes=nodes,
        months=months,
        remote_clusters=remote_clusters,
        factors=hash_factors(key.public_key, raw),
        now=now,
    )
    return key, code


@dataclass
class TestVendor:
    """A throwaway vendor key that issues licenses for tests."""

    __test__ = False  # not a pytest test class

    key: VendorKey = field(default_factory=VendorKey.generate)

    @property
    def keyring(self) -> Keyring:
        return Keyring([self.key.public_key])

    def license(self, inst: Installation, *, now: datetime = T0, **kw: Any) -> License:
        """A license for ``inst`` (defaults: subscription, 10 nodes, 12 months, serial 1)."""
        args: dict[str, Any] = {
            "license_id": str(uuid.uuid4()),
            "product": inst.product,
            "customer": "Test Customer",
            "installation_id": inst.id,
            "binding": default_binding(inst.factors),
            "type": "subscription",
            "nodes": 10,
            "serial": 1,
            "now": now,
        }
        args.update(kw)
        return new_license(**args)

    def issue(self, inst: Installation, **kw: Any) -> str:
        """A signed license key (token) for ``inst``."""
        return self.license(inst, **kw).sign(self.key)
