"""A refused sign-in says the same words for a user name that does not exist and for a wrong password, on every way
in of both services: the controller's console and HTTP Basic, the issuer's console and ``POST /api/v1/login``.

The limit and the cost are tested in test_guessing.py (real processes); this checks the answers themselves, in process.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from licensor.server.logins import WRONG_CREDENTIALS
from tests.attack.test_guessing import ADMIN_PW, WRONG, set_admin_password
from tests.controller.conftest import Server as ControllerServer
from tests.inprocess import issuer

#: The user name echoed back in the sign-in form is the only difference two refused console sign-ins may show.
NAME = "USER-NAME"


def _page(r: httpx.Response, user: str) -> str:
    assert r.status_code == 401, (r.status_code, r.text[:300])
    return r.text.replace(f'value="{user}"', f'value="{NAME}"')


def test_controller_answers_alike(database_url: str, free_port: int, tmp_path: Path) -> None:
    srv = ControllerServer(database_url, free_port, tmp_path)
    set_admin_password(database_url, tmp_path)
    srv.start()
    try:
        with srv.client() as c:
            pages = {u: _page(c.post("/login", data={"username": u, "password": WRONG, "next": "/"}), u) for u in ("admin", "nobody")}
            basic = {u: c.get("/api/v1/license/history", auth=(u, WRONG)) for u in ("admin", "nobody")}
            assert c.post("/login", data={"username": "admin", "password": ADMIN_PW, "next": "/"}).status_code == 303
    finally:
        srv.stop()
    assert pages["admin"] == pages["nobody"] and WRONG_CREDENTIALS in pages["admin"]
    assert "the user is" not in pages["admin"]  # it named the one user that exists
    assert [r.status_code for r in basic.values()] == [401, 401]
    assert basic["admin"].content == basic["nobody"].content and basic["admin"].headers.get("www-authenticate") == basic[
        "nobody"
    ].headers.get("www-authenticate")


def test_issuer_answers_alike(database_url: str) -> None:
    with issuer(database_url) as run, run.client() as c:
        pages = {u: _page(c.post("/login", data={"username": u, "password": WRONG, "next": "/"}), u) for u in ("ada", "nobody")}
        api = {u: c.post("/api/v1/login", json={"username": u, "password": WRONG}) for u in ("ada", "nobody")}
    assert pages["ada"] == pages["nobody"] and WRONG_CREDENTIALS in pages["ada"]
    assert [r.status_code for r in api.values()] == [401, 401]
    assert api["ada"].content == api["nobody"].content
    assert api["ada"].json() == {"code": "unauthorized", "hint": WRONG_CREDENTIALS}
