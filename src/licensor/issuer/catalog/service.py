"""Products and plans: what may be licensed, and the defaults a license starts from."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Row

from ...errors import UsageError
from ...license import fmt_time
from ...terms import Plan, check_features
from .. import store as s
from ..ledger import Ledger

_PLAN = select(s.plans).where(s.plans.c.name == bindparam("n"))
_PRODUCT_FEATURES = select(s.products.c.features).where(s.products.c.name == bindparam("n"))


_PLAN_FIELDS = ("name", "type", "months", "maintenance_months", "nodes", "features", "grace_days")


def plan_dict(r: Row[Any]) -> dict[str, Any]:
    out = {name: r._mapping[name] for name in _PLAN_FIELDS}
    out["features"] = json.loads(out["features"])
    return out


def as_plan(p: dict[str, Any] | None) -> Plan | None:
    """A plan as the core's ``license_terms`` takes it."""
    if p is None:
        return None
    return Plan(p["name"], p["type"], p["months"], p["maintenance_months"], p["nodes"], tuple(p["features"]), p["grace_days"])


class CatalogService:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger

    def plans(self) -> list[dict[str, Any]]:
        return [plan_dict(r) for r in self.ledger.rows(select(s.plans).order_by(s.plans.c.name))]

    def set_plan(self, plan: Plan, *, actor: str) -> dict[str, Any]:
        """Create or replace a plan."""
        if plan.type not in ("perpetual", "subscription"):
            raise UsageError("A plan's type is 'perpetual' or 'subscription'")
        name = plan.name
        values = {
            "type": plan.type,
            "months": plan.months,
            "maintenance_months": plan.maintenance_months,
            "nodes": plan.nodes,
            "features": json.dumps(sorted(set(plan.features))),
            "grace_days": plan.grace_days,
        }

        def run(c: Connection) -> dict[str, Any]:
            if c.execute(update(s.plans).where(s.plans.c.name == name).values(**values)).rowcount == 0:
                c.execute(s.plans.insert().values(name=name, **values))
            self.ledger.record(c, actor, "plan.set", name, **values)
            return plan_dict(c.execute(select(s.plans).where(s.plans.c.name == name)).one())

        return dict(self.ledger.retry(run))

    def products(self) -> list[dict[str, Any]]:
        rows = self.ledger.rows(select(s.products).order_by(s.products.c.name))
        return [{"name": r.name, "features": json.loads(r.features), "created_at": fmt_time(r.created_at)} for r in rows]

    def set_product(self, name: str, features: Iterable[str], *, actor: str) -> dict[str, Any]:
        """Create a product or replace its feature catalogue (empty: any feature name is accepted)."""
        feats = json.dumps(sorted(set(features)))

        def run(c: Connection) -> dict[str, Any]:
            if c.execute(update(s.products).where(s.products.c.name == name).values(features=feats)).rowcount == 0:
                c.execute(s.products.insert().values(name=name, features=feats, created_at=self.ledger.clock()))
            self.ledger.record(c, actor, "product.set", name, features=json.loads(feats))
            return {"name": name, "features": json.loads(feats)}

        return dict(self.ledger.retry(run))

    @staticmethod
    def plan(c: Connection, name: str | None) -> Plan | None:
        """The plan named ``name`` (None: no such plan, or no name)."""
        if name is None:
            return None
        row = c.execute(_PLAN, {"n": name}).first()
        return as_plan(plan_dict(row)) if row is not None else None

    def check_features(self, c: Connection, product: str, features: tuple[str, ...], *, allow_unknown: bool = False) -> None:
        """Refuse features outside the product's catalogue (``terms.check_features``); a new product is added, open to any."""
        row = c.execute(_PRODUCT_FEATURES, {"n": product}).first()
        if row is None:
            c.execute(s.products.insert(), {"name": product, "features": "[]", "created_at": self.ledger.clock()})
            return
        check_features(product, features, json.loads(row.features), allow_unknown=allow_unknown)
