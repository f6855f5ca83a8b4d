"""How an issued license is shown: one record, from the license just signed or from its stored row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...filenames import license_filename
from ...license import License, fmt_time, license_file
from ...terms import license_state


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
    cluster_name: str = ""  # the installation's, from its request code: part of the file name

    @property
    def file(self) -> str:
        return license_file(self.license, self.token)

    @property
    def filename(self) -> str:
        """What the license file is called when downloaded or mailed: ``acme-prod-eu-west-serial2.lic``."""
        lic = self.license
        return license_filename(lic.customer, self.cluster_name, lic.serial, lic.installation_id)

    def as_dict(self) -> dict[str, Any]:
        """The same record as ``LicenseService.get`` shows, without reading it back (its state as of its issue)."""
        return license_record(self.license, self, self.license.issued_at)


def license_record(lic: Any, meta: Any, now: datetime) -> dict[str, Any]:
    """The license record the API, CLI and console show, with its ``state`` at ``now`` (``terms.license_state``).

    ``lic`` has the license's fields (a ``License`` or a ``licenses`` row); ``meta`` the issuer's
    (``plan``, ``kid``, ``kind``, ``supersedes``, ``superseded_by``, ``issued_by``: an ``Issued`` or the row)."""
    features = json.loads(lic.features) if isinstance(lic.features, str) else list(lic.features)
    return {
        "license_id": lic.license_id,
        "installation_id": lic.installation_id,
        "serial": lic.serial,
        "customer": lic.customer,
        "product": lic.product,
        "plan": meta.plan,
        "type": lic.type,
        "nodes": lic.nodes,
        "remote_clusters": lic.remote_clusters,
        "features": features,
        "grace_days": lic.grace_days,
        "issued_at": fmt_time(lic.issued_at),
        "not_before": fmt_time(lic.not_before),
        "expires": fmt_time(lic.expires) if lic.expires else None,
        "maintenance_until": fmt_time(lic.maintenance_until),
        "kid": meta.kid,
        "kind": meta.kind,
        "supersedes": meta.supersedes,
        "superseded_by": meta.superseded_by,
        "state": license_state(lic.expires, meta.superseded_by, now),
        "issued_by": meta.issued_by,
    }
