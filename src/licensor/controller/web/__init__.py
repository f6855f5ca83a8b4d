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
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from ... import __version__
from ...errors import LicensorError
from ...request import Contact, decode_request, request_file
from ...web import FormError, Pages, SignedSessions, csrf_ok, form_int, form_text, mailto, mount_static, qr_svg, redirect, safe_next
from ...web import security_headers as _headers
from ..runtime import Controller
from . import model

COOKIE = "licensor_controller_session"
LOGIN_LIMIT, LOGIN_WINDOW = 10, 15 * 60.0  # failed sign-ins per address (per process) within seconds
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

    def current(request: Request) -> Any:
        gen = model.password_generation(ctl)
        if gen is None:
            return None
        return sessions().check(request.cookies.get(COOKIE), gen)

    def page_context(sess: Any) -> dict[str, Any]:
        status = ctl.status()
        return {"user": sess.user, "csrf": sess.csrf, "status": status, "banner": banner(status), "state_words": STATE_WORDS}

    def to_login(request: Request) -> Response:
        return redirect("/login?next=" + request.url.path)

    async def guarded(request: Request) -> Any:
        return await run_in_threadpool(current, request)

    async def posted(request: Request) -> tuple[Any, Any]:
        """The signed-in session and the form of a POST, or ``(None, None)`` when either is missing or forged."""
        sess = await guarded(request)
        if sess is None:
            return None, None
        form = await request.form(max_files=1, max_fields=20)
        if not csrf_ok(form.get("csrf_token"), sess.csrf):
            return sess, None
        return sess, form

    def csrf_refused(request: Request) -> Response:
        return Response(
            "The form has expired or did not come from this console (CSRF check failed): go back, reload the page and try again.",
            status_code=403,
            media_type="text/plain",
            headers=_headers(),
        )

    # -- sign-in ---------------------------------------------------------------

    def login_note() -> str | None:
        if model.password_generation(ctl) is None:
            return "No admin password is set yet: run 'licensor controller admin set-password' on the controller's host, then sign in here."
        return None

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> Response:
        note = await run_in_threadpool(login_note)
        return pages.render(request, "login.html", next=safe_next(next), username="admin", note=note, error=None, user=None)

    failures: dict[str, list[float]] = {}

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=5)
        user, pw, nxt = form_text(form, "username"), form.get("password"), safe_next(form_text(form, "next", 500))
        ip = request.client.host if request.client else "unknown"
        now = time.monotonic()
        recent = [t for t in failures.get(ip, []) if now - t < LOGIN_WINDOW]
        if len(recent) >= LOGIN_LIMIT:
            error = {"title": "Not signed in", "code": "rate_limited", "hint": f"too many failed sign-ins from {ip}: wait 15 minutes"}
            return pages.render(request, "login.html", 429, next=nxt, username=user, note=None, error=error, user=None)
        ok = isinstance(pw, str) and len(pw) <= 1024 and await run_in_threadpool(ctl.check_password, user, pw)
        gen = await run_in_threadpool(model.password_generation, ctl)
        if not ok or gen is None:
            failures[ip] = [*recent, now]
            if len(failures) > 10_000:  # many addresses: forget the oldest rather than grow without bound
                failures.pop(next(iter(failures)))
            error = {"title": "Not signed in", "code": "unauthorized", "hint": "the user name or password is wrong (the user is 'admin')"}
            note = await run_in_threadpool(login_note)
            return pages.render(request, "login.html", 401, next=nxt, username=user, note=note, error=error, user=None)
        failures.pop(ip, None)
        cookie = await run_in_threadpool(sessions().issue, "admin", gen)
        resp = redirect(nxt)
        resp.set_cookie(COOKIE, cookie, max_age=int(hours * 3600), httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return resp

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        _sess, form = await posted(request)
        if form is None and _sess is not None:
            return csrf_refused(request)
        resp = redirect("/login")
        resp.delete_cookie(COOKIE)
        return resp

    # -- pages -----------------------------------------------------------------

    @app.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        sess = await guarded(request)
        if sess is None:
            return to_login(request)

        def data() -> dict[str, Any]:
            ctx = page_context(sess)
            ctx["refusals"] = model.recent_refusals(ctl, 10)
            ctx["now"] = ctl.clock()
            return ctx

        return pages.render(request, "dashboard.html", page_title="Dashboard", **await run_in_threadpool(data))

    def license_context(sess: Any) -> dict[str, Any]:
        ctx = page_context(sess)
        ctx["history"] = ctl.svc.history()
        ctx["config"] = model.configuration(ctl)
        ctx["now"] = ctl.clock()
        return ctx

    async def license_page(request: Request, sess: Any, code: int = 200, **extra: Any) -> Response:
        ctx = await run_in_threadpool(license_context, sess)
        ctx.update(extra)
        ctx.setdefault("req", {"name": "", "email": "", "company": "", "nodes": "", "months": "12", "remote_clusters": "0"})
        return pages.render(request, "license.html", code, page_title="License", **ctx)

    @app.get("/settings/license", include_in_schema=False)
    async def license_view(request: Request, activated: str | None = None) -> Response:
        sess = await guarded(request)
        if sess is None:
            return to_login(request)
        flash = None
        if activated:
            flash = f"License {activated[:60]} activated: the console and the agents use it now."
        return await license_page(request, sess, flash=flash)

    @app.get("/settings/license/request", include_in_schema=False)
    async def request_form(request: Request) -> Response:
        sess = await guarded(request)
        if sess is None:
            return to_login(request)
        return await license_page(request, sess, open_request=True)

    @app.post("/settings/license/request", include_in_schema=False)
    async def make_request(request: Request) -> Response:
        sess, form = await posted(request)
        if sess is None:
            return to_login(request)
        if form is None:
            return csrf_refused(request)
        req = {k: form_text(form, k) for k in ("name", "email", "company", "nodes", "months", "remote_clusters")}
        try:
            nodes, months, remote = form_int(form, "nodes"), form_int(form, "months"), form_int(form, "remote_clusters", 0)
            if nodes is None or months is None or remote is None:
                raise FormError("nodes, months and remote clusters are whole numbers: fill them in")
            code, text = await run_in_threadpool(
                ctl.svc.request, Contact(req["name"], req["email"], req["company"]), nodes=nodes, months=months, remote_clusters=remote
            )
        except (LicensorError, FormError) as e:
            err = {"title": "No request code made", "code": e.code, "hint": e.hint}
            return await license_page(request, sess, 422, req=req, request_error=err, open_request=True)
        config = await run_in_threadpool(model.configuration, ctl)
        made = {
            "code": code,
            "file": text,
            "qr": qr_svg(code, "QR code of the request code"),
            "mailto": request_mailto(config, req, code),
        }
        return await license_page(request, sess, req=req, made=made, open_request=True)

    @app.post("/settings/license/request/download", include_in_schema=False)
    async def download_request(request: Request) -> Response:
        sess, form = await posted(request)
        if sess is None:
            return to_login(request)
        if form is None:
            return csrf_refused(request)
        code = form_text(form, "code", 16384)
        try:
            text = request_file(code, decode_request(code))
        except LicensorError as e:
            return Response(f"{e.code}: {e.hint}", status_code=400, media_type="text/plain", headers=_headers())
        headers = {**_headers(), "Content-Disposition": 'attachment; filename="license-request.txt"'}
        return Response(text, media_type="text/plain; charset=utf-8", headers=headers)

    @app.post("/settings/license/activate", include_in_schema=False)
    async def activate(request: Request) -> Response:
        sess, form = await posted(request)
        if sess is None:
            return to_login(request)
        if form is None:
            return csrf_refused(request)
        from ...web import upload_or_text

        pasted = form.get("key") if isinstance(form.get("key"), str) else ""
        try:
            text = await upload_or_text(form, "file", "key")
            if not text.strip():
                raise FormError("no license key was given: paste the key or the whole license file, or choose the file", "usage")
            act = await run_in_threadpool(ctl.activate, text)
        except (LicensorError, FormError) as e:
            err = {"title": "Not activated", "code": e.code, "hint": e.hint}
            return await license_page(request, sess, 422, activate_error=err, pasted=pasted)
        lic = act.verdict.license
        return redirect("/settings/license?activated=" + (lic.license_id if lic else ""))

    @app.get("/settings/configuration", include_in_schema=False)
    async def configuration(request: Request, saved: str | None = None) -> Response:
        sess = await guarded(request)
        if sess is None:
            return to_login(request)

        def data() -> dict[str, Any]:
            return {**page_context(sess), "config": model.configuration(ctl)}

        flash = "Configuration saved: new request codes carry the cluster name." if saved else None
        return pages.render(request, "configuration.html", page_title="Configuration", flash=flash, **await run_in_threadpool(data))

    @app.post("/settings/configuration", include_in_schema=False)
    async def save_configuration(request: Request) -> Response:
        sess, form = await posted(request)
        if sess is None:
            return to_login(request)
        if form is None:
            return csrf_refused(request)
        name, email = form_text(form, "cluster_name", 500), form_text(form, "vendor_email", 500)
        try:
            await run_in_threadpool(lambda: model.set_configuration(ctl, cluster_name=name, vendor_email=email))
        except LicensorError as e:
            ctx = await run_in_threadpool(page_context, sess)
            err = {"title": "Not saved", "code": e.code, "hint": e.hint}
            cfg = {"cluster_name": name, "vendor_email": email}
            return pages.render(request, "configuration.html", 422, page_title="Configuration", config=cfg, error=err, **ctx)
        return redirect("/settings/configuration?saved=1")

    def seats_page(kind: str, title: str) -> Any:
        async def view(request: Request) -> Response:
            sess = await guarded(request)
            if sess is None:
                return to_login(request)

            def data() -> dict[str, Any]:
                return {**page_context(sess), "items": ctl.seats(kind), "kind": kind}

            return pages.render(request, "seats.html", page_title=title, **await run_in_threadpool(data))

        return view

    app.add_api_route("/nodes", seats_page("node", "Nodes"), methods=["GET"], include_in_schema=False)
    app.add_api_route("/clusters", seats_page("cluster", "Remote clusters"), methods=["GET"], include_in_schema=False)

    @app.get("/about", include_in_schema=False)
    async def about(request: Request) -> Response:
        sess = await guarded(request)
        if sess is None:
            return to_login(request)

        def data() -> dict[str, Any]:
            return {**page_context(sess), "config": model.configuration(ctl)}

        ctx = await run_in_threadpool(data)
        return pages.render(request, "about.html", page_title="About", product_version=__version__, build_date=build_date(), **ctx)


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
