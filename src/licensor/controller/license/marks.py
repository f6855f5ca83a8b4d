"""The trusted-time mark in the settings table; the rules are ``licensor.trusted_time``'s, here loaded and stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Connection

from ... import trusted_time
from ...license import fmt_time, parse_time
from ...trusted_time import Mark, Watch
from .. import store as s

#: Settings keys of the trusted-time mark's two parts (see licensor.trusted_time).
PROVEN_KEY = "trusted_time_proven"
OBSERVED_KEY = "trusted_time_observed"
#: Before the mark had two parts it was one value, set by single clock readings: it counts as observed.
LEGACY_KEY = "trusted_time"


def load(c: Connection) -> Mark:
    proven, observed = s.get_setting(c, PROVEN_KEY), s.get_setting(c, OBSERVED_KEY) or s.get_setting(c, LEGACY_KEY)
    return Mark(parse_time(proven) if proven else None, parse_time(observed) if observed else None)


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
