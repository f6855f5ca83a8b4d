"""Licenses: sign one for a request code, renew it, rehost it; find and show what was signed.

The terms come from ``licensor.terms.license_terms`` (plan, request, the superseded
license, what the vendor gave); this service loads what it needs, calls it, signs
and stores.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from ...differences import Change, changes
from ...errors import Conflict
from ...identity import Binding, default_binding
from ...license import License, license_from_claims, new_license
from ...request import RequestCode, decode_request
from ...signing import split_token
from ...terms import Ask, Overrides, Terms, check_issue, license_terms, renewal_months, renewal_start
from .. import store as s
from ..catalog.service import CatalogService
from ..customers.service import CustomerService
from ..keys.service import KeyService
from ..ledger import Ledger, not_found
from .records import Issued, license_record

_LICENSE_INSERT = s.licenses.insert()
_MAX_SERIAL = select(func.max(s.licenses.c.serial)).where(s.licenses.c.installation_id == bindparam("iid"))
_LIVE = (
    select(s.licenses.c.license_id)
    .where(s.licenses.c.installation_id == bindparam("iid"), s.licenses.c.superseded_by.is_(None))
    .order_by(s.licenses.c.serial.desc())
    .limit(1)
)


def _model(row: Row[Any]) -> License:
    message, _sig, _footer = split_token(row.token)
    return license_from_claims(json.loads(message), kid=row.kid, token=row.token)


def _stored(
    lic: License, token: str, *, kid: str, kind: str, actor: str, customer_id: int, plan: str | None, supersedes: str | None
) -> dict[str, Any]:
    """The ``licenses`` row of a license just signed."""
    return {
        "license_id": lic.license_id,
        "installation_id": lic.installation_id,
        "serial": lic.serial,
        "customer_id": customer_id,
        "customer": lic.customer,
        "product": lic.product,
        "plan": plan,
        "type": lic.type,
        "nodes": lic.nodes,
        "remote_clusters": lic.remote_clusters,
        "features": json.dumps(list(lic.features)),
        "grace_days": lic.grace_days,
        "issued_at": lic.issued_at,
        "not_before": lic.not_before,
        "expires": lic.expires,
        "maintenance_until": lic.maintenance_until,
        "kid": kid,
        "token": token,
        "kind": kind,
        "supersedes": supersedes,
        "issued_by": actor,
    }


@dataclass(frozen=True)
class Renewal:
    """What renewing the live license ``current`` would sign: ``terms``, from ``start``; ``months`` the default term."""

    live: dict[str, Any]
    current: License
    terms: Terms
    start: datetime
    months: int
    changes: tuple[Change, ...]


class LicenseService:
    def __init__(self, ledger: Ledger, keys: KeyService, catalog: CatalogService, customers: CustomerService):
        self.ledger, self.keys, self.catalog, self.customers = ledger, keys, catalog, customers

    @staticmethod
    def inspect(text: str | bytes) -> RequestCode:
        """Check and decode a request code (nothing is stored)."""
        return decode_request(text)

    def _next_serial(self, c: Connection, installation_id: str) -> int:
        cur = c.execute(_MAX_SERIAL, {"iid": installation_id}).scalar()
        return 1 + int(cur or 0)

    def _sign_and_store(
        self, c: Connection, lic: License, *, kind: str, actor: str, customer_id: int, plan: str | None, supersedes: str | None
    ) -> Issued:
        kid, signer = self.keys.signer(c)
        token = lic.sign_with(signer)
        row = _stored(lic, token, kid=kid, kind=kind, actor=actor, customer_id=customer_id, plan=plan, supersedes=supersedes)
        c.execute(_LICENSE_INSERT, row)
        # A new key supersedes the live key it replaces and any live key of its installation, whichever path made it.
        t = s.licenses.c
        live = and_(t.installation_id == lic.installation_id, t.superseded_by.is_(None), t.license_id != lic.license_id)
        c.execute(update(s.licenses).where(or_(t.license_id == supersedes, live)).values(superseded_by=lic.license_id))
        details = {"installation": lic.installation_id, "serial": lic.serial, "kid": kid, "supersedes": supersedes}
        self.ledger.record(c, actor, f"license.{kind}", lic.license_id, **details)
        return Issued(lic, token, kind, supersedes, kid=kid, plan=plan, issued_by=actor)

    def _new(
        self, c: Connection, t: Terms, *, product: str, customer: str, installation_id: str, binding: Binding, now: datetime
    ) -> License:
        """The license with terms ``t``, a fresh id and the installation's next serial."""
        return new_license(
            license_id=str(uuid.uuid4()),
            product=product,
            customer=customer,
            installation_id=installation_id,
            binding=binding,
            type=t.type,
            nodes=t.nodes,
            now=now,
            serial=self._next_serial(c, installation_id),
            expires=t.expires,
            maintenance_until=t.maintenance_until,
            remote_clusters=t.remote_clusters,
            features=t.features,
            grace_days=t.grace_days,
        )

    def issue(
        self,
        request: str | bytes | RequestCode,
        *,
        actor: str,
        plan: str | None = None,
        customer: str | None = None,
        terms: Overrides | None = None,
        allow_unknown_features: bool = False,
    ) -> Issued:
        """Sign a license for the installation that made ``request``: ``terms`` given, else asked, else the plan's.

        The plan is ``plan``, or the plan named like the type given (``subscription`` when neither is given);
        ``customer`` defaults to the request's company or contact.  The installation's live key, if any, is
        superseded.  Refused (``terms.check_issue``): no node, a type the plan given does not have, a feature
        outside the product's catalogue unless ``allow_unknown_features``."""
        req = request if isinstance(request, RequestCode) else decode_request(request)
        now = self.ledger.clock()
        given = terms or Overrides()

        def run(c: Connection) -> Issued:
            p = self.catalog.plan(c, plan or given.type or "subscription")
            if plan and p is None:
                raise not_found(f"plan {plan}")
            t = license_terms("issue", now, plan=p, ask=Ask(req.nodes, req.months, req.remote_clusters), overrides=given)
            check_issue(t, plan=p if plan else None, type_given=given.type)
            name = customer or req.contact.company or req.contact.name
            self.catalog.check_features(c, req.product, t.features, allow_unknown=allow_unknown_features)
            cid = self.customers.customer(c, name, req.contact.email, req.contact.name)
            self.customers.learn(c, req, cid)
            lic = self._new(
                c, t, product=req.product, customer=name, installation_id=req.installation_id, binding=default_binding(req.factors), now=now
            )
            live = c.execute(_LIVE, {"iid": req.installation_id}).scalar()
            return self._sign_and_store(c, lic, kind="issue", actor=actor, customer_id=cid, plan=p.name if p else None, supersedes=live)

        return self.ledger.write(run)

    def _license_row(self, c: Connection, license_id: str) -> Row[Any]:
        row = c.execute(select(s.licenses).where(s.licenses.c.license_id == license_id)).first()
        if row is None:
            raise not_found(f"license {license_id}")
        return row

    def _current(self, c: Connection, license_id: str, what: str) -> tuple[Row[Any], License]:
        """The stored row and the license, refused when a newer license superseded it (``what``: renew, rehost)."""
        row = self._license_row(c, license_id)
        if row.superseded_by:
            raise Conflict(f"License {row.license_id} was superseded by {row.superseded_by}: {what} that one instead")
        return row, _model(row)

    def _successor(
        self,
        c: Connection,
        row: Row[Any],
        old: License,
        t: Terms,
        *,
        kind: str,
        actor: str,
        now: datetime,
        binding: Binding,
        installation_id: str,
    ) -> Issued:
        """Sign the license with terms ``t`` that supersedes ``old``: same product, customer, type and plan, the next serial."""
        self.catalog.check_features(c, old.product, t.features)
        lic = self._new(c, t, product=old.product, customer=old.customer, installation_id=installation_id, binding=binding, now=now)
        return self._sign_and_store(c, lic, kind=kind, actor=actor, customer_id=row.customer_id, plan=row.plan, supersedes=old.license_id)

    def _renewal_terms(self, c: Connection, row: Row[Any], old: License, given: Overrides, now: datetime) -> Terms:
        """The one renewal computation of both paths (a license's Renew, a request code's preview): ``license_terms``."""
        return license_terms("renew", now, plan=self.catalog.plan(c, row.plan), current=old, overrides=given)

    def renew(self, license_id: str, *, actor: str, terms: Overrides | None = None) -> Issued:
        """Same installation, next serial; the term runs on from the old end, or from today if it lapsed."""
        now = self.ledger.clock()
        given = terms or Overrides()

        def run(c: Connection) -> Issued:
            row, old = self._current(c, license_id, "renew")
            t = self._renewal_terms(c, row, old, given, now)
            return self._successor(
                c, row, old, t, kind="renew", actor=actor, now=now, binding=old.binding, installation_id=old.installation_id
            )

        return self.ledger.write(run)

    def _offer(self, c: Connection, license_id: str, given: Overrides | None, now: datetime) -> Renewal:
        row, old = self._current(c, license_id, "renew")
        t = self._renewal_terms(c, row, old, given or Overrides(), now)
        months = renewal_months(old, self.catalog.plan(c, row.plan))
        return Renewal(license_record(row, row, now), old, t, renewal_start(old, now), months, changes(old, t))

    def renewal_of(self, license_id: str, terms: Overrides | None = None) -> Renewal:
        """What renewing ``license_id`` would sign (``terms`` given, else carried over from the current end), and what changes."""
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            return self._offer(c, license_id, terms, now)

    def renewal(self, req: RequestCode, terms: Overrides | None = None) -> Renewal | None:
        """The renewal a request code's preview offers: ``renewal_of`` its installation's live license of the same product."""
        now = self.ledger.clock()
        with self.ledger.tx(write=False) as c:
            live = c.execute(_LIVE, {"iid": req.installation_id}).scalar()
            if live is None or self._license_row(c, live).product != req.product:
                return None
            return self._offer(c, live, terms, now)

    def renew_request(self, request: str | bytes | RequestCode, license_id: str, *, actor: str, terms: Overrides | None = None) -> Issued:
        """Renew the live license ``license_id`` from its installation's new request code: what ``renew`` signs, with the
        request's contact learnt and its fingerprint bound.  Refused when the key is no longer live or not this installation's."""
        req = request if isinstance(request, RequestCode) else decode_request(request)
        now = self.ledger.clock()
        given = terms or Overrides()

        def run(c: Connection) -> Issued:
            row, old = self._current(c, license_id, "renew")
            if (old.installation_id, old.product) != (req.installation_id, req.product):
                raise Conflict(
                    f"License {license_id} is not for {req.product} on installation {req.installation_id}: renew from its own request code"
                )
            self.customers.learn(c, req, row.customer_id)
            t = self._renewal_terms(c, row, old, given, now)
            binding = default_binding(req.factors)
            return self._successor(c, row, old, t, kind="renew", actor=actor, now=now, binding=binding, installation_id=old.installation_id)

        return self.ledger.write(run)

    def rehost(self, license_id: str, request: str | bytes | RequestCode, *, actor: str, terms: Overrides | None = None) -> Issued:
        """The same terms for a new installation (from its request code); the old license is superseded.

        ``terms`` may change nodes, remote clusters, features, expiry and maintenance end."""
        req = request if isinstance(request, RequestCode) else decode_request(request)
        now = self.ledger.clock()
        given = terms or Overrides()

        def run(c: Connection) -> Issued:
            row, old = self._current(c, license_id, "rehost")
            if req.installation_id == old.installation_id:
                raise Conflict("This request code comes from the installation the license is already for: renew it instead of rehosting")
            if req.product != old.product:
                raise Conflict(f"The request code is for product {req.product}, the license for {old.product}: rehost within one product")
            self.customers.learn(c, req, row.customer_id)
            t = license_terms("rehost", now, current=old, overrides=given)
            binding = default_binding(req.factors)
            return self._successor(
                c, row, old, t, kind="rehost", actor=actor, now=now, binding=binding, installation_id=req.installation_id
            )

        return self.ledger.write(run)

    def get(self, license_id: str) -> dict[str, Any]:
        with self.ledger.tx(write=False) as c:
            row = self._license_row(c, license_id)
        return license_record(row, row, self.ledger.clock())

    def issued(self, license_id: str) -> Issued:
        """The license as signed, to download or send again."""
        with self.ledger.tx(write=False) as c:
            r = self._license_row(c, license_id)
            cluster = c.execute(
                select(s.installations.c.cluster_name).where(s.installations.c.installation_id == r.installation_id)
            ).scalar()
        return Issued(
            _model(r),
            r.token,
            r.kind,
            r.supersedes,
            kid=r.kid,
            plan=r.plan,
            issued_by=r.issued_by,
            superseded_by=r.superseded_by,
            cluster_name=cluster or "",
        )

    def search(
        self, q: str | None = None, *, installation_id: str | None = None, customer: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Licenses, newest first; ``q`` matches id, customer, installation or product."""
        t = s.licenses
        query = select(t)
        if q:
            like = f"%{q.lower()}%"
            columns = (t.c.license_id, t.c.customer, t.c.installation_id, t.c.product)
            query = query.where(or_(*(func.lower(col).like(like) for col in columns)))
        if installation_id:
            query = query.where(t.c.installation_id == installation_id)
        if customer:
            query = query.where(t.c.customer == customer)
        query = (
            query.order_by(t.c.issued_at.desc(), t.c.installation_id, t.c.serial.desc())
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        )
        now = self.ledger.clock()
        return [license_record(r, r, now) for r in self.ledger.rows(query)]

    def record_sent(self, license_id: str, to: str, actor: str) -> None:
        self.ledger.audited(actor, "license.send", license_id, to=to)

    def contact_email(self, license_id: str) -> str:
        with self.ledger.tx(write=False) as c:
            row = c.execute(
                select(s.installations.c.contact_email)
                .join(s.licenses, s.licenses.c.installation_id == s.installations.c.installation_id)
                .where(s.licenses.c.license_id == license_id)
            ).first()
        if row is None:
            raise not_found(f"license {license_id}")
        return str(row.contact_email)
