"""The issuer's services, built on one database: ``IssuerService(store)``.

Each domain has a service of its own, in its package (``keys``, ``catalog``,
``customers``, ``licenses``, ``usage``, ``accounts``, ``reminders``); this object only builds them
on a shared ``Ledger`` (database, clock, audit log, group commit).  The few
methods below are the set-up steps scripts and tests run without the HTTP API.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from ..clock import Clock, system_clock
from ..signing import Keyring, VendorKey
from ..throttle import LoginPolicy
from . import store as s
from .accounts.service import SCOPES, AccountService, Principal
from .catalog.service import CatalogService
from .customers.service import CustomerService
from .keys.service import KeyService
from .ledger import Ledger
from .licenses.listing import ListingService
from .licenses.records import Issued
from .licenses.service import LicenseService
from .reminders.service import ReminderService
from .usage.service import UsageService

__all__ = ["SCOPES", "Issued", "IssuerService", "Principal"]


class IssuerService:
    def __init__(
        self,
        store: s.Store,
        *,
        clock: Clock = system_clock,
        login_limit: int = 5,
        login_window: timedelta = timedelta(minutes=15),
        login_address_limit: int = 20,
        session_ttl: timedelta = timedelta(hours=12),
        group_commit: bool = False,
    ):
        self.store = store
        self.ledger = Ledger(store, clock=clock, group_commit=group_commit)
        self.keys = KeyService(self.ledger)
        self.catalog = CatalogService(self.ledger)
        self.customers = CustomerService(self.ledger)
        self.licenses = LicenseService(self.ledger, self.keys, self.catalog, self.customers)
        self.listing = ListingService(self.ledger)
        self.usage = UsageService(self.ledger)
        self.reminders = ReminderService(self.ledger)
        policy = LoginPolicy(login_limit, login_address_limit, login_window)
        self.accounts = AccountService(self.ledger, policy=policy, session_ttl=session_ttl)

    @property
    def clock(self) -> Clock:
        return self.ledger.clock

    # -- set-up steps (the CLI, scripts and tests) -----------------------------------

    def init(self, actor: str = "cli", key: VendorKey | None = None) -> str:
        return self.keys.init(actor, key)

    def public_set(self) -> Keyring:
        return self.keys.public_set()

    def rotate_key(self, actor: str) -> dict[str, object]:
        return self.keys.rotate(actor)

    def create_user(self, username: str, password: str, *, actor: str) -> None:
        self.accounts.create_user(username, password, actor=actor)

    def create_token(self, name: str, scopes: Iterable[str], *, actor: str) -> str:
        return self.accounts.create_token(name, scopes, actor=actor)

    def tokens(self) -> list[dict[str, object]]:
        return self.accounts.tokens()

    def revoke_token(self, token_id: int, *, actor: str) -> None:
        self.accounts.revoke_token(token_id, actor=actor)

    def issue(self, request: str | bytes, *, actor: str) -> Issued:
        """A license on the defaults (plan, request); ``self.licenses.issue`` takes every term."""
        return self.licenses.issue(request, actor=actor)
