"""The gate both web consoles put in front of their views: sign-in, CSRF-checked forms, sign-out.

A view states only what is its own::

    @app.post("/keys/rotate", include_in_schema=False)
    @console.form
    async def rotate(request: Request, p: Principal, form: FormData) -> Response: ...

A ``console.page`` view gets the signed-in user after ``request`` (nobody
signed in: the browser goes to the sign-in page, then back).  A
``console.form`` view also gets the POSTed form, its CSRF token checked (a
missing or forged token: 403, nothing changes).  Path and query parameters
follow and are declared as in any FastAPI view; every annotation of the view
must name something its module defines or imports (FastAPI reads them).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from ..errors import LicensorError
from . import Pages, csrf_ok, form_text, plain, redirect, safe_next, set_session_cookie


class SignedIn(Protocol):
    """Whoever a console's session names: all the gate needs is the session's CSRF token."""

    @property
    def csrf(self) -> str | None: ...


U = TypeVar("U", bound=SignedIn)
View = Callable[..., Awaitable[Response]]

CSRF_REFUSED = "The form has expired or did not come from this console (CSRF check failed): go back, reload the page and try again."


@dataclass(frozen=True)
class LoginForm:
    """The sign-in form as posted."""

    username: str
    password: Any  # as posted: a string only if the browser sent one
    next: str  # where to go once signed in: a path on this site
    ip: str


class Console(Generic[U]):
    """One console's sign-in gate.

    ``user(request)`` says who the request's session cookie names (``None``:
    nobody, or the session is over); ``cookie`` is that cookie's name; ``home``
    is where a sign-in goes without a ``next`` page; sessions last ``hours``;
    a POSTed form may have ``max_fields`` fields (and one file).
    """

    def __init__(
        self, pages: Pages, *, user: Callable[[Request], Awaitable[U | None]], cookie: str, home: str, hours: float, max_fields: int
    ):
        self.pages, self.user, self.cookie, self.home, self.hours, self.max_fields = pages, user, cookie, home, hours, max_fields

    @staticmethod
    def to_login(request: Request) -> Response:
        return redirect("/login?next=" + request.url.path)

    @staticmethod
    def csrf_refused() -> Response:
        return plain(CSRF_REFUSED, 403)

    async def posted(self, request: Request) -> tuple[U | None, FormData | None]:
        """The signed-in user and the form of a POST: ``(None, None)`` when nobody is signed in, ``(user, None)`` when the
        form's CSRF token is missing or forged."""
        user = await self.user(request)
        if user is None:
            return None, None
        form = await request.form(max_files=1, max_fields=self.max_fields)
        if not csrf_ok(form.get("csrf_token"), user.csrf):
            return user, None
        return user, form

    def page(self, view: View) -> View:
        """``view(request, user, **params)`` for a signed-in user; the sign-in page for anyone else."""

        async def gate(request: Request, **params: Any) -> Response:
            user = await self.user(request)
            if user is None:
                return self.to_login(request)
            return await view(request, user, **params)

        return _standing_for(view, gate, injected=1)

    def form(self, view: View) -> View:
        """``view(request, user, form, **params)`` for a signed-in user's form with the right CSRF token."""

        async def gate(request: Request, **params: Any) -> Response:
            user, form = await self.posted(request)
            if user is None:
                return self.to_login(request)
            if form is None:
                return self.csrf_refused()
            return await view(request, user, form, **params)

        return _standing_for(view, gate, injected=2)

    # -- sign-in and sign-out -------------------------------------------------------

    async def login_form(self, request: Request, *, username_limit: int) -> LoginForm:
        form = await request.form(max_files=0, max_fields=5)
        username, password, nxt = form_text(form, "username", username_limit), form.get("password"), form_text(form, "next", 500)
        return LoginForm(username, password, safe_next(nxt, self.home), request.client.host if request.client else "unknown")

    def login_page(
        self, request: Request, status_code: int = 200, /, *, next: str, username: str, note: str | None = None, error: Any = None
    ) -> Response:
        """The sign-in page; ``next`` is checked to be a path on this site."""
        return self.pages.render(
            request, "login.html", status_code, next=safe_next(next, self.home), username=username, note=note, error=error, user=None
        )

    def refused(self, request: Request, e: LicensorError, /, *, next: str, username: str) -> Response:
        """The sign-in page for a sign-in the login limit refused (``e``: a ``rate_limited`` error), with ``Retry-After``."""
        error = {"title": "Not signed in", "code": e.code, "hint": e.hint}
        resp = self.login_page(request, 429, next=next, username=username, error=error)
        if isinstance(e.details.get("retry_after"), int):
            resp.headers["Retry-After"] = str(e.details["retry_after"])
        return resp

    def signed_in(self, nxt: str, cookie: str, *, secure: bool) -> Response:
        """On to ``nxt`` with the new session's cookie (``secure``: sent over HTTPS only)."""
        resp = redirect(nxt)
        set_session_cookie(resp, self.cookie, cookie, hours=self.hours, secure=secure)
        return resp

    async def sign_out(self, request: Request, forget: Callable[[U, str], object] | None = None) -> Response:
        """Back to the sign-in page without the session cookie; ``forget(user, cookie)`` (run in a thread) ends the session
        where it is kept.  Nobody signed in: nothing to check; a forged form: 403."""
        user, form = await self.posted(request)
        if user is not None and form is None:
            return self.csrf_refused()
        cookie = request.cookies.get(self.cookie)
        if user is not None and cookie and forget is not None:
            await run_in_threadpool(forget, user, cookie)
        resp = redirect("/login")
        resp.delete_cookie(self.cookie, path="/")
        return resp


def _standing_for(view: View, gate: View, *, injected: int) -> View:
    """``gate`` dressed as ``view`` for FastAPI: the view's name and parameters, less the ``injected`` ones after ``request``.

    The annotations are evaluated here (in the view's module), so FastAPI reads the path and query parameters as
    the view declares them."""
    sig = inspect.signature(view, eval_str=True)
    params = list(sig.parameters.values())
    if len(params) <= injected or params[0].name != "request":
        raise TypeError(f"{view.__qualname__} must take (request, {'user, form' if injected == 2 else 'user'}, …)")
    functools.update_wrapper(gate, view, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    gate.__signature__ = sig.replace(parameters=[params[0], *params[1 + injected :]])  # type: ignore[attr-defined]
    return gate


__all__ = ["CSRF_REFUSED", "Console", "LoginForm", "SignedIn"]
