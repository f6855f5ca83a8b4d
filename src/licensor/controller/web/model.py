"""What the controller console reads and writes beyond ``Controller`` and ``ControllerService``.

Small settings the console owns (cluster name, the vendor's licensing address,
the session secret) and read-only views (recent refusals, whether an admin
password exists).  Everything goes through the controller's store, in its
transactions; changes are audited like the CLI's.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, func, select, update

from .. import audit
from .. import store as s
from ..runtime import Controller

SECRET_KEY = "console_session_secret"  # noqa: S105 - a settings key name, not a secret
VENDOR_EMAIL_KEY = "console_vendor_email"
SIGN_OUTS_KEY = "console_sign_outs"
MAX_NAME = 200


def _get(c: Any, key: str) -> str | None:
    row = c.execute(select(s.settings_kv.c.value).where(s.settings_kv.c.key == key)).first()
    return None if row is None else str(row.value)


def _put(c: Any, key: str, value: str) -> None:
    if c.execute(update(s.settings_kv).where(s.settings_kv.c.key == key).values(value=value)).rowcount == 0:
        c.execute(s.settings_kv.insert().values(key=key, value=value))


def session_secret(ctl: Controller) -> bytes:
    """The HMAC key for console sessions, made once and shared by every worker and replica."""
    with ctl.store.tx() as c:
        have = _get(c, SECRET_KEY)
    if have:
        return bytes.fromhex(have)
    with ctl.store.locked() as c:
        have = _get(c, SECRET_KEY)
        if not have:
            have = secrets.token_hex(32)
            _put(c, SECRET_KEY, have)
    return bytes.fromhex(have)


def password_generation(ctl: Controller) -> str | None:
    """The id of the admin password in force and the count of sign-outs (sessions end when either changes);
    None when no password is set."""
    q = select(func.max(s.credentials.c.id)).where(and_(s.credentials.c.kind == "admin_password", s.credentials.c.revoked.is_(False)))
    with ctl.store.tx() as c:
        v = c.execute(q).scalar()
        signed_out = _get(c, SIGN_OUTS_KEY) or "0"
    return None if v is None else f"{v}.{signed_out}"


def end_sessions(ctl: Controller) -> None:
    """Sign-out: every console session ends, so a copied cookie is no way in afterwards.

    Session cookies are signed, not stored, so one cannot be struck off by itself; they all
    carry the sign-out count, and the controller has one admin."""
    with ctl.store.locked() as c:
        _put(c, SIGN_OUTS_KEY, str(int(_get(c, SIGN_OUTS_KEY) or "0") + 1))
        audit.append(c, ctl.clock(), [audit.Entry("admin", "console", "signed_out", "signed out: every console session ended")])


def configuration(ctl: Controller) -> dict[str, str]:
    with ctl.store.tx() as c:
        row = c.execute(select(s.installation.c.cluster_name, s.installation.c.product, s.installation.c.version)).first()
        email = _get(c, VENDOR_EMAIL_KEY) or ""
    if row is None:
        return {"cluster_name": "", "product": "", "version": "", "vendor_email": email}
    return {"cluster_name": row.cluster_name or "", "product": row.product, "version": row.version, "vendor_email": email}


def set_configuration(ctl: Controller, *, cluster_name: str, vendor_email: str) -> None:
    """Change the cluster name (carried by new request codes) and the vendor's licensing address; audited."""
    from ...errors import UsageError

    cluster_name, vendor_email = cluster_name.strip(), vendor_email.strip()
    if len(cluster_name) > MAX_NAME or any(ch in cluster_name for ch in "\r\n\t"):
        raise UsageError(f"the cluster name must be one line of at most {MAX_NAME} characters")
    if vendor_email and ("@" not in vendor_email or len(vendor_email) > 320 or any(ch in vendor_email for ch in " \r\n")):
        raise UsageError(
            "the vendor's licensing address is not an e-mail address: leave it empty or write one like licensing@vendor.example"
        )
    with ctl.store.locked() as c:
        c.execute(update(s.installation).values(cluster_name=cluster_name))
        _put(c, VENDOR_EMAIL_KEY, vendor_email)
        audit.append(c, ctl.clock(), [audit.Entry("admin", "configuration", "cluster_name", f"cluster name set to '{cluster_name}'")])


def recent_refusals(ctl: Controller, limit: int = 10) -> list[dict[str, Any]]:
    """The newest refused joins and activations, newest first."""
    items = ctl.audit_entries(limit, "refused") + ctl.audit_entries(limit, "activation_refused")
    items.sort(key=lambda e: e["id"], reverse=True)
    return items[:limit]
