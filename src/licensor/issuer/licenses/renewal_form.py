"""The request preview's renewal: its form parsed, and the renewal shown beside the live license (no routes here).

When a request code comes from an installation with a live license, the preview offers to renew that license:
the terms come from ``LicenseService.renewal`` (``terms.license_terms(kind="renew")``, the same call as a license's
Renew button) and the difference from ``differences.changes``; this module only turns form fields into
``Overrides`` and the result into what ``preview.html`` shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.datastructures import FormData

from ...differences import losses
from ...license import fmt_time
from ...request import RequestCode
from ...server.inputs import MAX_CLUSTERS, MAX_MONTHS, MAX_NODES
from ...terms import Overrides, current_end
from ...web import form_number, form_text, when
from ..web import features
from .service import Renewal

#: The renewal form's fields (prefixed: the issue form beside it has its own).
FIELDS = ("renew_nodes", "renew_months", "renew_remote_clusters", "renew_features")
_LABELS = {
    "nodes": "Nodes",
    "remote_clusters": "Remote clusters",
    "features": "Features",
    "type": "Type",
    "expires": "Expires",
    "maintenance_until": "Maintenance until",
}
_WORDS = {"grows": "Grows", "shrinks": "Shrinks", "changes": "Changes", "same": "Same"}


def posted(form: FormData) -> dict[str, str]:
    """The renewal form's fields as posted (kept to show them again)."""
    return {k: form_text(form, k, 2000) for k in FIELDS}


def overrides(form: Mapping[str, Any]) -> Overrides:
    """The renewal form as overrides: an empty number keeps the live license's; the features field is the whole list."""
    return Overrides(
        nodes=form_number(form, "renew_nodes", "Nodes", lo=1, hi=MAX_NODES),
        months=form_number(form, "renew_months", "Months", lo=1, hi=MAX_MONTHS),
        remote_clusters=form_number(form, "renew_remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS),
        features=features(form_text(form, "renew_features", 2000)),
    )


def asked(req: RequestCode, fields: dict[str, str]) -> dict[str, str]:
    """The fields with what the request code asks for (nodes, months, remote clusters) where it asks anything."""
    out = dict(fields)
    for name, value in (("renew_nodes", req.nodes), ("renew_months", req.months), ("renew_remote_clusters", req.remote_clusters)):
        if value:
            out[name] = str(value)
    return out


def _shown(term: str, value: Any) -> str:
    if term in ("expires", "maintenance_until"):
        return when(fmt_time(value)) if value is not None else "never"
    if term == "features":
        return ", ".join(sorted(value)) or "none"
    return str(value)


def view(r: Renewal, fields: dict[str, str] | None) -> dict[str, Any]:
    """What the preview shows of a renewal: the live license, where the term starts, the fields, and every term
    of the live license against the renewed one with its change (grows, shrinks, changes, same)."""
    old, t = r.current, r.terms
    if fields is None:
        fields = {
            "renew_nodes": str(old.nodes),
            "renew_months": str(r.months),
            "renew_remote_clusters": str(old.remote_clusters),
            "renew_features": ", ".join(old.features),
        }
    changed = {c.term: c.direction for c in r.changes}
    rows = [
        {
            "label": label,
            "live": _shown(term, getattr(old, term)),
            "renewed": _shown(term, getattr(t, term)),
            "words": _WORDS[changed.get(term, "same")],
            "change": changed.get(term, "same"),
        }
        for term, label in _LABELS.items()
    ]
    lapsed = r.start > current_end(old)
    return {
        "live": r.live,
        "start": fmt_time(r.start),
        "lapsed": lapsed,
        "fields": fields,
        "rows": rows,
        "shrinks": [_LABELS[c.term].lower() for c in losses(r.changes)],
    }
