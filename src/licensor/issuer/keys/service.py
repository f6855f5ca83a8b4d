"""Signing keys: one active key signs; retired keys stay published until removed.

The signer cache is keyed by key id, and the active key id is read from the
database on every issue, so replicas that share a database agree on the key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Row

from ...errors import Conflict, UsageError
from ...license import Signer, fmt_time
from ...signing import Keyring, VendorKey
from .. import store as s
from ..ledger import Ledger, not_found, stamp

_ACTIVE_KEY = select(s.signing_keys.c.kid, s.signing_keys.c.seed).where(s.signing_keys.c.state == "active")
_NO_KEY = "This vendor has no signing key yet: run 'licensor vendor init' first"


class KeyService:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._signers: dict[str, Signer] = {}

    def init(self, actor: str = "cli", key: VendorKey | None = None) -> str:
        """Make the first signing key (or adopt ``key``); refuse if there is one already."""
        with self.ledger.tx() as c:
            row = c.execute(select(s.signing_keys.c.kid).where(s.signing_keys.c.state == "active")).first()
            if row is not None:
                raise UsageError(
                    f"This vendor already has signing key {row.kid}: keep it (its keys are in the field); "
                    "to change keys use 'licensor vendor rotate-key'"
                )
            key = key or VendorKey.generate()
            self._add(c, key)
            self.ledger.record(c, actor, "key.create", key.kid)
        return key.kid

    def _add(self, c: Connection, key: VendorKey) -> None:
        c.execute(
            s.signing_keys.insert().values(
                kid=key.kid, public_key=key.public_key, seed=key.seed, state="active", created_at=self.ledger.clock()
            )
        )

    def signer(self, c: Connection) -> tuple[str, Signer]:
        """The active key's id and signer (its expanded key kept between licenses)."""
        row = c.execute(_ACTIVE_KEY).first()
        if row is None:
            raise UsageError(_NO_KEY)
        signer = self._signers.get(row.kid)
        if signer is None:
            signer = self._signers[row.kid] = VendorKey(bytes(row.seed)).signer()
        return str(row.kid), signer

    def public_set(self) -> Keyring:
        """The keys products must trust: the active key and retired keys not yet removed."""
        with self.ledger.tx(write=False) as c:
            rows = c.execute(
                select(s.signing_keys.c.public_key)
                .where(s.signing_keys.c.state.in_(("active", "retired")))
                .order_by(s.signing_keys.c.created_at.desc())
            ).all()
        if not rows:
            raise UsageError(_NO_KEY)
        return Keyring(bytes(r.public_key) for r in rows)

    def list(self) -> list[dict[str, Any]]:
        rows = self.ledger.rows(select(s.signing_keys).order_by(s.signing_keys.c.created_at))
        return [
            {
                "kid": r.kid,
                "state": r.state,
                "public_key": Keyring([bytes(r.public_key)]).to_text().splitlines()[1],
                "created_at": fmt_time(r.created_at),
                "retired_at": stamp(r.retired_at),
                "removed_at": stamp(r.removed_at),
            }
            for r in rows
        ]

    def rotate(self, actor: str) -> dict[str, Any]:
        """A new active key; the old one is retired (still published, no longer signing)."""
        key = VendorKey.generate()
        with self.ledger.tx() as c:
            old = [r.kid for r in c.execute(select(s.signing_keys.c.kid).where(s.signing_keys.c.state == "active"))]
            c.execute(
                update(s.signing_keys).where(s.signing_keys.c.state == "active").values(state="retired", retired_at=self.ledger.clock())
            )
            self._add(c, key)
            self.ledger.record(c, actor, "key.rotate", key.kid, retired=old)
        return {"active": key.kid, "retired": old}

    def _row(self, c: Connection, kid: str) -> Row[Any]:
        row = c.execute(select(s.signing_keys).where(s.signing_keys.c.kid == kid)).first()
        if row is None:
            raise not_found(f"signing key {kid}")
        return row

    def remove(self, kid: str, actor: str) -> None:
        """Drop a retired key from the published set and wipe its secret: its keys become ``unknown_key``."""
        with self.ledger.tx() as c:
            row = self._row(c, kid)
            if row.state == "active":
                raise Conflict(f"Key {kid} is the active signing key: rotate to a new key before removing it")
            c.execute(
                update(s.signing_keys).where(s.signing_keys.c.kid == kid).values(state="removed", seed=None, removed_at=self.ledger.clock())
            )
            self.ledger.record(c, actor, "key.remove", kid)
        self._signers.pop(kid, None)
