"""License terms: what a new, renewed or rehosted license gets when nobody says otherwise.

``license_terms`` is the one place that decides it, from the plan, what the
request code asks, the license being renewed or rehosted, and what the vendor
gave explicitly (``Overrides``).  It is pure: ``now`` is an argument.  The
issuer service, ``license.new_license`` and the console's issue preview all
call it, so the form shows what issuing would sign.

    issue         type      the override, else the plan's, else subscription
                  term      subscription: ``months`` (override, else the request's, else the plan's if it is a
                            subscription plan, else 12) from now, or ``expires``; maintenance to the expiry
                            perpetual: no expiry; maintenance ``months`` (override, else the plan's
                            maintenance months if it is a perpetual plan, else 12) from now
                  nodes     override, else the request's (if not 0), else the plan's, else 0
                  clusters  override, else the request's, else 0
                  features  override, else the plan's;  grace days: override, else the plan's, else 0
    renew         the old license's type, nodes, clusters, features and grace unless overridden; the term runs on
                  from the old end (expiry, or maintenance end for perpetual), or from now if that lapsed, by
                  ``months`` (override, else the plan's, else 12) unless ``expires``/``maintenance_until`` is given
    rehost        the old license's terms, its expiry and maintenance end too, unless overridden; grace stays

``renewal_start``/``renewal_months`` say where and how long a renewal runs by default, ``asked_overrides``
what a request code asks as a renewal's overrides; ``check_issue`` refuses what a clerk may not issue (no node,
a feature outside the catalogue without confirmation, a type the plan does not have); ``license_state`` says where an issued license stands.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple, Protocol

from .errors import UsageError

__all__ = [
    "EXPIRING_DAYS",
    "MAX_COUNT",
    "MAX_GRACE_DAYS",
    "MAX_MONTHS",
    "Ask",
    "Current",
    "LicenseType",
    "Overrides",
    "Plan",
    "State",
    "Terms",
    "add_months",
    "asked_overrides",
    "aware",
    "check_features",
    "check_issue",
    "current_end",
    "license_state",
    "license_terms",
    "renewal_months",
    "renewal_start",
    "whole",
]

LicenseType = Literal["perpetual", "subscription"]
State = Literal["current", "expiring soon", "expired", "superseded"]
Kind = Literal["issue", "renew", "rehost"]

# Bounds on what may be asked for and issued (request codes and new licenses); docs/FORMAT.md states them.
#: A term in months: 1 to 100 years.
MAX_MONTHS = 1200
#: Nodes and remote clusters: far beyond any real cluster, far below what a database integer holds.
MAX_COUNT = 1_000_000
#: Grace after expiry: up to ten years.
MAX_GRACE_DAYS = 3650
#: A term asked for nowhere runs this many months.
DEFAULT_MONTHS = 12
#: A live license ending within this many days is "expiring soon".
EXPIRING_DAYS = 30


@dataclass(frozen=True)
class Plan:
    """A plan of the vendor's catalogue: defaults for issuing."""

    name: str
    type: LicenseType
    months: int | None = None
    maintenance_months: int | None = None
    nodes: int | None = None
    features: tuple[str, ...] = ()
    grace_days: int = 0


@dataclass(frozen=True)
class Ask:
    """What a request code asks for (0: nothing asked)."""

    nodes: int = 0
    months: int = 0
    remote_clusters: int = 0


class Current(Protocol):
    """The license a renewal or rehost supersedes (a ``License`` is one)."""

    @property
    def type(self) -> LicenseType: ...
    @property
    def expires(self) -> datetime | None: ...
    @property
    def maintenance_until(self) -> datetime: ...
    @property
    def nodes(self) -> int: ...
    @property
    def remote_clusters(self) -> int: ...
    @property
    def features(self) -> tuple[str, ...]: ...
    @property
    def grace_days(self) -> int: ...


@dataclass(frozen=True)
class Overrides:
    """What the vendor gave explicitly; None: the default applies."""

    type: LicenseType | None = None
    nodes: int | None = None
    months: int | None = None
    expires: datetime | None = None
    maintenance_until: datetime | None = None
    remote_clusters: int | None = None
    features: Sequence[str] | None = None
    grace_days: int | None = None


NOTHING_ASKED = Ask()
NO_OVERRIDES = Overrides()


@dataclass(frozen=True)
class Terms:
    """The terms decided: ``expires`` is None for perpetual; ``months`` the term length they came from (None: dates given)."""

    type: LicenseType
    nodes: int
    remote_clusters: int
    features: tuple[str, ...]
    grace_days: int
    months: int | None
    expires: datetime | None
    maintenance_until: datetime


def whole(value: Any, name: str, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) from ``low`` to ``high``; else a UsageError naming the field."""
    if type(value) is not int or not low <= value <= high:
        raise UsageError(f"The {name} must be a whole number from {low} to {high}, not {value!r:.40}", details={"field": name})
    return value


def aware(t: Any, name: str) -> datetime:
    """``t`` in UTC to the second; a naive or unrepresentable date is a UsageError."""
    if not isinstance(t, datetime) or t.utcoffset() is None:
        shown = t.isoformat() if isinstance(t, datetime) else repr(t)[:60]
        raise UsageError(f"The {name} {shown} has no time zone: give it in UTC, e.g. 2027-06-30T00:00:00Z", details={"field": name})
    try:
        return t.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError):
        raise UsageError(f"The {name} is beyond the year 9999: give an earlier date", details={"field": name}) from None


def _stamp(t: datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_months(t: datetime, months: int) -> datetime:
    """Calendar months later, the day clamped to the month's end (Jan 31 + 1 = Feb 28/29).

    ``months`` is 1 to MAX_MONTHS and ``t`` time-zone aware; otherwise, or past the
    year 9999, a UsageError (never OverflowError or a naive/aware TypeError).
    """
    months = whole(months, "months", 1, MAX_MONTHS)
    if not isinstance(t, datetime) or t.utcoffset() is None:
        raise UsageError("The start of the term has no time zone: give it in UTC", details={"field": "months"})
    y, m = divmod(t.month - 1 + months, 12)
    year, month = t.year + y, m + 1
    if year > 9999:
        raise UsageError(f"{months} months from {_stamp(t)} is beyond the year 9999: give a shorter term", details={"field": "months"})
    return t.replace(year=year, month=month, day=min(t.day, calendar.monthrange(year, month)[1]))


def license_terms(
    kind: Kind,
    now: datetime,
    *,
    plan: Plan | None = None,
    ask: Ask = NOTHING_ASKED,
    current: Current | None = None,
    overrides: Overrides = NO_OVERRIDES,
) -> Terms:
    """The terms of a license to ``issue``, ``renew`` or ``rehost`` (``current``: the license superseded).

    Raises UsageError for what cannot be signed: a perpetual license with an expiry, both ``months`` and
    ``expires``, an expiry already past, a term beyond the year 9999 or out of bounds.
    """
    now = aware(now, "current time")
    o = overrides
    if kind == "issue" and o.months is not None:
        whole(o.months, "months", 1, MAX_MONTHS)  # a renewal reads 0 months as "the default term", as it always has
    expires = aware(o.expires, "expiry date") if o.expires is not None else None
    maint = aware(o.maintenance_until, "maintenance end") if o.maintenance_until is not None else None
    if kind == "issue":
        typ, months = _issue_term(o, plan, ask)
        counts = _defaults(o, plan, ask)
    else:
        if current is None:
            raise UsageError(f"A {kind} needs the license it supersedes")
        typ, counts = current.type, _inherit(current, o)
        months = None
        if kind == "renew":
            expires, maint = _renewal(current, o, plan, now, expires, maint)
        else:
            expires, maint = expires or current.expires, maint or current.maintenance_until
    exp, maint = _dates(typ, now, months, expires, maint)
    return Terms(typ, *counts, months=o.months or months, expires=exp, maintenance_until=maint)


def _issue_term(o: Overrides, plan: Plan | None, ask: Ask) -> tuple[LicenseType, int | None]:
    """The type of a new license, and its term in months when no date is given."""
    typ: LicenseType = o.type or (plan.type if plan is not None else "subscription")
    if o.months is not None or o.expires is not None:
        return typ, o.months
    same = plan if plan is not None and plan.type == typ else None
    if typ == "subscription":
        return typ, ask.months or (same.months if same is not None else None) or DEFAULT_MONTHS
    return typ, (same.maintenance_months if same is not None else None) or DEFAULT_MONTHS


class _Counts(NamedTuple):
    nodes: int
    remote_clusters: int
    features: tuple[str, ...]
    grace_days: int


def _defaults(o: Overrides, plan: Plan | None, ask: Ask) -> _Counts:
    """A new license's counts, features and grace (the dates are decided apart)."""
    nodes = o.nodes if o.nodes is not None else (ask.nodes or (plan.nodes if plan is not None else None) or 0)
    features = tuple(o.features) if o.features is not None else plan.features if plan is not None else ()
    grace = o.grace_days if o.grace_days is not None else (plan.grace_days if plan is not None else 0)
    clusters = ask.remote_clusters if o.remote_clusters is None else o.remote_clusters
    return _Counts(nodes, clusters, features, grace)


def _inherit(old: Current, o: Overrides) -> _Counts:
    """A successor's counts, features and grace: the old license's unless overridden."""
    return _Counts(
        old.nodes if o.nodes is None else o.nodes,
        old.remote_clusters if o.remote_clusters is None else o.remote_clusters,
        tuple(o.features) if o.features is not None else old.features,
        old.grace_days if o.grace_days is None else o.grace_days,
    )


def _renewal(
    old: Current, o: Overrides, plan: Plan | None, now: datetime, expires: datetime | None, maint: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The renewed term's expiry and maintenance end: on from the old end, or from now if it lapsed."""
    if o.months is not None and expires is not None:
        raise UsageError("Give either months or an expiry date, not both")
    base = renewal_start(old, now)
    if old.type == "subscription":
        return expires or add_months(base, o.months or renewal_months(old, plan)), maint
    if maint is None:
        if expires is not None:
            raise UsageError("A perpetual license does not expire: renew its maintenance with months or maintenance_until")
        maint = add_months(base, o.months or renewal_months(old, plan))
    return None, maint  # a perpetual license never expires: an expiry given beside a maintenance end is not signed


def current_end(old: Current) -> datetime:
    """Where a license's term ends: its expiry, or the maintenance end of a perpetual license."""
    return old.expires if old.type == "subscription" and old.expires is not None else old.maintenance_until


def renewal_start(old: Current, now: datetime) -> datetime:
    """Where a renewal's term starts: the current end while the license runs, else now (it lapsed)."""
    end = current_end(old)
    return end if end > now else now


def renewal_months(old: Current, plan: Plan | None) -> int:
    """A renewal's term in months when none is given: the plan's term (maintenance months for perpetual), else 12."""
    if plan is None:
        return DEFAULT_MONTHS
    return (plan.months if old.type == "subscription" else plan.maintenance_months) or DEFAULT_MONTHS


def asked_overrides(ask: Ask) -> Overrides:
    """What a request code asks for (nodes, months, remote clusters), as overrides of a renewal; 0 asks nothing."""
    return Overrides(nodes=ask.nodes or None, months=ask.months or None, remote_clusters=ask.remote_clusters or None)


def _dates(
    typ: LicenseType, now: datetime, months: int | None, expires: datetime | None, maint: datetime | None
) -> tuple[datetime | None, datetime]:
    """Expiry and maintenance end from a term in months or dates given: perpetual never expires, maintenance follows expiry."""
    if typ == "perpetual":
        if expires is not None:
            raise UsageError("A perpetual license does not expire; set its maintenance end with --maintenance-until")
        return None, maint or add_months(now, months or DEFAULT_MONTHS)
    if expires is not None and months is not None:
        raise UsageError("Give either --months or --expires, not both")
    exp = expires or add_months(now, months or DEFAULT_MONTHS)
    if exp <= now:
        raise UsageError(f"The expiry date {_stamp(exp)} is already past: choose a later date", details={"field": "expires"})
    return exp, maint or exp


def license_state(expires: datetime | None, superseded_by: str | None, now: datetime, *, soon_days: int = EXPIRING_DAYS) -> State:
    """Where an issued license stands: superseded (a newer key replaced it), expired, expiring soon, or current."""
    if superseded_by:
        return "superseded"
    if expires is None:
        return "current"
    if expires <= now:
        return "expired"
    return "expiring soon" if expires - now <= timedelta(days=soon_days) else "current"


def check_features(product: str, features: Sequence[str], catalogue: Sequence[str], *, allow_unknown: bool = False) -> None:
    """Refuse features outside the product's catalogue (an empty catalogue takes any) unless the vendor confirmed them."""
    unknown = sorted(set(features) - set(catalogue)) if catalogue else []
    if unknown and not allow_unknown:
        names = ", ".join(unknown)
        raise UsageError(
            f"Product {product} has no feature {names}: its catalogue is {', '.join(sorted(catalogue))}. "
            "Correct the name, or confirm the unknown feature to issue it anyway",
            details={"field": "features", "unknown": unknown, "known": sorted(catalogue)},
        )


def check_issue(t: Terms, *, plan: Plan | None, type_given: LicenseType | None) -> None:
    """Refuse a new license a clerk may not issue: no node, or a type the chosen plan does not have."""
    if plan is not None and type_given is not None and type_given != plan.type:
        raise UsageError(
            f"The plan {plan.name} is {plan.type}, not {type_given}: choose the {plan.type} type or another plan",
            details={"field": "type"},
        )
    if t.nodes < 1:
        raise UsageError("A license needs at least 1 node", details={"field": "nodes"})
