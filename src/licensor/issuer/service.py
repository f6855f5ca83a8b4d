"""Issuer service: signing keys, catalogue, customers, installations, licenses, usage, auth, audit.

The HTTP API and the CLI only parse and render; every operation is here, once.
Each one is a single database transaction, and nothing lives in process memory
that another replica could change (the signer cache is keyed by key id, and the
active key id is read from the database on every issue), so replicas can share
one PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from ..errors import BadSignatureError, Conflict, LicensorError, NotFound, Unauthorized, UsageError
from ..identity import Binding, default_binding
from ..license import License, LicenseType, add_months, fmt_time, license_file, license_from_claims, new_license
from ..request import RequestCode, decode_request
from ..server.logins import LoginGate, verify_password
from ..signing import Keyring, VendorKey, split_token
from ..throttle import LoginPolicy
from ..usage import decode_usage_report
from . import store as s
from .claims import FastSigner

Clock = Callable[[], datetime]

#: Scopes an API token can carry.  A logged-in admin user has all of them.
SCOPES = ("licenses:read", "licenses:write", "keys:admin", "usage:write", "catalog:write", "audit:read")
TOKEN_PREFIX = "lsr_"  # noqa: S105 - a prefix, not a secret


# The statements of the issue path, built once (SQLAlchemy then reuses their compiled form).
_AUDIT = s.audit.insert()
_LICENSE_INSERT = s.licenses.insert()
_CUSTOMER_ID = select(s.customers.c.id).where(s.customers.c.name == bindparam("n"))
_INST_UPDATE = update(s.installations).where(s.installations.c.installation_id == bindparam("iid"))
_ACTIVE_KEY = select(s.signing_keys.c.kid, s.signing_keys.c.seed).where(s.signing_keys.c.state == "active")
_MAX_SERIAL = select(func.max(s.licenses.c.serial)).where(s.licenses.c.installation_id == bindparam("iid"))
_PLAN = select(s.plans).where(s.plans.c.name == bindparam("n"))
_TOKEN = select(s.api_tokens.c.id, s.api_tokens.c.name, s.api_tokens.c.scopes).where(
    s.api_tokens.c.token_hash == bindparam("h"), s.api_tokens.c.revoked_at.is_(None)
)
_PRODUCT_FEATURES = select(s.products.c.features).where(s.products.c.name == bindparam("n"))


def system_clock() -> datetime:
    return datetime.now(UTC)


def not_found(what: str) -> NotFound:
    return NotFound(f"there is no {what}: check the id (list them with 'licensor vendor list')")


def conflict(hint: str) -> Conflict:
    return Conflict(hint)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    """A license just signed: the model, its token and the license file text."""

    license: License
    token: str
    kind: str
    supersedes: str | None = None
    kid: str = ""
    plan: str | None = None
    issued_by: str = ""
    superseded_by: str | None = None

    @property
    def file(self) -> str:
        return license_file(self.license, self.token)

    def as_dict(self) -> dict[str, Any]:
        """The same record as ``IssuerService.get`` shows, without reading it back."""
        lic = self.license
        return {
            "license_id": lic.license_id,
            "installation_id": lic.installation_id,
            "serial": lic.serial,
            "customer": lic.customer,
            "product": lic.product,
            "plan": self.plan,
            "type": lic.type,
            "nodes": lic.nodes,
            "remote_clusters": lic.remote_clusters,
            "features": list(lic.features),
            "grace_days": lic.grace_days,
            "issued_at": fmt_time(lic.issued_at),
            "not_before": fmt_time(lic.not_before),
            "expires": fmt_time(lic.expires) if lic.expires else None,
            "maintenance_until": fmt_time(lic.maintenance_until),
            "kid": self.kid,
            "kind": self.kind,
            "supersedes": self.supersedes,
            "superseded_by": self.superseded_by,
            "issued_by": self.issued_by,
        }


@dataclass(frozen=True)
class Principal:
    """Who is calling: an admin user (all scopes) or an API token (its scopes)."""

    actor: str  # "user:NAME" or "token:NAME#ID"
    scopes: frozenset[str]
    csrf: str | None = None  # set for cookie sessions: unsafe methods must echo it

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


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
        self.clock = clock
        self.logins = LoginGate(
            store, s.login_attempts, policy=LoginPolicy(login_limit, login_address_limit, login_window), clock=lambda: self.clock()
        )
        self.session_ttl = session_ttl
        self._signers: dict[str, FastSigner] = {}
        self._group = _GroupCommit(self) if group_commit else None

    @contextmanager
    def tx(self, write: bool = True) -> Iterator[Connection]:
        with self.store.tx(write) as c:
            yield c

    def _retry(self, fn: Callable[[Connection], Any], attempts: int = 8) -> Any:
        """Run ``fn`` in a transaction, again if a concurrent writer took the same serial or name."""
        for i in range(attempts):
            try:
                with self.tx() as c:
                    return fn(c)
            except IntegrityError:
                if i == attempts - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, fn: Callable[[Connection], Any]) -> Any:
        """A write that signs a license: batched with concurrent ones when group commit is on."""
        if self._group is not None:
            return self._group.submit(fn)
        return self._retry(fn)

    def record(self, c: Connection, actor: str, action: str, target: str = "", **details: Any) -> None:
        """One line of the audit log, in the caller's transaction."""
        c.execute(
            _AUDIT,
            {
                "at": self.clock(),
                "actor": actor,
                "action": action,
                "target": target,
                "details": json.dumps(details, sort_keys=True, default=str),
            },
        )

    # -- signing keys --------------------------------------------------------

    def init(self, actor: str = "cli", key: VendorKey | None = None) -> str:
        """Make the first signing key (or adopt ``key``); refuse if there is one already."""
        with self.tx() as c:
            row = c.execute(select(s.signing_keys.c.kid).where(s.signing_keys.c.state == "active")).first()
            if row is not None:
                raise UsageError(
                    f"this vendor already has signing key {row.kid}: keep it (its keys are in the field); "
                    "to change keys use 'licensor vendor rotate-key'"
                )
            key = key or VendorKey.generate()
            self._add_key(c, key)
            self.record(c, actor, "key.create", key.kid)
        return key.kid

    def _add_key(self, c: Connection, key: VendorKey) -> None:
        c.execute(
            s.signing_keys.insert().values(kid=key.kid, public_key=key.public_key, seed=key.seed, state="active", created_at=self.clock())
        )

    def _signer(self, c: Connection) -> FastSigner:
        row = c.execute(_ACTIVE_KEY).first()
        if row is None:
            raise UsageError("this vendor has no signing key yet: run 'licensor vendor init' first")
        signer = self._signers.get(row.kid)
        if signer is None:
            signer = self._signers[row.kid] = FastSigner(VendorKey(bytes(row.seed)))
        return signer

    def public_set(self) -> Keyring:
        """The keys products must trust: the active key and retired keys not yet removed."""
        with self.tx(write=False) as c:
            rows = c.execute(
                select(s.signing_keys.c.public_key)
                .where(s.signing_keys.c.state.in_(("active", "retired")))
                .order_by(s.signing_keys.c.created_at.desc())
            ).all()
        if not rows:
            raise UsageError("this vendor has no signing key yet: run 'licensor vendor init' first")
        return Keyring(bytes(r.public_key) for r in rows)

    def keys(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as c:
            rows = c.execute(select(s.signing_keys).order_by(s.signing_keys.c.created_at)).all()
        return [
            {
                "kid": r.kid,
                "state": r.state,
                "public_key": Keyring([bytes(r.public_key)]).to_text().splitlines()[1],
                "created_at": fmt_time(r.created_at),
                "retired_at": fmt_time(r.retired_at) if r.retired_at else None,
                "removed_at": fmt_time(r.removed_at) if r.removed_at else None,
            }
            for r in rows
        ]

    def rotate_key(self, actor: str) -> dict[str, Any]:
        """A new active key; the old one is retired (still published, no longer signing)."""
        key = VendorKey.generate()
        with self.tx() as c:
            old = [r.kid for r in c.execute(select(s.signing_keys.c.kid).where(s.signing_keys.c.state == "active"))]
            c.execute(update(s.signing_keys).where(s.signing_keys.c.state == "active").values(state="retired", retired_at=self.clock()))
            self._add_key(c, key)
            self.record(c, actor, "key.rotate", key.kid, retired=old)
        return {"active": key.kid, "retired": old}

    def _key_row(self, c: Connection, kid: str) -> Row[Any]:
        row = c.execute(select(s.signing_keys).where(s.signing_keys.c.kid == kid)).first()
        if row is None:
            raise not_found(f"signing key {kid}")
        return row

    def remove_key(self, kid: str, actor: str) -> None:
        """Drop a retired key from the published set and wipe its secret: its keys become ``unknown_key``."""
        with self.tx() as c:
            row = self._key_row(c, kid)
            if row.state == "active":
                raise conflict(f"{kid} is the active signing key: rotate to a new key before removing it")
            c.execute(update(s.signing_keys).where(s.signing_keys.c.kid == kid).values(state="removed", seed=None, removed_at=self.clock()))
            self.record(c, actor, "key.remove", kid)
        self._signers.pop(kid, None)

    # -- catalogue -----------------------------------------------------------

    def plans(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as c:
            return [self._plan_dict(r) for r in c.execute(select(s.plans).order_by(s.plans.c.name))]

    @staticmethod
    def _plan_dict(r: Row[Any]) -> dict[str, Any]:
        return {
            "name": r.name,
            "type": r.type,
            "months": r.months,
            "maintenance_months": r.maintenance_months,
            "nodes": r.nodes,
            "features": json.loads(r.features),
            "grace_days": r.grace_days,
        }

    def set_plan(
        self,
        name: str,
        *,
        actor: str,
        type: LicenseType,
        months: int | None = None,
        maintenance_months: int | None = None,
        nodes: int | None = None,
        features: Iterable[str] = (),
        grace_days: int = 0,
    ) -> dict[str, Any]:
        """Create or replace a plan."""
        if type not in ("perpetual", "subscription"):
            raise UsageError("a plan's type is 'perpetual' or 'subscription'")
        values = {
            "type": type,
            "months": months,
            "maintenance_months": maintenance_months,
            "nodes": nodes,
            "features": json.dumps(sorted(set(features))),
            "grace_days": grace_days,
        }

        def run(c: Connection) -> dict[str, Any]:
            if c.execute(update(s.plans).where(s.plans.c.name == name).values(**values)).rowcount == 0:
                c.execute(s.plans.insert().values(name=name, **values))
            self.record(c, actor, "plan.set", name, **values)
            return self._plan_dict(c.execute(select(s.plans).where(s.plans.c.name == name)).one())

        return dict(self._retry(run))

    def products(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as c:
            rows = c.execute(select(s.products).order_by(s.products.c.name)).all()
        return [{"name": r.name, "features": json.loads(r.features), "created_at": fmt_time(r.created_at)} for r in rows]

    def set_product(self, name: str, features: Iterable[str], *, actor: str) -> dict[str, Any]:
        """Create a product or replace its feature catalogue (empty: any feature name is accepted)."""
        feats = json.dumps(sorted(set(features)))

        def run(c: Connection) -> dict[str, Any]:
            if c.execute(update(s.products).where(s.products.c.name == name).values(features=feats)).rowcount == 0:
                c.execute(s.products.insert().values(name=name, features=feats, created_at=self.clock()))
            self.record(c, actor, "product.set", name, features=json.loads(feats))
            return {"name": name, "features": json.loads(feats)}

        return dict(self._retry(run))

    def _plan(self, c: Connection, name: str | None) -> Row[Any] | None:
        if name is None:
            return None
        row = c.execute(_PLAN, {"n": name}).first()
        return row

    def _check_features(self, c: Connection, product: str, features: tuple[str, ...]) -> None:
        row = c.execute(_PRODUCT_FEATURES, {"n": product}).first()
        if row is None:
            c.execute(s.products.insert(), {"name": product, "features": "[]", "created_at": self.clock()})
            return
        catalogue = set(json.loads(row.features))
        unknown = sorted(set(features) - catalogue) if catalogue else []
        if unknown:
            raise UsageError(
                f"product {product} has no feature {', '.join(unknown)}: its catalogue is {', '.join(sorted(catalogue))}",
                details={"unknown": unknown},
            )

    # -- customers and installations ------------------------------------------

    def _customer(self, c: Connection, name: str, email: str = "", contact: str = "") -> int:
        row = c.execute(_CUSTOMER_ID, {"n": name}).first()
        if row is not None:
            return int(row.id)
        pk = c.execute(
            s.customers.insert(), {"name": name, "email": email, "contact": contact, "created_at": self.clock()}
        ).inserted_primary_key
        assert pk is not None
        return int(pk[0])

    def _learn(self, c: Connection, req: RequestCode, customer_id: int) -> None:
        """Record (or refresh) the installation that made ``req``."""
        now = self.clock()
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
        with self.tx(write=False) as c:
            rows = c.execute(select(s.customers).order_by(s.customers.c.name)).all()
        return [{"id": r.id, "name": r.name, "email": r.email, "contact": r.contact, "created_at": fmt_time(r.created_at)} for r in rows]

    def installations(self, customer: str | None = None) -> list[dict[str, Any]]:
        q = select(s.installations, s.customers.c.name.label("customer")).join(
            s.customers, s.customers.c.id == s.installations.c.customer_id, isouter=True
        )
        if customer:
            q = q.where(s.customers.c.name == customer)
        with self.tx(write=False) as c:
            rows = c.execute(q.order_by(s.installations.c.first_seen)).all()
        return [self._inst_dict(r) for r in rows]

    def installation(self, installation_id: str) -> dict[str, Any]:
        with self.tx(write=False) as c:
            r = c.execute(
                select(s.installations, s.customers.c.name.label("customer"))
                .join(s.customers, s.customers.c.id == s.installations.c.customer_id, isouter=True)
                .where(s.installations.c.installation_id == installation_id)
            ).first()
        if r is None:
            raise not_found(f"installation {installation_id}")
        return self._inst_dict(r)

    @staticmethod
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

    # -- licenses --------------------------------------------------------------

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
        signer = self._signer(c)
        token = signer.sign_license(lic)
        c.execute(
            _LICENSE_INSERT,
            {
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
                "kid": signer.kid,
                "token": token,
                "kind": kind,
                "supersedes": supersedes,
                "issued_by": actor,
            },
        )
        if supersedes:
            c.execute(update(s.licenses).where(s.licenses.c.license_id == supersedes).values(superseded_by=lic.license_id))
        self.record(
            c,
            actor,
            f"license.{kind}",
            lic.license_id,
            installation=lic.installation_id,
            serial=lic.serial,
            kid=signer.kid,
            supersedes=supersedes,
        )
        return Issued(lic, token, kind, supersedes, kid=signer.kid, plan=plan, issued_by=actor)

    def issue(
        self,
        request: str | bytes | RequestCode,
        *,
        actor: str,
        plan: str | None = None,
        type: LicenseType | None = None,
        nodes: int | None = None,
        months: int | None = None,
        expires: datetime | None = None,
        maintenance_until: datetime | None = None,
        remote_clusters: int | None = None,
        features: Iterable[str] | None = None,
        customer: str | None = None,
        grace_days: int | None = None,
    ) -> Issued:
        """Sign a license for the installation that made ``request``.

        Defaults: an explicit argument, else what the request asks (nodes,
        subscription months, remote clusters), else the plan (``plan``, or the
        plan named like ``type``; ``subscription`` when neither is given).
        """
        req = request if isinstance(request, RequestCode) else decode_request(request)
        now = self.clock()

        def run(c: Connection) -> Issued:
            p = self._plan(c, plan or type or "subscription")
            if plan and p is None:
                raise not_found(f"plan {plan}")
            typ: LicenseType = type or (p.type if p is not None else "subscription")
            m = months
            if m is None and expires is None:
                if typ == "subscription":
                    m = req.months or (p.months if p is not None and p.type == typ else None) or 12
                else:
                    m = (p.maintenance_months if p is not None and p.type == typ else None) or 12
            n = nodes if nodes is not None else (req.nodes or (p.nodes if p is not None else None) or 0)
            feats = tuple(features) if features is not None else tuple(json.loads(p.features)) if p is not None else ()
            grace = grace_days if grace_days is not None else (p.grace_days if p is not None else 0)
            name = customer or req.contact.company or req.contact.name
            self._check_features(c, req.product, feats)
            cid = self._customer(c, name, req.contact.email, req.contact.name)
            self._learn(c, req, cid)
            lic = new_license(
                license_id=str(uuid.uuid4()),
                product=req.product,
                customer=name,
                installation_id=req.installation_id,
                binding=default_binding(req.factors),
                type=typ,
                nodes=n,
                now=now,
                serial=self._next_serial(c, req.installation_id),
                months=m,
                expires=expires,
                maintenance_until=maintenance_until,
                remote_clusters=req.remote_clusters if remote_clusters is None else remote_clusters,
                features=feats,
                grace_days=grace,
            )
            return self._sign_and_store(
                c, lic, kind="issue", actor=actor, customer_id=cid, plan=p.name if p is not None else None, supersedes=None
            )

        result: Issued = self._write(run)
        return result

    def _license_row(self, c: Connection, license_id: str) -> Row[Any]:
        row = c.execute(select(s.licenses).where(s.licenses.c.license_id == license_id)).first()
        if row is None:
            raise not_found(f"license {license_id}")
        return row

    @staticmethod
    def _model(row: Row[Any]) -> License:
        message, _sig, _footer = split_token(row.token)
        return license_from_claims(json.loads(message), kid=row.kid, token=row.token)

    def _current_license(self, c: Connection, license_id: str, what: str) -> tuple[Row[Any], License]:
        """The stored row and the license, refused when a newer license superseded it (``what``: renew, rehost)."""
        row = self._license_row(c, license_id)
        if row.superseded_by:
            raise conflict(f"license {row.license_id} was superseded by {row.superseded_by}: {what} that one instead")
        return row, self._model(row)

    def _successor(
        self,
        c: Connection,
        row: Row[Any],
        old: License,
        *,
        kind: str,
        actor: str,
        now: datetime,
        installation_id: str,
        binding: Binding,
        expires: datetime | None,
        maintenance_until: datetime | None,
        nodes: int | None,
        remote_clusters: int | None,
        features: Iterable[str] | None,
        grace_days: int | None,
    ) -> Issued:
        """Sign the license that supersedes ``old``: same product, customer, type and plan, the next serial.

        ``nodes``, ``remote_clusters``, ``features`` and ``grace_days`` are the old
        license's where None; the term (``expires``, ``maintenance_until``) is as given.
        """
        feats = tuple(features) if features is not None else old.features
        self._check_features(c, old.product, feats)
        lic = new_license(
            license_id=str(uuid.uuid4()),
            product=old.product,
            customer=old.customer,
            installation_id=installation_id,
            binding=binding,
            type=old.type,
            nodes=old.nodes if nodes is None else nodes,
            now=now,
            serial=self._next_serial(c, installation_id),
            expires=expires,
            maintenance_until=maintenance_until,
            remote_clusters=old.remote_clusters if remote_clusters is None else remote_clusters,
            features=feats,
            grace_days=old.grace_days if grace_days is None else grace_days,
        )
        return self._sign_and_store(c, lic, kind=kind, actor=actor, customer_id=row.customer_id, plan=row.plan, supersedes=old.license_id)

    def renew(
        self,
        license_id: str,
        *,
        actor: str,
        months: int | None = None,
        expires: datetime | None = None,
        maintenance_until: datetime | None = None,
        nodes: int | None = None,
        remote_clusters: int | None = None,
        features: Iterable[str] | None = None,
        grace_days: int | None = None,
    ) -> Issued:
        """Same installation, next serial; the term runs on from the old end, or from today if it lapsed."""
        if months is not None and expires is not None:
            raise UsageError("give either months or an expiry date, not both")
        now = self.clock().astimezone(UTC).replace(microsecond=0)

        def run(c: Connection) -> Issued:
            row, old = self._current_license(c, license_id, "renew")
            p = self._plan(c, row.plan)
            exp, maint = None, maintenance_until
            if old.type == "subscription":
                base = old.expires if old.expires is not None and old.expires > now else now
                exp = expires or add_months(base, months or (p.months if p is not None else None) or 12)
            elif maint is None:
                if expires is not None:
                    raise UsageError("a perpetual license does not expire: renew its maintenance with months or maintenance_until")
                base = old.maintenance_until if old.maintenance_until > now else now
                maint = add_months(base, months or (p.maintenance_months if p is not None else None) or 12)
            return self._successor(
                c,
                row,
                old,
                kind="renew",
                actor=actor,
                now=now,
                installation_id=old.installation_id,
                binding=old.binding,
                expires=exp,
                maintenance_until=maint,
                nodes=nodes,
                remote_clusters=remote_clusters,
                features=features,
                grace_days=grace_days,
            )

        result: Issued = self._write(run)
        return result

    def rehost(
        self,
        license_id: str,
        request: str | bytes | RequestCode,
        *,
        actor: str,
        nodes: int | None = None,
        expires: datetime | None = None,
        maintenance_until: datetime | None = None,
        remote_clusters: int | None = None,
        features: Iterable[str] | None = None,
    ) -> Issued:
        """The same terms for a new installation (from its request code); the old license is superseded."""
        req = request if isinstance(request, RequestCode) else decode_request(request)
        now = self.clock()

        def run(c: Connection) -> Issued:
            row, old = self._current_license(c, license_id, "rehost")
            if req.installation_id == old.installation_id:
                raise conflict("this request code comes from the installation the license is already for: renew it instead of rehosting")
            if req.product != old.product:
                raise conflict(f"the request code is for product {req.product}, the license for {old.product}: rehost within one product")
            self._learn(c, req, row.customer_id)
            return self._successor(
                c,
                row,
                old,
                kind="rehost",
                actor=actor,
                now=now,
                installation_id=req.installation_id,
                binding=default_binding(req.factors),
                expires=expires or old.expires,
                maintenance_until=maintenance_until or old.maintenance_until,
                nodes=nodes,
                remote_clusters=remote_clusters,
                features=features,
                grace_days=None,
            )

        result: Issued = self._write(run)
        return result

    @staticmethod
    def _row_dict(r: Row[Any]) -> dict[str, Any]:
        return {
            "license_id": r.license_id,
            "installation_id": r.installation_id,
            "serial": r.serial,
            "customer": r.customer,
            "product": r.product,
            "plan": r.plan,
            "type": r.type,
            "nodes": r.nodes,
            "remote_clusters": r.remote_clusters,
            "features": json.loads(r.features),
            "grace_days": r.grace_days,
            "issued_at": fmt_time(r.issued_at),
            "not_before": fmt_time(r.not_before),
            "expires": fmt_time(r.expires) if r.expires else None,
            "maintenance_until": fmt_time(r.maintenance_until),
            "kid": r.kid,
            "kind": r.kind,
            "supersedes": r.supersedes,
            "superseded_by": r.superseded_by,
            "issued_by": r.issued_by,
        }

    def get(self, license_id: str) -> dict[str, Any]:
        with self.tx(write=False) as c:
            return self._row_dict(self._license_row(c, license_id))

    def issued(self, license_id: str) -> Issued:
        """The license as signed, to download or send again."""
        with self.tx(write=False) as c:
            row = self._license_row(c, license_id)
        return Issued(
            self._model(row),
            row.token,
            row.kind,
            row.supersedes,
            kid=row.kid,
            plan=row.plan,
            issued_by=row.issued_by,
            superseded_by=row.superseded_by,
        )

    def search(
        self, q: str | None = None, *, installation_id: str | None = None, customer: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        """Licenses, newest first; ``q`` matches id, customer, installation or product."""
        t = s.licenses
        query = select(t)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(
                or_(
                    func.lower(t.c.license_id).like(like),
                    func.lower(t.c.customer).like(like),
                    func.lower(t.c.installation_id).like(like),
                    func.lower(t.c.product).like(like),
                )
            )
        if installation_id:
            query = query.where(t.c.installation_id == installation_id)
        if customer:
            query = query.where(t.c.customer == customer)
        query = (
            query.order_by(t.c.issued_at.desc(), t.c.installation_id, t.c.serial.desc())
            .limit(max(1, min(limit, 1000)))
            .offset(max(0, offset))
        )
        with self.tx(write=False) as c:
            return [self._row_dict(r) for r in c.execute(query)]

    def record_sent(self, license_id: str, to: str, actor: str) -> None:
        with self.tx() as c:
            self.record(c, actor, "license.send", license_id, to=to)

    def contact_email(self, license_id: str) -> str:
        with self.tx(write=False) as c:
            row = c.execute(
                select(s.installations.c.contact_email)
                .join(s.licenses, s.licenses.c.installation_id == s.installations.c.installation_id)
                .where(s.licenses.c.license_id == license_id)
            ).first()
        if row is None:
            raise not_found(f"license {license_id}")
        return str(row.contact_email)

    # -- usage reports ---------------------------------------------------------

    def import_usage(self, text: str | bytes, *, actor: str) -> dict[str, Any]:
        """Verify a controller's usage report and show its peak use against the license."""
        rep = decode_usage_report(text)

        def run(c: Connection) -> dict[str, Any]:
            inst = c.execute(select(s.installations).where(s.installations.c.installation_id == rep.installation_id)).first()
            if inst is None:
                raise NotFound(
                    f"installation {rep.installation_id} is not known here: it never sent a request code to this issuer",
                    code="unknown_installation",
                )
            if bytes(inst.public_key) != rep.public_key:
                raise BadSignatureError(f"this report was not signed by installation {rep.installation_id}'s key")
            lic = None
            if rep.license_id:
                lic = c.execute(select(s.licenses).where(s.licenses.c.license_id == rep.license_id)).first()
            if lic is None:
                lic = c.execute(
                    select(s.licenses)
                    .where(s.licenses.c.installation_id == rep.installation_id)
                    .order_by(s.licenses.c.serial.desc())
                    .limit(1)
                ).first()
            dup = c.execute(
                select(s.usage_reports.c.id).where(
                    s.usage_reports.c.installation_id == rep.installation_id,
                    s.usage_reports.c.month == rep.month,
                    s.usage_reports.c.generated_at == rep.generated_at,
                )
            ).first()
            if dup is None:
                c.execute(
                    s.usage_reports.insert().values(
                        installation_id=rep.installation_id,
                        month=rep.month,
                        peak_nodes=rep.peak_nodes,
                        peak_clusters=rep.peak_clusters,
                        generated_at=rep.generated_at,
                        imported_at=self.clock(),
                        license_id=lic.license_id if lic is not None else None,
                        report=rep.text,
                    )
                )
                self.record(c, actor, "usage.import", rep.installation_id, month=rep.month, peak_nodes=rep.peak_nodes)
            return self._usage_view(rep.summary(), lic, already=dup is not None)

        out: dict[str, Any] = self._retry(run)
        return out

    def _usage_view(self, summary: dict[str, Any], lic: Row[Any] | None, already: bool = False) -> dict[str, Any]:
        out = dict(summary)
        out["already_imported"] = already
        if lic is None:
            out.update(license=None, overage={"nodes": 0, "clusters": 0}, over=False)
            return out
        over_n = max(0, out["peak_nodes"] - lic.nodes)
        over_c = max(0, out["peak_clusters"] - lic.remote_clusters)
        out["license"] = {"license_id": lic.license_id, "serial": lic.serial, "nodes": lic.nodes, "remote_clusters": lic.remote_clusters}
        out["overage"] = {"nodes": over_n, "clusters": over_c}
        out["over"] = bool(over_n or over_c)
        return out

    def usage(self, installation_id: str | None = None) -> list[dict[str, Any]]:
        u, lt = s.usage_reports, s.licenses
        q = select(u, lt.c.nodes, lt.c.remote_clusters, lt.c.serial).join(lt, lt.c.license_id == u.c.license_id, isouter=True)
        if installation_id:
            q = q.where(u.c.installation_id == installation_id)
        with self.tx(write=False) as c:
            rows = c.execute(q.order_by(u.c.month.desc(), u.c.id.desc())).all()
        out = []
        for r in rows:
            summary = {
                "installation_id": r.installation_id,
                "month": r.month,
                "peak_nodes": r.peak_nodes,
                "peak_clusters": r.peak_clusters,
                "generated_at": fmt_time(r.generated_at),
                "imported_at": fmt_time(r.imported_at),
            }
            view = self._usage_view(summary, r if r.license_id and r.nodes is not None else None, already=True)
            view.pop("already_imported")
            out.append(view)
        return out

    # -- admin users, sessions, tokens ------------------------------------------

    def create_user(self, username: str, password: str, *, actor: str) -> None:
        from argon2 import PasswordHasher

        if len(password) < 12:
            raise UsageError("the password is too short: use at least 12 characters")
        if not username.strip():
            raise UsageError("the user name is empty")
        with self.tx() as c:
            if c.execute(select(s.users.c.id).where(s.users.c.username == username)).first() is not None:
                raise conflict(f"user {username} exists already")
            c.execute(
                s.users.insert().values(
                    username=username, password_hash=PasswordHasher().hash(password), created_at=self.clock(), disabled=False
                )
            )
            self.record(c, actor, "user.create", username)

    def users(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as c:
            rows = c.execute(select(s.users).order_by(s.users.c.username)).all()
        return [{"username": r.username, "created_at": fmt_time(r.created_at), "disabled": r.disabled} for r in rows]

    def create_token(self, name: str, scopes: Iterable[str], *, actor: str) -> str:
        """A new API token (shown once; only its SHA-256 is stored)."""
        wanted = sorted(set(scopes))
        unknown = [x for x in wanted if x not in SCOPES]
        if unknown or not wanted:
            raise UsageError(f"unknown or no scope {', '.join(unknown)}: choose from {', '.join(SCOPES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.tx() as c:
            c.execute(
                s.api_tokens.insert().values(
                    name=name, token_hash=sha256(token), scopes=" ".join(wanted), created_at=self.clock(), created_by=actor
                )
            )
            self.record(c, actor, "token.create", name, scopes=wanted)
        return token

    def tokens(self) -> list[dict[str, Any]]:
        with self.tx(write=False) as c:
            rows = c.execute(select(s.api_tokens).order_by(s.api_tokens.c.id)).all()
        return [
            {
                "id": r.id,
                "name": r.name,
                "scopes": r.scopes.split(),
                "created_at": fmt_time(r.created_at),
                "created_by": r.created_by,
                "revoked_at": fmt_time(r.revoked_at) if r.revoked_at else None,
            }
            for r in rows
        ]

    def revoke_token(self, token_id: int, *, actor: str) -> None:
        with self.tx() as c:
            if c.execute(update(s.api_tokens).where(s.api_tokens.c.id == token_id).values(revoked_at=self.clock())).rowcount == 0:
                raise not_found(f"API token {token_id}")
            self.record(c, actor, "token.revoke", str(token_id))

    def token_principal(self, token: str) -> Principal | None:
        with self.tx(write=False) as c:
            row = c.execute(_TOKEN, {"h": sha256(token)}).first()
        if row is None:
            return None
        return Principal(f"token:{row.name}#{row.id}", frozenset(row.scopes.split()))

    def record_use(self, principal: Principal, method: str, path: str) -> None:
        with self.tx() as c:
            self.record(c, principal.actor, "token.use", path, method=method)

    def login(self, username: str, password: str, ip: str) -> tuple[str, str]:
        """``(session cookie value, CSRF token)``; the console and the API share one limit per user name and per address.

        Slow (argon2) and blocking: the HTTP edge runs it in a thread."""
        try:
            user = self.logins.attempt(username, ip, lambda: self._check_user(username, password))
        except LicensorError as e:
            if e.code == "rate_limited":
                with self.tx() as c:
                    self.record(c, f"user:{username[:100]}", "login.rate_limited", ip)
            raise
        if user is None:
            with self.tx() as c:
                self.record(c, f"user:{username[:100]}", "login.failed", ip)
            raise Unauthorized("the user name or password is wrong")
        now = self.clock()
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.tx() as c:
            c.execute(
                s.sessions.insert().values(
                    id_hash=sha256(cookie), user_id=user.id, csrf=csrf, created_at=now, expires_at=now + self.session_ttl
                )
            )
            self.record(c, f"user:{username}", "login", ip)
        return cookie, csrf

    def _check_user(self, username: str, password: str) -> Row[Any] | None:
        """The enabled user with this name and password, else None; the same argon2 cost when there is no such user."""
        with self.tx(write=False) as c:
            user = c.execute(select(s.users).where(s.users.c.username == username)).first()
        ok = verify_password(user.password_hash if user is not None else None, password if len(password) <= 1000 else "")
        return user if ok and len(password) <= 1000 and user is not None and not user.disabled else None

    def session_principal(self, cookie: str) -> Principal | None:
        with self.tx(write=False) as c:
            row = c.execute(
                select(s.users.c.username, s.sessions.c.csrf)
                .join(s.users, s.users.c.id == s.sessions.c.user_id)
                .where(s.sessions.c.id_hash == sha256(cookie), s.sessions.c.expires_at > self.clock(), s.users.c.disabled.is_(False))
            ).first()
        if row is None:
            return None
        return Principal(f"user:{row.username}", frozenset(SCOPES), csrf=row.csrf)

    def logout(self, cookie: str, actor: str) -> None:
        with self.tx() as c:
            c.execute(delete(s.sessions).where(s.sessions.c.id_hash == sha256(cookie)))
            self.record(c, actor, "logout")

    def audit_log(self, limit: int = 100, action: str | None = None) -> list[dict[str, Any]]:
        q = select(s.audit)
        if action:
            q = q.where(s.audit.c.action.like(f"{action}%"))
        with self.tx(write=False) as c:
            rows = c.execute(q.order_by(s.audit.c.id.desc()).limit(max(1, min(limit, 10000)))).all()
        return [
            {"at": fmt_time(r.at), "actor": r.actor, "action": r.action, "target": r.target, "details": json.loads(r.details)} for r in rows
        ]


class _GroupCommit:
    """Runs the license writes of many request threads in one transaction per round.

    One commit (one fsync) covers the whole round, so durability stays
    ``synchronous=FULL`` while throughput grows with concurrency.  If any job
    of a round fails, the round is rolled back and its jobs run one by one, so
    a refused job does not take the others with it.
    """

    def __init__(self, svc: IssuerService, max_batch: int = 256):
        self._svc, self._max = svc, max_batch
        self._q: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]]] = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="licensor-group-commit", daemon=True).start()

    def submit(self, fn: Callable[[Connection], Any]) -> Any:
        fut: Future[Any] = Future()
        self._q.put((fn, fut))
        return fut.result()

    def _loop(self) -> None:
        while True:
            jobs = [self._q.get()]
            while len(jobs) < self._max:
                try:
                    jobs.append(self._q.get_nowait())
                except queue.Empty:
                    break
            self._round(jobs)

    def _round(self, jobs: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        try:
            with self._svc.tx() as c:
                results = [fn(c) for fn, _fut in jobs]
        except Exception:
            # Something in the round failed (a refusal, or a serial another replica
            # took): nothing of it was stored.  Run each job alone, so that only the
            # one at fault fails and a lost race is retried.
            for fn, fut in jobs:
                try:
                    fut.set_result(self._svc._retry(fn))
                except Exception as e:
                    fut.set_exception(e)
            return
        for (_fn, fut), result in zip(jobs, results, strict=True):
            fut.set_result(result)
