"""Send a license by e-mail: the file attached, a readable summary in the body."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from ..errors import InvalidEmail, Unavailable, UsageError
from ..license import fmt_time
from ..server.inputs import is_address
from .licenses.records import Issued
from .settings import SmtpSettings


def check_address(to: str) -> str:
    """``to`` if it is exactly one plain e-mail address (``name@example.com``); else a 400 ``invalid_email``."""
    if not is_address(to):
        shown = to[:80].encode("unicode_escape").decode("ascii")
        raise InvalidEmail(
            f"The address '{shown}' is not one plain e-mail address: give a single plain address such as name@example.com "
            "(no name, no second address, no line breaks)"
        )
    return to


def _one_line(text: str) -> str:
    return "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)[:200]


def license_message(issued: Issued, *, sender: str, to: str) -> EmailMessage:
    lic = issued.license
    to = check_address(to)
    msg = EmailMessage()
    # Product and customer come from a request code: a line break there must not become a header of its own.
    msg["Subject"] = _one_line(f"Your {lic.product} license for {lic.customer} (serial {lic.serial})")
    msg["From"] = sender
    msg["To"] = to
    lines = [
        f"Hello {lic.customer},",
        "",
        f"attached is your {lic.product} license file. Activate it on the installation it was made for:",
        "",
        f"    licensor controller activate {issued.filename}",
        "",
        "or paste it on the product's License page.",
        "",
        f"  License       {lic.license_id}",
        f"  Installation  {lic.installation_id}",
        f"  Type          {lic.type}",
        f"  Nodes         {lic.nodes}",
        f"  Remote clusters {lic.remote_clusters}",
        f"  Features      {', '.join(lic.features) or '(none)'}",
        f"  Valid from    {fmt_time(lic.not_before)}",
        f"  Expires       {fmt_time(lic.expires) if lic.expires else 'never (perpetual)'}",
        f"  Maintenance   until {fmt_time(lic.maintenance_until)}",
        f"  Serial        {lic.serial}" + (f" (replaces license {issued.supersedes})" if issued.supersedes else ""),
    ]
    msg.set_content("\n".join(lines) + "\n")
    msg.add_attachment(issued.file.encode(), maintype="text", subtype="plain", filename=issued.filename)
    return msg


def send(settings: SmtpSettings, msg: EmailMessage) -> None:
    """Deliver ``msg`` over SMTP as configured; errors name the server."""
    if not settings.configured:
        raise UsageError("No SMTP server is configured: set [smtp] host in issuer.toml or LICENSOR_SMTP_HOST")
    try:
        ctx = ssl.create_default_context()
        smtp: smtplib.SMTP
        if settings.security == "ssl":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=ctx)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ctx)
            if settings.user:
                smtp.login(settings.user, settings.password)
            smtp.send_message(msg)
    except (OSError, smtplib.SMTPException) as e:
        raise Unavailable(f"The mail server {settings.host}:{settings.port} did not take the message: {e}", code="mail_failed") from None
