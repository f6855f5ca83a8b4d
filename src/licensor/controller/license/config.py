"""Small settings the console owns: the cluster name (carried by request codes) and the vendor's licensing address."""

from __future__ import annotations

from sqlalchemy import select, update

from ...clock import Clock
from ...errors import UsageError
from .. import audit
from .. import store as s

VENDOR_EMAIL_KEY = "console_vendor_email"
MAX_NAME = 200


def configuration(store: s.Store) -> dict[str, str]:
    with store.tx() as c:
        row = c.execute(select(s.installation.c.cluster_name, s.installation.c.product, s.installation.c.version)).first()
        email = s.get_setting(c, VENDOR_EMAIL_KEY) or ""
    if row is None:
        return {"cluster_name": "", "product": "", "version": "", "vendor_email": email}
    return {"cluster_name": row.cluster_name or "", "product": row.product, "version": row.version, "vendor_email": email}


def set_configuration(store: s.Store, clock: Clock, *, cluster_name: str, vendor_email: str) -> None:
    """Change the cluster name (carried by new request codes) and the vendor's licensing address; audited."""
    cluster_name, vendor_email = cluster_name.strip(), vendor_email.strip()
    if len(cluster_name) > MAX_NAME or any(ch in cluster_name for ch in "\r\n\t"):
        raise UsageError(f"The cluster name must be one line of at most {MAX_NAME} characters")
    if vendor_email and ("@" not in vendor_email or len(vendor_email) > 320 or any(ch in vendor_email for ch in " \r\n")):
        raise UsageError(
            "The vendor's licensing address is not an e-mail address: leave it empty or write one like licensing@vendor.example"
        )
    with store.locked() as c:
        c.execute(update(s.installation).values(cluster_name=cluster_name))
        s.put_setting(c, VENDOR_EMAIL_KEY, vendor_email)
        audit.append(c, clock(), [audit.Entry("admin", "configuration", "cluster_name", f"cluster name set to '{cluster_name}'")])
