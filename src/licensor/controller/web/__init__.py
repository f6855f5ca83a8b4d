"""The controller's web console (customer side): sign-in, dashboard, License page, configuration, nodes, clusters, about.

``mount_console(app, ctl)`` adds server-rendered pages to the controller app:

    GET  /                                  dashboard: license state, seats used / limit, days left, recent refusals
    GET  /login  POST /login  POST /logout  admin sign-in (the password from 'licensor controller admin set-password')
    GET  /settings/license                  status card, Request code dialog, Activate (paste or upload), history
    POST /settings/license/request          make a request code: shown with Copy, Download, QR code, Send by e-mail
    POST /settings/license/request/download the request file as an attachment
    POST /settings/license/activate         activate a pasted or uploaded key; a refusal's hint is shown inline
    GET  /settings/configuration  POST …    cluster name (carried by request codes), the vendor's licensing address
    GET  /nodes  GET /clusters              seats held
    GET  /about                             version, build date, license and maintenance end

Views parse, call ``Controller`` / ``ControllerService`` and render; every
form carries a CSRF token; sessions are signed cookies that expire.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ... import __version__
from ...errors import InvalidInput, LicensorError, UsageError
from ...request import Contact, decode_request, request_file
from ...server.inputs import MAX_CLUSTERS, MAX_MONTHS, MAX_NODES, is_address
from ...server.logins import in_thread
from ...web import (
    Pages,
    Session,
    SignedSessions,
    attachment,
    form_number,
    form_text,
    mailto,
    mount_static,
    plain,
    qr_svg,
    redirect,
    refusal,
    upload_or_text,
)
from ...web.console import Console
from ..runtime import Controller
from . import model

COOKIE = "licensor_controller_session"
NAV = [
    ("/", "Dashboard"),
    ("/nodes", "Nodes"),
    ("/clusters", "Clusters"),
    ("/settings/license", "License"),
    ("/settings/configuration", "Configuration"),
    ("/about", "About"),
]
STATE_WORDS = {
    "valid": "Valid",
    "grace": "Expired: grace period",
    "expired": "Expired",
    "missing": "No license",
    "clock_rollback": "Clock set back",
    "not_yet_valid": "Not yet valid",
    "wrong_installation": "Wrong installation",
    "wrong_product": "Wrong product",
    "superseded": "Superseded",
}


def build_date() -> str:
    """When this build was made: ``$LICENSOR_BUILD_DATE``, else the date the package files were written."""
    env = os.environ.get("LICENSOR_BUILD_DATE")
    if env:
        return env
    t = datetime.fromtimestamp(Path(__file__).stat().st_mtime, UTC)
    return t.strftime("%Y-%m-%d")


def mount_console(app: FastAPI, ctl: Controller, *, session_hours: float | None = None) -> None:
    hours = session_hours or float(os.environ.get("LICENSOR_CONSOLE_SESSION_HOURS", "8"))
    pages = Pages(Path(__file__).parent / "templates", title="licensor controller", nav=NAV)
    mount_static(app)
    holder: dict[str, SignedSessions] = {}

    def sessions() -> SignedSessions:
        if "s" not in holder:
            holder["s"] = SignedSessions(model.session_secret(ctl), ttl_seconds=hours * 3600)
        return holder["s"]

    def current(request: Request) -> Session | None:
        gen = model.password_generation(ctl)
        if gen is None:
            return None
        return sessions().check(request.cookies.get(COOKIE), gen)

    async def guarded(request: Request) -> Session | None:
        return await run_in_threadpool(current, request)

    console = Console(pages, user=guarded, cookie=COOKIE, home="/", hours=hours, max_fields=20)

    def page_context(sess: Session) -> dict[str, Any]:
        status = ctl.status()
        return {"user": sess.user, "csrf": sess.csrf, "status": status, "banner": banner(status), "state_words": STATE_WORDS}

    async def show(
        request: Request,
        sess: Session,
        template: str,
        title: str,
        status_code: int = 200,
        more: Callable[[], dict[str, Any]] | None = None,
        **ctx: Any,
    ) -> Response:
        """A page with what every page shows (the license state and its banner) and ``more()``, both read in a thread."""

        def data() -> dict[str, Any]:
            shown = page_context(sess)
            if more is not None:
                shown.update(more())
            return shown

        shown = await run_in_threadpool(data)
        return pages.render(request, template, status_code, page_title=title, **{**shown, **ctx})

    # -- sign-in ---------------------------------------------------------------

    def login_note() -> str | None:
        if model.password_generation(ctl) is None:
            return "No admin password is set yet: run 'licensor controller admin set-password' on the controller's host, then sign in here."
        return None

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        note = await run_in_threadpool(login_note)
        return console.login_page(request, next=next, username="admin", note=note)

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        f = await console.login_form(request, username_limit=200)
        pw = f.password if isinstance(f.password, str) else ""
        try:
            # The same limit as HTTP Basic, kept in the database (shared by workers and replicas, kept over restarts).
            ok = await in_thread(ctl.login, f.username, pw, f.ip)
        except LicensorError as e:
            if e.code != "rate_limited":
                raise
            return console.refused(request, e, next=f.next, username=f.username)
        gen = await run_in_threadpool(model.password_generation, ctl)
        if not ok or gen is None:
            error = {"title": "Not signed in", "code": "unauthorized", "hint": "the user name or password is wrong (the user is 'admin')"}
            note = await run_in_threadpool(login_note)
            return console.login_page(request, 401, next=f.next, username=f.username, note=note, error=error)
        cookie = await run_in_threadpool(sessions().issue, "admin", gen)
        return console.signed_in(f.next, cookie, secure=request.url.scheme == "https")

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        return await console.sign_out(request, lambda _sess, _cookie: model.end_sessions(ctl))

    # -- pages -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    @console.page
    async def dashboard(request: Request, sess: Session) -> Response:
        return await show(
            request, sess, "dashboard.html", "Dashboard", more=lambda: {"refusals": model.recent_refusals(ctl, 10), "now": ctl.clock()}
        )

    async def license_page(request: Request, sess: Session, status_code: int = 200, **extra: Any) -> Response:
        def more() -> dict[str, Any]:
            return {"history": ctl.svc.history(), "config": model.configuration(ctl), "now": ctl.clock()}

        extra.setdefault("req", {"name": "", "email": "", "company": "", "nodes": "", "months": "12", "remote_clusters": "0"})
        return await show(request, sess, "license.html", "License", status_code, more, **extra)

    @app.get("/settings/license", include_in_schema=False)
    @console.page
    async def license_view(request: Request, sess: Session, activated: str | None = None) -> Response:
        flash = None
        if activated:
            flash = f"License {activated[:60]} activated: the console and the agents use it now."
        return await license_page(request, sess, flash=flash)

    @app.get("/settings/license/request", include_in_schema=False)
    @console.page
    async def request_form(request: Request, sess: Session) -> Response:
        return await license_page(request, sess, open_request=True)

    @app.post("/settings/license/request", include_in_schema=False)
    @console.form
    async def make_request(request: Request, sess: Session, form: FormData) -> Response:
        req = {k: form_text(form, k) for k in ("name", "email", "company", "nodes", "months", "remote_clusters")}
        try:
            nodes = form_number(form, "nodes", "Nodes", lo=1, hi=MAX_NODES)
            months = form_number(form, "months", "Months", lo=1, hi=MAX_MONTHS)
            remote = form_number(form, "remote_clusters", "Remote clusters", lo=0, hi=MAX_CLUSTERS, default=0)
            if nodes is None or months is None or remote is None:
                raise InvalidInput("nodes, months and remote clusters are whole numbers: fill them in")
            if not is_address(req["email"]):
                raise InvalidInput("the e-mail must be one plain address such as name@example.com: the vendor sends the license there")
            code, text = await run_in_threadpool(
                ctl.svc.request, Contact(req["name"], req["email"], req["company"]), nodes=nodes, months=months, remote_clusters=remote
            )
        except LicensorError as e:
            return await license_page(request, sess, 422, req=req, request_error=refusal(e, "No request code made"), open_request=True)
        config = await run_in_threadpool(model.configuration, ctl)
        made = {
            "code": code,
            "file": text,
            "qr": qr_svg(code, "QR code of the request code"),
            "mailto": request_mailto(config, req, code),
        }
        return await license_page(request, sess, req=req, made=made, open_request=True)

    @app.post("/settings/license/request/download", include_in_schema=False)
    @console.form
    async def download_request(request: Request, sess: Session, form: FormData) -> Response:
        code = form_text(form, "code", 16384)
        try:
            text = request_file(code, decode_request(code))
        except (LicensorError, RecursionError) as e:
            shown = refusal(e, "")
            return plain(f"{shown['code']}: {shown['hint']}", 400)
        return attachment(text, "license-request.txt")

    @app.post("/settings/license/activate", include_in_schema=False)
    @console.form
    async def activate(request: Request, sess: Session, form: FormData) -> Response:
        pasted = form.get("key") if isinstance(form.get("key"), str) else ""
        try:
            text = await upload_or_text(form, "file", "key")
            if not text.strip():
                raise UsageError("no license key was given: paste the key or the whole license file, or choose the file")
            act = await run_in_threadpool(ctl.activate, text)
        except (LicensorError, RecursionError) as e:
            return await license_page(request, sess, 422, activate_error=refusal(e, "Not activated"), pasted=pasted)
        lic = act.verdict.license
        return redirect("/settings/license?activated=" + (lic.license_id if lic else ""))

    @app.post("/settings/license/clock/acknowledge", include_in_schema=False)
    @console.form
    async def acknowledge_clock(request: Request, sess: Session, form: FormData) -> Response:
        try:
            await run_in_threadpool(ctl.acknowledge_clock, f"admin via console ({sess.user})")
        except LicensorError as e:
            return await license_page(request, sess, 422, clock_error=refusal(e, "Not acknowledged"))
        return redirect("/settings/license")

    @app.get("/settings/configuration", include_in_schema=False)
    @console.page
    async def configuration(request: Request, sess: Session, saved: str | None = None) -> Response:
        flash = "Configuration saved: new request codes carry the cluster name." if saved else None
        return await show(
            request, sess, "configuration.html", "Configuration", more=lambda: {"config": model.configuration(ctl)}, flash=flash
        )

    @app.post("/settings/configuration", include_in_schema=False)
    @console.form
    async def save_configuration(request: Request, sess: Session, form: FormData) -> Response:
        name, email = form_text(form, "cluster_name", 500), form_text(form, "vendor_email", 500)
        try:
            await run_in_threadpool(lambda: model.set_configuration(ctl, cluster_name=name, vendor_email=email))
        except LicensorError as e:
            cfg = {"cluster_name": name, "vendor_email": email}
            return await show(request, sess, "configuration.html", "Configuration", 422, config=cfg, error=refusal(e, "Not saved"))
        return redirect("/settings/configuration?saved=1")

    def seats_page(kind: str, title: str) -> Any:
        @console.page
        async def view(request: Request, sess: Session) -> Response:
            return await show(request, sess, "seats.html", title, more=lambda: {"items": ctl.seats(kind), "kind": kind})

        return view

    app.add_api_route("/nodes", seats_page("node", "Nodes"), methods=["GET"], include_in_schema=False)
    app.add_api_route("/clusters", seats_page("cluster", "Remote clusters"), methods=["GET"], include_in_schema=False)

    @app.get("/about", include_in_schema=False)
    @console.page
    async def about(request: Request, sess: Session) -> Response:
        return await show(
            request,
            sess,
            "about.html",
            "About",
            more=lambda: {"config": model.configuration(ctl)},
            product_version=__version__,
            build_date=build_date(),
        )


def banner(status: dict[str, Any]) -> dict[str, Any] | None:
    """The banner every page shows while the license is not valid, or is near expiry or maintenance end."""
    if status.get("state") != "valid":
        return {"level": "bad", "title": STATE_WORDS.get(status.get("state", ""), "License problem"), "hints": [status.get("hint", "")]}
    if status.get("warnings"):
        return {"level": "warn", "title": "License needs attention", "hints": list(status["warnings"])}
    return None


def request_mailto(config: dict[str, str], req: dict[str, str], code: str) -> str:
    cluster = config.get("cluster_name") or "(no cluster name set)"
    subject = f"License request: {req['company']}, cluster {cluster}"
    body = (
        f"Hello,\n\nplease issue a license for this installation.\n\n"
        f"Company: {req['company']}\nContact: {req['name']} <{req['email']}>\nCluster: {cluster}\n"
        f"Nodes: {req['nodes']}\nMonths: {req['months']}\nRemote clusters: {req['remote_clusters']}\n\nRequest code:\n{code}\n"
    )
    return mailto(config.get("vendor_email", ""), subject, body)


__all__ = ["COOKIE", "banner", "mount_console"]
