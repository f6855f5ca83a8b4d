"""A refused sign-in says the same words for a user name that does not exist and for a wrong password, on every way
in of both services: the controller's console and HTTP Basic, the issuer's console and ``POST /api/v1/login``.

The limit and the cost are tested in test_guessing.py (real processes); this checks the answers themselves, in process.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from licensor.controller.app import ControllerSettings, create_app
from licensor.server.logins import WRONG_CREDENTIALS
from licensor.testing import TestVendor
from tests.attack.test_guessing import ADMIN_PW, WRONG, set_admin_password
from tests.controller.conftest import Server as ControllerServer
from tests.inprocess import FACTOR_ENV, FACTORS, App, cli, issuer, ok

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


def test_controller_sign_in_page_names_no_command(database_url: str, tmp_path: Path) -> None:
    """Before any password is set, the sign-in page says who acts and where to read how, not which command to type."""
    pub = tmp_path / "vendor.pub"
    pub.write_text(TestVendor().keyring.to_text())
    ok(cli("controller", "init", "--trust", str(pub), "--data-dir", str(tmp_path), "--database-url", database_url, env=FACTOR_ENV))
    settings = ControllerSettings(database_url=database_url, factors=FACTORS)
    with App(create_app(settings)) as app, app.client() as c:
        page = c.get("/login").text
    assert "No admin password is set yet" in page and "set-password" not in page and "licensor controller admin" not in page


def test_issuer_sign_in_page_names_no_command(database_url: str) -> None:
    with issuer(database_url) as run, run.client() as c:
        page = c.get("/login").text
    assert "Admin users are made on the issuer" in page and "create-user" not in page and "licensor vendor" not in page
