"""The trusted-time mark in the settings table; the rules are ``licensor.trusted_time``'s, here loaded and stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from ... import trusted_time
from ...license import fmt_time
from ...trusted_time import Mark, Watch
from .. import store as s
from .read import LEGACY_KEY, OBSERVED_KEY, PROVEN_KEY, mark_of


def load(c: Connection) -> Mark:
    return mark_of(lambda key: s.get_setting(c, key))


def store(c: Connection, old: Mark, new: Mark) -> None:
    if new.proven != old.proven and new.proven is not None:
        s.put_setting(c, PROVEN_KEY, fmt_time(new.proven))
    if new.observed != old.observed:
        if new.observed is None:
            c.execute(s.settings_kv.delete().where(s.settings_kv.c.key == OBSERVED_KEY))
        else:
            s.put_setting(c, OBSERVED_KEY, fmt_time(new.observed))
        c.execute(s.settings_kv.delete().where(s.settings_kv.c.key == LEGACY_KEY))


def observe(c: Connection, watch: Watch | None, now: datetime, mono: float) -> Watch:
    """Feed one reading of the system and monotonic clocks to the mark (inside the caller's locked transaction)."""
    old = load(c)
    new, watch = trusted_time.observe(old, watch, now, mono)
    store(c, old, new)
    return watch
