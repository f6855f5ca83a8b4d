"""The issuer's web console (vendor side).

``mount_console(app, svc, settings)`` adds server-rendered pages to the issuer app:

    GET  /login  POST /login  POST /logout      admin sign-in (users from 'licensor vendor admin create-user')
    GET  /issue                                 paste or upload a request code
    POST /issue/preview                         the request: installation, contact, what is asked, factors, earlier
                                                licenses; an issue form prefilled from plan and request
    POST /issue                                 sign; then the license page shows it with Copy, Download, Send by e-mail
    GET  /licenses?q=                           search licenses
    GET  /licenses/{id}                         one license: file, Copy, Download, Send by e-mail, renew, rehost
    GET  /licenses/{id}/download                the license file
    POST /licenses/{id}/renew  …/rehost  …/send
    GET  /customers  /installations  /installations/{id}
    GET  /keys  POST /keys/rotate  POST /keys/{kid}/remove  GET /keys/public.txt   signing keys; the published set
    GET  /usage  POST /usage                    imported usage reports; import one

The session is the API's session cookie (``IssuerService.login``); every form
carries that session's CSRF token.  Views parse, call ``IssuerService`` and render.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ...errors import InvalidInput, LicensorError, Unauthorized, UsageError
from ...license import LicenseType
from ...server.inputs import EARLIEST, LATEST, MAX_CLUSTERS, MAX_GRACE_DAYS, MAX_MONTHS, MAX_NODES, in_range
from ...server.logins import in_thread
from ...web import (
    Pages,
    attachment,
    form_number,
    form_text,
    mailto,
    mount_static,
    plain,
    redirect,
    refusal,
    upload_or_text,
)
from ...web.console import Console
from ..service import IssuerService, Principal
from ..settings import IssuerSettings

COOKIE = "licensor_session"  # the same cookie as the API's sessions (issuer.app.SESSION_COOKIE)
NAV = [
    ("/issue", "Issue"),
    ("/licenses", "Licenses"),
    ("/customers", "Customers"),
    ("/installations", "Installations"),
    ("/keys", "Signing keys"),
    ("/usage", "Usage reports"),
]
MAX_CODE = 16384


def _features(text: str) -> tuple[str, ...]:
    return tuple(sorted({f.strip() for f in text.replace("\n", ",").split(",") if f.strip()}))


def _date(text: str) -> datetime | None:
    if not text:
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"'{text[:40]}' is not a date: use YYYY-MM-DD") from None
    # The form asks for a day (YYYY-MM-DD), which the form's hint says is read as UTC.
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t
    if not in_range(t):
        raise InvalidInput(
            f"the expiry date must lie from {EARLIEST.year}-01-01 to before {LATEST.year}-01-01: for no expiry, leave it empty "
            "and choose the perpetual type"
        )
    return t


def license_mailto(lic: dict[str, Any], to: str, file: str) -> str:
    subject = f"Your {lic['product']} license for {lic['customer']} (serial {lic['serial']})"
    body = (
        f"Hello {lic['customer']},\n\nhere is your {lic['product']} license. Paste it (or upload it as a file) on the product's "
        f"License page and click Activate.\n\nLicense {lic['license_id']}\nInstallation {lic['installation_id']}\n"
        f"Nodes {lic['nodes']}, remote clusters {lic['remote_clusters']}, expires {lic['expires'] or 'never'}\n\n{file}\n"
    )
    return mailto(to, subject, body)


def mount_console(app: FastAPI, svc: IssuerService, settings: IssuerSettings) -> None:
    pages = Pages(Path(__file__).parent / "templates", title="licensor issuer", nav=NAV)
    mount_static(app)

    async def principal(request: Request) -> Principal | None:
        cookie = request.cookies.get(COOKIE)
        if not cookie or len(cookie) > 200:
            return None
        return await run_in_threadpool(svc.session_principal, cookie)

    console = Console(pages, user=principal, cookie=COOKIE, home="/issue", hours=settings.session_hours, max_fields=30)

    def render(request: Request, p: Principal, name: str, code: int = 200, **ctx: Any) -> Response:
        return pages.render(request, name, code, user=p.actor.removeprefix("user:"), csrf=p.csrf, **ctx)

    def not_found(request: Request, p: Principal, e: LicensorError) -> Response:
        return render(request, p, "message.html", 404, page_title="Not found", error=refusal(e, "Not found"))

    # -- sign-in ---------------------------------------------------------------

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/issue") -> Response:
        note = "Admin users are made with 'licensor vendor admin create-user NAME' on the issuer's host."
        if settings.cookie_secure and request.url.scheme != "https":
            note += (
                " This issuer sends its session cookie over HTTPS only: open it through HTTPS"
                " (or set LICENSOR_COOKIE_SECURE=0 for plain-HTTP development), or signing in will not stick."
            )
        return console.login_page(request, next=next, username="", note=note)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        f = await console.login_form(request, username_limit=100)
        try:
            if not isinstance(f.password, str) or not f.password or len(f.password) > 1000:
                raise Unauthorized("the user name or password is wrong")
            cookie, _csrf = await in_thread(svc.login, f.username, f.password, f.ip)
        except LicensorError as e:
            if e.code == "rate_limited":
                return console.refused(request, e, next=f.next, username=f.username)
            return console.login_page(request, 401, next=f.next, username=f.username, error=refusal(e, "Not signed in"))
        return console.signed_in(f.next, cookie, secure=settings.cookie_secure)

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await console.sign_out(request, lambda p, cookie: svc.logout(cookie, p.actor))

    # -- issue -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def home(request: Request) -> Response:
        return redirect("/issue")

    async def issue_form(request: Request, p: Principal, code: int = 200, error: Any = None, code_text: str = "") -> Response:
        recent = await run_in_threadpool(lambda: svc.search(limit=5))
        return render(request, p, "issue.html", code, page_title="Issue a license", recent=recent, error=error, code_text=code_text)

    @app.get("/issue", include_in_schema=False)
    @console.page
    async def issue_page(request: Request, p: Principal) -> Response:
        return await issue_form(request, p)

    def preview_context(text: str, terms: dict[str, Any] | None = None) -> dict[str, Any]:
        req = svc.inspect(text)
        summary = req.summary()
        earlier = svc.search(installation_id=req.installation_id, limit=50)
        plans = svc.plans()
        chosen = next((pl for pl in plans if pl["name"] == "subscription"), None)
        if terms is None:
            terms = {
                "plan": chosen["name"] if chosen else "",
                "type": chosen["type"] if chosen else "subscription",
                "customer": req.contact.company or req.contact.name,
                "nodes": req.nodes,
                "months": req.months or (chosen["months"] if chosen else 12),
                "remote_clusters": req.remote_clusters,
                "features": ", ".join(chosen["features"]) if chosen else "",
                "grace_days": chosen["grace_days"] if chosen else 0,
                "expires": "",
            }
        return {"req": summary, "earlier": earlier, "plans": plans, "terms": terms, "code_text": text}

    @app.post("/issue/preview", include_in_schema=False)
    @console.form
    async def preview(request: Request, p: Principal, form: FormData) -> Response:
        text = ""
        try:
            text = await upload_or_text(form, "file", "request_code", MAX_CODE)
            if not text.strip():
                raise UsageError("no request code was given: paste the code (or the request file) or choose the file")
            ctx = await run_in_threadpool(preview_context, text)
        except (LicensorError, RecursionError) as e:
            return await issue_form(request, p, 422, error=refusal(e, "This request code cannot be used"), code_text=text)
        return render(request, p, "preview.html", page_title="Request preview", error=None, **ctx)

    @app.post("/issue", include_in_schema=False)
    @console.form
    async def issue(request: Request, p: Principal, form: FormData) -> Response:
        text = form_text(form, "request_code", MAX_CODE)
        names = ("plan", "type", "customer", "nodes", "months", "remote_clusters", "features", "grace_days")
        terms = {k: form_text(form, k, 2000) for k in names}
        terms["expires"] = form_text(form, "expires", 40)
        try:
            typ: LicenseType = "perpetual" if terms["type"] == "perpetual" else "subscription"
            expires = _date(terms["expires"])
            nodes = form_number(form, "nodes", "Nodes", lo=0, hi=MAX_NODES)
            months = None if expires else form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS)
            remote = form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS)
            grace = form_number(form, "grace_days", "Grace days", lo=0, hi=MAX_GRACE_DAYS)
            issued = await run_in_threadpool(
                lambda: svc.issue(
                    text,
                    actor=p.actor,
                    plan=terms["plan"] or None,
                    type=typ,
                    nodes=nodes,
                    months=months,
                    expires=expires,
                    remote_clusters=remote,
                    features=_features(terms["features"]),
                    customer=terms["customer"] or None,
                    grace_days=grace,
                )
            )
        except (LicensorError, RecursionError) as e:
            try:
                ctx = await run_in_threadpool(preview_context, text, terms)
            except (LicensorError, RecursionError) as e2:
                return await issue_form(request, p, 422, error=refusal(e2, "This request code cannot be used"), code_text=text)
            return render(request, p, "preview.html", 422, page_title="Request preview", error=refusal(e, "Not issued"), **ctx)
        return redirect(f"/licenses/{issued.license.license_id}?new=1")

    # -- licenses ----------------------------------------------------------------

    @app.get("/licenses", include_in_schema=False)
    @console.page
    async def licenses(request: Request, p: Principal, q: str = "") -> Response:
        q = q.strip()[:200]
        items = await run_in_threadpool(lambda: svc.search(q or None, limit=200))
        return render(request, p, "licenses.html", page_title="Licenses", items=items, q=q)

    def license_context(license_id: str) -> dict[str, Any]:
        lic = svc.get(license_id)
        issued = svc.issued(license_id)
        try:
            to = svc.contact_email(license_id)
        except LicensorError:
            to = ""
        return {
            "lic": lic,
            "file": issued.file,
            "to": to,
            "mailto": license_mailto(lic, to, issued.file),
            "smtp": settings.smtp.configured,
            "chain": svc.search(installation_id=lic["installation_id"], limit=50),
        }

    async def license_page(request: Request, p: Principal, license_id: str, code: int = 200, **extra: Any) -> Response:
        try:
            ctx = await run_in_threadpool(license_context, license_id[:100])
        except LicensorError as e:
            return not_found(request, p, e)
        ctx.update(extra)
        ctx.setdefault("error", None)
        return render(request, p, "license.html", code, page_title="License " + ctx["lic"]["license_id"][:8], **ctx)

    @app.get("/licenses/{license_id}", include_in_schema=False)
    @console.page
    async def license_view(request: Request, p: Principal, license_id: str, new: str | None = None, sent: str | None = None) -> Response:
        flash = "License issued: copy it, download it or send it to the customer." if new else None
        if sent:
            flash = f"License sent to {sent[:320]}."
        return await license_page(request, p, license_id, flash=flash)

    @app.get("/licenses/{license_id}/download", include_in_schema=False)
    @console.page
    async def download(request: Request, p: Principal, license_id: str) -> Response:
        try:
            issued = await run_in_threadpool(svc.issued, license_id[:100])
        except LicensorError as e:
            return plain(f"{e.code}: {e.hint}", 404)
        return attachment(issued.file, f"license-{issued.license.license_id}.txt")

    @app.post("/licenses/{license_id}/renew", include_in_schema=False)
    @console.form
    async def renew(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
        try:
            feats = form_text(form, "features", 2000)
            months = form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS)
            nodes = form_number(form, "nodes", "Nodes", lo=0, hi=MAX_NODES)
            remote = form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS)
            issued = await run_in_threadpool(
                lambda: svc.renew(
                    license_id,
                    actor=p.actor,
                    months=months,
                    nodes=nodes,
                    remote_clusters=remote,
                    features=_features(feats) if feats else None,
                )
            )
        except LicensorError as e:
            return await license_page(request, p, license_id, 422, error=refusal(e, "Not renewed"))
        return redirect(f"/licenses/{issued.license.license_id}?new=1")

    @app.post("/licenses/{license_id}/rehost", include_in_schema=False)
    @console.form
    async def rehost(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
        try:
            text = await upload_or_text(form, "file", "request_code", MAX_CODE)
            if not text.strip():
                raise UsageError("paste the new installation's request code to rehost this license")
            issued = await run_in_threadpool(lambda: svc.rehost(license_id, text, actor=p.actor))
        except (LicensorError, RecursionError) as e:
            return await license_page(request, p, license_id, 422, error=refusal(e, "Not rehosted"))
        return redirect(f"/licenses/{issued.license.license_id}?new=1")

    @app.post("/licenses/{license_id}/send", include_in_schema=False)
    @console.form
    async def send(request: Request, p: Principal, form: FormData, license_id: str) -> Response:
        from ..mail import license_message
        from ..mail import send as smtp_send

        try:
            issued = await run_in_threadpool(svc.issued, license_id)
            to = form_text(form, "to", 320) or await run_in_threadpool(svc.contact_email, license_id)
            await run_in_threadpool(smtp_send, settings.smtp, license_message(issued, sender=settings.smtp.sender, to=to))
            await run_in_threadpool(svc.record_sent, license_id, to, p.actor)
        except LicensorError as e:
            return await license_page(request, p, license_id, 422, error=refusal(e, "Not sent"))
        return redirect(f"/licenses/{quote(license_id, safe='')}?sent={quote(to, safe='@')}")

    # -- customers, installations ------------------------------------------------------

    @app.get("/customers", include_in_schema=False)
    @console.page
    async def customers(request: Request, p: Principal) -> Response:
        items = await run_in_threadpool(svc.customers)
        return render(request, p, "customers.html", page_title="Customers", items=items)

    @app.get("/installations", include_in_schema=False)
    @console.page
    async def installations(request: Request, p: Principal, customer: str = "") -> Response:
        items = await run_in_threadpool(svc.installations, customer[:200] or None)
        return render(request, p, "installations.html", page_title="Installations", items=items, customer=customer[:200])

    @app.get("/installations/{installation_id}", include_in_schema=False)
    @console.page
    async def installation(request: Request, p: Principal, installation_id: str) -> Response:
        try:
            inst = await run_in_threadpool(svc.installation, installation_id[:100])
        except LicensorError as e:
            return not_found(request, p, e)
        lics = await run_in_threadpool(lambda: svc.search(installation_id=inst["installation_id"], limit=100))
        usage = await run_in_threadpool(svc.usage, inst["installation_id"])
        return render(request, p, "installation.html", page_title="Installation", inst=inst, items=lics, usage=usage)

    # -- signing keys ------------------------------------------------------------------

    async def keys_page(request: Request, p: Principal, code: int = 200, **extra: Any) -> Response:
        items = await run_in_threadpool(svc.keys)
        public = await run_in_threadpool(lambda: svc.public_set().to_text())
        extra.setdefault("error", None)
        return render(request, p, "keys.html", code, page_title="Signing keys", items=items, public=public, **extra)

    @app.get("/keys", include_in_schema=False)
    @console.page
    async def keys(request: Request, p: Principal, done: str = "") -> Response:
        flash = {"rotated": "A new signing key is active; the old one is retired but still published.", "removed": "Key removed."}
        return await keys_page(request, p, flash=flash.get(done))

    @app.get("/keys/public.txt", include_in_schema=False)
    @console.page
    async def public_set(request: Request, p: Principal) -> Response:
        text = await run_in_threadpool(lambda: svc.public_set().to_text())
        return attachment(text, "vendor.pub")

    @app.post("/keys/rotate", include_in_schema=False)
    @console.form
    async def rotate(request: Request, p: Principal, form: FormData) -> Response:
        try:
            await run_in_threadpool(svc.rotate_key, p.actor)
        except LicensorError as e:
            return await keys_page(request, p, 422, error=refusal(e, "Not rotated"))
        return redirect("/keys?done=rotated")

    @app.post("/keys/{kid}/remove", include_in_schema=False)
    @console.form
    async def remove_key(request: Request, p: Principal, form: FormData, kid: str) -> Response:
        try:
            await run_in_threadpool(svc.remove_key, kid[:100], p.actor)
        except LicensorError as e:
            return await keys_page(request, p, 422, error=refusal(e, "Not removed"))
        return redirect("/keys?done=removed")

    # -- usage reports -----------------------------------------------------------------

    @app.get("/usage", include_in_schema=False)
    @console.page
    async def usage(request: Request, p: Principal) -> Response:
        items = await run_in_threadpool(svc.usage)
        return render(request, p, "usage.html", page_title="Usage reports", items=items, result=None, error=None)

    @app.post("/usage", include_in_schema=False)
    @console.form
    async def import_usage(request: Request, p: Principal, form: FormData) -> Response:
        result, error = None, None
        try:
            text = await upload_or_text(form, "file", "report", 65536)
            if not text.strip():
                raise UsageError("no usage report was given: paste it or choose the file")
            result = await run_in_threadpool(lambda: svc.import_usage(text, actor=p.actor))
        except (LicensorError, RecursionError) as e:
            error = refusal(e, "Not imported")
        items = await run_in_threadpool(svc.usage)
        return render(
            request, p, "usage.html", 422 if error else 200, page_title="Usage reports", items=items, result=result, error=error, json=json
        )


__all__ = ["mount_console"]
