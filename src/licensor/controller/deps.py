"""What the controller's routes depend on: the controller of the app, and who is calling (``Annotated`` dependencies).

Admin: ``Authorization: Bearer <admin token>`` or HTTP Basic ``admin:<password>``.  Agents: ``Authorization:
Bearer <join token>``; a join token cannot call admin routes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Path, Request

from ..errors import Forbidden, Unauthorized
from .runtime import Controller

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$"


def controller(request: Request) -> Controller:
    """The controller ``create_app`` made for this app."""
    ctl: Controller = request.app.state.controller
    return ctl


def role(ctl: Controller, request: Request) -> str | None:
    """``admin``, ``join`` (an agent) or None for the request's credentials.  A Basic password is hashed: call it in a thread."""
    scheme, _, cred = request.headers.get("authorization", "").partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return ctl.accounts.token_role(cred.strip())
    if scheme == "basic":
        try:
            user, _, pw = base64.b64decode(cred.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        # The console's sign-in limit holds here too: Basic is one more way to guess the same password.
        return "admin" if ctl.accounts.login(user, pw, request.client.host if request.client else "unknown") else None
    return None


def _unauthorized(what: str) -> Unauthorized:
    return Unauthorized(
        f"This endpoint needs {what}: send 'Authorization: Bearer <token>' "
        "(admins: create a token with 'licensor controller admin token'; agents: 'licensor controller join-token')"
    )


async def admin(request: Request) -> str:
    found = await asyncio.to_thread(role, controller(request), request)
    if found is None:
        raise _unauthorized("admin credentials")
    if found != "admin":
        raise Forbidden("A join token can only join, heartbeat and leave: admin endpoints need an admin token or the admin password")
    return found


async def agent(request: Request) -> str:
    """An agent's join token or admin credentials; a token checked a moment ago is answered from memory."""
    ctl = controller(request)
    header = request.headers.get("authorization", "")
    found = ctl.accounts.cached_role(header[7:].strip()) if header[:7].lower() == "bearer " else None
    if found is None:
        found = await asyncio.to_thread(role, ctl, request)
    if found is None:
        raise _unauthorized("a join token or admin credentials")
    return found


Ctl = Annotated[Controller, Depends(controller)]
Admin = Annotated[str, Depends(admin)]
Agent = Annotated[str, Depends(agent)]
SeatId = Annotated[str, Path(pattern=ID_PATTERN, max_length=200)]


def serve_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Add the routers' routes to ``app`` as its own: ``include_router`` would add one lazy entry per router, which hides
    the routes from ``app.routes`` (the route table tests and the OpenAPI check read)."""
    for router in routers:
        app.router.routes.extend(router.routes)
