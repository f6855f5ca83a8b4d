"""Customers and installations: learned from request codes, never typed in."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Row

from ...license import fmt_time
from ...request import RequestCode
from .. import store as s
from ..ledger import Ledger, not_found

_CUSTOMER_ID = select(s.customers.c.id).where(s.customers.c.name == bindparam("n"))
_INST_UPDATE = update(s.installations).where(s.installations.c.installation_id == bindparam("iid"))
_WITH_CUSTOMER = select(s.installations, s.customers.c.name.label("customer")).join(
    s.customers, s.customers.c.id == s.installations.c.customer_id, isouter=True
)


def _inst_dict(r: Row[Any]) -> dict[str, Any]:
    return {
        "installation_id": r.installation_id,
        "product": r.product,
        "version": r.version,
        "customer": r.customer,
        "cluster_name": r.cluster_name,
        "factors": json.loads(r.factors),
        "contact_email": r.contact_email,
        "first_seen": fmt_time(r.first_seen),
        "last_seen": fmt_time(r.last_seen),
    }


def _customer_dict(r: Row[Any]) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "email": r.email,
        "contact": r.contact,
        "created_at": fmt_time(r.created_at),
        "reminders": not r.reminders_opt_out,
    }


class CustomerService:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def customer(self, c: Connection, name: str, email: str = "", contact: str = "") -> int:
        """The id of customer ``name``, made on first sight."""
        row = c.execute(_CUSTOMER_ID, {"n": name}).first()
        if row is not None:
            return int(row.id)
        pk = c.execute(
            s.customers.insert(), {"name": name, "email": email, "contact": contact, "created_at": self.ledger.clock()}
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def learn(self, c: Connection, req: RequestCode, customer_id: int) -> None:
        """Record (or refresh) the installation that made ``req``."""
        now = self.ledger.clock()
        values = {
            "product": req.product,
            "version": req.version,
            "customer_id": customer_id,
            "cluster_name": req.cluster_name,
            "factors": json.dumps(dict(req.factors), sort_keys=True),
            "contact_email": req.contact.email,
            "last_seen": now,
        }
        done = c.execute(_INST_UPDATE, {"iid": req.installation_id, **values})
        if done.rowcount == 0:
            c.execute(
                s.installations.insert(),
                {"installation_id": req.installation_id, "public_key": req.public_key, "first_seen": now, **values},
            )

    def customers(self) -> list[dict[str, Any]]:
        rows = self.ledger.rows(select(s.customers).order_by(s.customers.c.name))
        return [_customer_dict(r) for r in rows]

    def set_reminders(self, customer_id: int, enabled: bool, *, actor: str) -> dict[str, Any]:
        """Turn expiry reminders on or off for one customer (on for every new customer); audited."""
        with self.ledger.tx() as c:
            done = c.execute(update(s.customers).where(s.customers.c.id == customer_id).values(reminders_opt_out=not enabled))
            if done.rowcount == 0:
                raise not_found(f"customer {customer_id}")
            self.ledger.record(c, actor, "customer.reminders", str(customer_id), enabled=enabled)
            row = c.execute(select(s.customers).where(s.customers.c.id == customer_id)).one()
        return _customer_dict(row)

    def installations(self, customer: str | None = None) -> list[dict[str, Any]]:
        q = _WITH_CUSTOMER
        if customer:
            q = q.where(s.customers.c.name == customer)
        return [_inst_dict(r) for r in self.ledger.rows(q.order_by(s.installations.c.first_seen))]

    def installation(self, installation_id: str) -> dict[str, Any]:
        with self.ledger.tx(write=False) as c:
            r = c.execute(_WITH_CUSTOMER.where(s.installations.c.installation_id == installation_id)).first()
        if r is None:
            raise not_found(f"installation {installation_id}")
        return _inst_dict(r)
