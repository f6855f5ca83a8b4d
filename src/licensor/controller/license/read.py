"""The license as the command line reads it: ``status`` and ``history`` with no ORM start-up.

Importing SQLAlchemy alone costs about 0.2 s, several times a bare Python's start.  A command that only reads
the controller's SQLite database does it here with the stdlib ``sqlite3`` and hands the rows to the same
functions the service uses (``policy.evaluate``, ``trusted_time.explain``, ``status_document``,
``history_item``), so what it prints is the service's, byte for byte (tests/controller/test_read_path.py runs
both on the same databases).  Anything this path does not expect (another database, no file yet, no schema, no
installation, a locked or odd file) returns ``None``, and the command takes the service path, which says why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from ... import trusted_time
from ...errors import LicensorError
from ...identity import InstallationKey, hash_factors
from ...license import decode_license, fmt_time, parse_time
from ...policy import Installation, Verdict, evaluate
from ...signing import Keyring
from ...trusted_time import Mark
from .. import readpath
from ..readpath import read, utc

#: Settings keys of the trusted-time mark's two parts (see licensor.trusted_time).
PROVEN_KEY = "trusted_time_proven"
OBSERVED_KEY = "trusted_time_observed"
#: Before the mark had two parts it was one value, set by single clock readings: it counts as observed.
LEGACY_KEY = "trusted_time"

STATUS_FIELDS = (
    "customer",
    "product",
    "type",
    "expires",
    "maintenance_until",
    "nodes",
    "remote_clusters",
    "features",
    "license_id",
    "serial",
)


def status_document(verdict: Verdict, installation_id: str) -> dict[str, Any]:
    """The status as ``status --json`` and the API show it: state, code, hint and the license's terms."""
    out = verdict.as_dict()
    summary = verdict.license.summary() if verdict.license else {}
    out.update({k: summary.get(k) for k in STATUS_FIELDS})
    out["installation_id"] = installation_id
    return out


def mark_of(setting: Callable[[str], str | None]) -> Mark:
    """The trusted-time mark from the settings (``setting(key)``: the value, or None when not set)."""
    proven, observed = setting(PROVEN_KEY), setting(OBSERVED_KEY) or setting(LEGACY_KEY)
    return Mark(parse_time(proven) if proven else None, parse_time(observed) if observed else None)


def history_item(r: Any, keyring: Keyring) -> dict[str, Any]:
    """One row of the history (``r``: a stored license with ``license_id, serial, activated_at, active, token``)."""
    item: dict[str, Any] = {
        "license_id": r.license_id,
        "serial": r.serial,
        "activated_at": fmt_time(r.activated_at),
        "active": bool(r.active),
    }
    try:
        item.update(decode_license(r.token, keyring).summary())
    except LicensorError as e:  # a key whose vendor key is no longer trusted
        item["unreadable"] = str(e)
    return item


class _License(NamedTuple):
    license_id: str
    serial: int
    activated_at: datetime
    active: bool
    token: str


def _keyring(db: sqlite3.Connection) -> Keyring:
    return Keyring(bytes(r[0]) for r in db.execute("SELECT public_key FROM trusted_keys"))


def status(url: str, factors: Mapping[str, str], now: datetime) -> tuple[Verdict, str] | None:
    """``(verdict, installation id)`` as ``ControllerService.status`` and ``installation_id`` give them; None: ask the service."""

    def work(db: sqlite3.Connection) -> tuple[Verdict, str] | None:
        row = db.execute("SELECT installation_id, seed, product FROM installation").fetchone()
        if row is None:
            return None
        setting = readpath.setting(db)
        mark = mark_of(setting)
        key = InstallationKey(bytes(row[1]))
        inst = Installation(
            id=key.id,
            product=row[2],
            factors=hash_factors(key.public_key, factors),
            highest_serial=int(setting("highest_serial") or 0),
            trusted_time=mark.value,
        )
        active = db.execute("SELECT token FROM licenses WHERE active = 1").fetchone()
        try:
            lic = None if active is None else decode_license(active[0], _keyring(db))
        except LicensorError as e:  # e.g. its vendor key was removed from the trusted set
            return Verdict(e.code, e.hint, details=e.details), str(row[0])
        return trusted_time.explain(evaluate(lic, inst, now), mark, now), str(row[0])

    result: tuple[Verdict, str] | None = read(url, work)
    return result


def history(url: str) -> list[dict[str, Any]] | None:
    """Every key activated here, newest first, as ``ControllerService.history`` gives it; None: ask the service."""

    def work(db: sqlite3.Connection) -> list[dict[str, Any]]:
        keyring = _keyring(db)
        q = "SELECT license_id, serial, activated_at, active, token FROM licenses ORDER BY id DESC"
        rows = [_License(r[0], r[1], utc(r[2]), bool(r[3]), r[4]) for r in db.execute(q)]
        return [history_item(r, keyring) for r in rows]

    result: list[dict[str, Any]] | None = read(url, work)
    return result
