"""What the Request code page starts from and what it shows once a code is made.

The form is prefilled for a renewal: the contact of the last request code made here (remembered in the settings),
the company, nodes, remote clusters and term of the license in force (``coverage.renewal_ask``), then what the link
asks for (``?nodes=N&remote_clusters=N&months=N``, e.g. "Ask for N more nodes").  The result names the file after
the cluster and the day the code was made.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ... import filenames
from ...coverage import renewal_ask
from ...errors import InvalidInput
from ...request import RequestCode
from ...server.inputs import MAX_CLUSTERS, MAX_MONTHS, MAX_NODES
from ...web import form_number, mailto
from .. import store as s
from ..runtime import Controller

#: Settings key of the contact of the last request code made in the console.
CONTACT_KEY = "console_request_contact"
#: The query parameters that prefill the form, with their label and bounds (other pages link with them).
ASKED = (("nodes", "Nodes", 1, MAX_NODES), ("remote_clusters", "Remote clusters", 0, MAX_CLUSTERS), ("months", "Months", 1, MAX_MONTHS))


def last_contact(store: s.Store) -> dict[str, str]:
    """The name, e-mail and company of the last request code made here (empty strings when none was)."""
    with store.tx() as c:
        raw = s.get_setting(c, CONTACT_KEY)
    try:
        doc = json.loads(raw) if raw else {}
    except ValueError:
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    return {k: str(doc.get(k, ""))[:200] for k in ("name", "email", "company")}


def remember_contact(store: s.Store, req: Mapping[str, str]) -> None:
    """Keep the contact of a code just made: the next request (a renewal) starts from it."""
    with store.locked() as c:
        s.put_setting(c, CONTACT_KEY, json.dumps({k: req[k] for k in ("name", "email", "company")}))


def prefill(ctl: Controller, query: Mapping[str, str]) -> tuple[dict[str, str], bool]:
    """``(form values, renewal?)``: the remembered contact, the license in force, then ``query`` (checked: InvalidInput)."""
    lic = ctl.verdict().license
    ask = renewal_ask(lic)
    req = {**last_contact(ctl.store), **{k: str(v) if v else "" for k, v in ask.items()}}
    req["remote_clusters"] = str(ask["remote_clusters"])
    if lic is not None:
        req["company"] = lic.customer or req["company"]
    for name, label, lo, hi in ASKED:
        value = form_number(query, name, label, lo=lo, hi=hi)
        if value is not None:
            req[name] = str(value)
    return req, lic is not None


def safe_prefill(ctl: Controller, query: Mapping[str, str]) -> tuple[dict[str, str], bool, InvalidInput | None]:
    """``prefill``, or without the query when it asks for something out of bounds (the error says what)."""
    try:
        return (*prefill(ctl, query), None)
    except InvalidInput as e:
        return (*prefill(ctl, {}), e)


def request_filename(req: RequestCode) -> str:
    """``<cluster>-request-<YYYY-MM-DD>.txt``: the cluster name (or installation id) and the day the code was made."""
    return filenames.request_filename(req.cluster_name, req.installation_id, req.created_at.date())


def request_summary(req: RequestCode) -> dict[str, Any]:
    """What was asked, as the result page lists it."""
    c = req.contact
    return {
        "contact": f"{c.name} <{c.email}>",
        "company": c.company,
        "nodes": req.nodes,
        "remote_clusters": req.remote_clusters,
        "months": req.months,
        "installation_id": req.installation_id,
        "cluster_name": req.cluster_name,
        "product": f"{req.product} {req.version}",
    }


def request_mailto(config: dict[str, str], req: RequestCode, code: str) -> str:
    """A ``mailto:`` to the vendor's licensing address with the request in the body."""
    cluster = req.cluster_name or "(no cluster name set)"
    c = req.contact
    subject = f"License request: {c.company}, cluster {cluster}"
    body = (
        f"Hello,\n\nplease issue a license for this installation.\n\n"
        f"Company: {c.company}\nContact: {c.name} <{c.email}>\nCluster: {cluster}\nInstallation: {req.installation_id}\n"
        f"Nodes: {req.nodes}\nMonths: {req.months}\nRemote clusters: {req.remote_clusters}\n\nRequest code:\n{code}\n"
    )
    return mailto(config.get("vendor_email", ""), subject, body)
