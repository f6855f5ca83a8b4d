"""Issuer settings: database, SMTP, session and login limits.

Read from ``<data-dir>/vendor/issuer.toml`` if present, then from environment
variables, which win (so a container can be configured by environment alone)::

    [smtp]                          # LICENSOR_SMTP_HOST, _PORT, _SECURITY, _USER, _PASSWORD, _FROM
    host = "mail.example.com"
    port = 587
    security = "starttls"           # none | starttls | ssl
    user = "licensing"
    password = "…"
    from = "Licensing <licensing@example.com>"

    [auth]                          # LICENSOR_COOKIE_SECURE=0 only for plain-HTTP development
    cookie_secure = true
    session_hours = 12
    login_limit = 5                 # failed logins per user name ...
    login_address_limit = 20        # ... and per client address ...
    login_window_minutes = 15       # ... within this window

    [reminders]                     # LICENSOR_REMINDER_DAYS, LICENSOR_REMINDER_INTERVAL_MINUTES
    days = 30                       # e-mail the customer when a live key expires within this many days
    interval_minutes = 0            # serve sweeps this often (0: never; run 'licensor vendor remind' instead)
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..reminders import DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS
from .store import database_url


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    user: str = ""
    password: str = field(default="", repr=False)
    sender: str = "licensor@localhost"
    timeout: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class IssuerSettings:
    database_url: str
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    cookie_secure: bool = True
    session_hours: float = 12
    login_limit: int = 5
    login_address_limit: int = 20
    login_window_minutes: float = 15
    max_body: int = 256 * 1024
    reminder_days: int = DEFAULT_WINDOW_DAYS
    reminder_interval_minutes: float = 0.0  # 0: serve sends no reminders by itself


def load_settings(vendor_dir: Path, url: str | None = None, env: Mapping[str, str] | None = None) -> IssuerSettings:
    env = os.environ if env is None else env
    conf: dict[str, Any] = {}
    path = Path(env.get("LICENSOR_ISSUER_CONFIG") or vendor_dir / "issuer.toml")
    if path.exists():
        try:
            conf = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, OSError) as e:
            raise UsageError(f"Cannot read the issuer settings in {path}: {e}") from None
    smtp = dict(conf.get("smtp", {}))
    auth = dict(conf.get("auth", {}))
    for name in ("host", "port", "security", "user", "password", "from"):
        v = env.get(f"LICENSOR_SMTP_{name.upper()}")
        if v is not None:
            smtp[name] = v
    if env.get("LICENSOR_COOKIE_SECURE") is not None:
        auth["cookie_secure"] = env["LICENSOR_COOKIE_SECURE"] not in ("0", "false", "no")
    for name in ("login_limit", "login_address_limit", "login_window_minutes", "session_hours"):
        v = env.get(f"LICENSOR_{name.upper()}")
        if v is not None:
            auth[name] = v
    remind = dict(conf.get("reminders", {}))
    for name in ("days", "interval_minutes"):
        v = env.get(f"LICENSOR_REMINDER_{name.upper()}")
        if v is not None:
            remind[name] = v
    security = str(smtp.get("security", "none"))
    if security not in ("none", "starttls", "ssl"):
        raise UsageError(f"The SMTP security is 'none', 'starttls' or 'ssl', not '{security}'")
    try:
        return IssuerSettings(
            database_url=database_url(vendor_dir, url),
            smtp=SmtpSettings(
                host=str(smtp.get("host", "")),
                port=int(smtp.get("port", 465 if security == "ssl" else 587 if security == "starttls" else 25)),
                security=security,
                user=str(smtp.get("user", "")),
                password=str(smtp.get("password", "")),
                sender=str(smtp.get("from", "licensor@localhost")),
            ),
            cookie_secure=bool(auth.get("cookie_secure", True)),
            session_hours=float(auth.get("session_hours", 12)),
            login_limit=int(auth.get("login_limit", 5)),
            login_address_limit=int(auth.get("login_address_limit", 20)),
            login_window_minutes=float(auth.get("login_window_minutes", 15)),
            **_reminders(remind),
        )
    except ValueError as e:
        raise UsageError(f"An issuer setting is not a number: {e}") from None


def _reminders(remind: dict[str, Any]) -> dict[str, Any]:
    """The ``[reminders]`` settings, checked: a window of 1 to 3650 days, an interval of 0 (off) or more minutes."""
    days, every = int(remind.get("days", DEFAULT_WINDOW_DAYS)), float(remind.get("interval_minutes", 0))
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise UsageError(f"Reminders days is a whole number from 1 to {MAX_WINDOW_DAYS}, not {days}")
    if not every >= 0:
        raise UsageError(f"Reminders interval_minutes is 0 (off) or a positive number of minutes, not {every}")
    return {"reminder_days": days, "reminder_interval_minutes": every}
