"""Whether this build is covered by maintenance, and what a renewal asks for by default.

Pure: the license, the build's version and date are arguments.  The rule itself is ``policy.update_allowed`` (a
release is covered when it came out on or before the maintenance end): a build is a release of the software, dated by
its build date.  The About page and ``controller status`` say it in the same sentence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from .license import License
from .policy import update_allowed

#: The most months a request code may ask for (``server.inputs.MAX_MONTHS``; the core does not import the server).
MAX_ASK_MONTHS = 1200
#: Months asked when nothing better is known (as the issuer's default term).
DEFAULT_ASK_MONTHS = 12


@dataclass(frozen=True)
class Coverage:
    """``state``: covered | not_covered | no_license; ``sentence`` says it; ``advice`` says what to do (empty: nothing)."""

    state: str
    sentence: str
    advice: str
    maintenance_until: datetime | None = None

    @property
    def covered(self) -> bool:
        return self.state == "covered"


def parse_build_date(text: str) -> datetime | None:
    """A build date given as ``YYYY-MM-DD`` (or a full RFC 3339 time), as a UTC time; None when it is not one."""
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def build_coverage(lic: License | None, version: str, built: datetime | None) -> Coverage:
    """Is this build (``version``, made on ``built``) covered by ``lic``'s maintenance?

    A build made after maintenance ended keeps running (maintenance does not stop the software), but it is not covered:
    the advice is to ask the vendor for a renewal.  ``built`` None: the build date is unknown, so nothing is decided."""
    day = built.strftime("%Y-%m-%d") if built is not None else "on an unknown date"
    this = f"This build (licensor {version}, built {day})"
    if lic is None:
        return Coverage("no_license", f"{this} is not covered by maintenance: no license is activated here.", "Activate a license.")
    until = lic.maintenance_until.strftime("%Y-%m-%d")
    if built is None:
        return Coverage("unknown", f"{this}: maintenance runs until {until}.", "", lic.maintenance_until)
    if update_allowed(lic, built).valid:
        return Coverage("covered", f"{this} is covered by maintenance until {until}.", "", lic.maintenance_until)
    return Coverage(
        "not_covered",
        f"{this} was built after maintenance ended on {until}: it keeps running, but it is not covered by maintenance.",
        "Request a renewal of maintenance from your vendor, or run a build made on or before " + until + ".",
        lic.maintenance_until,
    )


def _months_between(start: datetime, end: datetime) -> int:
    """Months from ``start`` to ``end``, rounded to the nearest (a year is 12, three years 36)."""
    return round((end - start).total_seconds() / 86400 / 30.436875)


def renewal_ask(lic: License | None) -> dict[str, int]:
    """What a request code for a renewal asks by default: the license's nodes, remote clusters and term in months.

    The term of a subscription runs from its start to its expiry; a perpetual license's is its maintenance term.  No
    license: 12 months and nothing else known (``nodes`` 0 means the admin fills it in)."""
    if lic is None:
        return {"nodes": 0, "remote_clusters": 0, "months": DEFAULT_ASK_MONTHS}
    end = lic.expires if lic.expires is not None else lic.maintenance_until
    months = max(1, min(MAX_ASK_MONTHS, _months_between(lic.not_before, end)))
    return {"nodes": lic.nodes, "remote_clusters": lic.remote_clusters, "months": months}
