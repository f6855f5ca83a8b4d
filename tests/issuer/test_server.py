"""The issuer as ``licensor vendor serve`` runs it, in process, with controllers driven by their CLI (SQLite and PostgreSQL)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from issuer_helpers import Controller, Server, ok, start_server
from tests.helpers import free_port

from licensor.license import add_months


def issue(srv: Server, request: str, **terms: Any) -> dict[str, Any]:
    with srv.client() as c:
        r = c.post("/api/v1/licenses", json={"request_code": request, **terms})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def public_set(srv: Server) -> str:
    with srv.client("reader") as c:
        r = c.get("/api/v1/keys/public")
    assert r.status_code == 200, r.text
    return r.text


def when(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class TestIssueAndActivate:
    def test_request_from_controller_issued_through_api_activates(self, server: Server, controllers: Any) -> None:
        """Must show 1: a controller's request code, issued through the API, activates on that controller."""
        ctl: Controller = controllers()
        inst = ctl.init(public_set(server))
        lic = issue(server, ctl.request(nodes=7, months=6, remote_clusters=2), features=["sso"])
        assert (lic["installation_id"], lic["serial"], lic["nodes"], lic["remote_clusters"]) == (inst, 1, 7, 2)
        assert lic["customer"] == "ACME" and lic["features"] == ["sso"] and lic["type"] == "subscription"
        assert when(lic["expires"]) == add_months(when(lic["issued_at"]), 6)  # what the request asked
        proc = ok(ctl.activate(lic["file"]))
        assert lic["license_id"] in proc.stdout
        st = ctl.status()
        assert (st["state"], st["serial"], st["nodes"], st["license_id"]) == ("valid", 1, 7, lic["license_id"])
        # The file can be downloaded again, byte for byte.
        with server.client("reader") as c:
            assert c.get(f"/api/v1/licenses/{lic['license_id']}/file").text == lic["file"]

    def test_same_through_the_cli(self, server: Server, controllers: Any, tmp_path: Path) -> None:
        """Must show 1 (CLI): 'licensor vendor issue' on the server's database; the file activates; the API lists it."""
        ctl: Controller = controllers()
        pub = tmp_path / "pub"
        ok(server.vendor("public-key", "--out", str(pub)))
        inst = ctl.init(pub.read_text())
        req = tmp_path / "req.txt"
        req.write_text(ctl.request(nodes=3))
        out = tmp_path / "lic.txt"
        proc = ok(server.vendor("issue", str(req), "--nodes", "4", "--type", "perpetual", "--feature", "ha", "--out", str(out)))
        assert "serial 1" in proc.stderr
        ok(ctl.activate(out.read_text()))
        st = ctl.status()
        assert (st["state"], st["type"], st["nodes"], st["expires"], st["features"]) == ("valid", "perpetual", 4, None, ["ha"])
        with server.client("reader") as c:
            rows = c.get("/api/v1/licenses", params={"installation_id": inst}).json()
        assert [(r["license_id"], r["issued_by"].split(":")[0]) for r in rows] == [(st["license_id"], "cli")]


class TestRenewRehost:
    def test_renew_and_rehost_serials_dates_supersession(self, server: Server, controllers: Any) -> None:
        """Must show 2: renewal is serial 2 from the old end; rehost supersedes; the older key is refused as superseded."""
        a: Controller = controllers("a")
        pub = public_set(server)
        a.init(pub)
        first = issue(server, a.request(nodes=5, months=12))
        ok(a.activate(first["file"]))
        with server.client() as c:
            r = c.post(f"/api/v1/licenses/{first['license_id']}/renew", json={})
            assert r.status_code == 201, r.text
            renewed = r.json()
        assert (renewed["serial"], renewed["installation_id"], renewed["supersedes"]) == (2, first["installation_id"], first["license_id"])
        assert when(renewed["expires"]) == add_months(when(first["expires"]), 12)  # extended from the old end, not from today
        assert renewed["nodes"] == 5
        ok(a.activate(renewed["file"]))
        assert a.status()["serial"] == 2
        refused = a.activate(first["file"])
        assert refused.returncode == 1 and "superseded" in refused.stderr
        assert a.status()["serial"] == 2

        b: Controller = controllers("b")
        b_inst = b.init(pub)
        with server.client() as c:
            r = c.post(f"/api/v1/licenses/{renewed['license_id']}/rehost", json={"request_code": b.request()})
            assert r.status_code == 201, r.text
            moved = r.json()
            old = c.get(f"/api/v1/licenses/{renewed['license_id']}").json()
            again = c.post(f"/api/v1/licenses/{renewed['license_id']}/renew", json={})
        assert (moved["installation_id"], moved["serial"], moved["supersedes"], moved["kind"]) == (
            b_inst,
            1,
            renewed["license_id"],
            "rehost",
        )
        assert (moved["expires"], moved["maintenance_until"], moved["nodes"]) == (renewed["expires"], renewed["maintenance_until"], 5)
        assert old["superseded_by"] == moved["license_id"]
        assert again.status_code == 409 and again.json()["code"] == "conflict"
        ok(b.activate(moved["file"]))
        assert b.status()["state"] == "valid"
        # The new installation's key does not fit the old one.
        wrong = a.activate(moved["file"])
        assert wrong.returncode == 1 and "wrong_installation" in wrong.stderr


class TestRotation:
    def test_old_and_new_keys_verify_until_the_old_is_removed(self, server: Server, controllers: Any) -> None:
        """Must show 3: keys of the old and new signing key verify on a controller trusting the set; removed -> unknown_key."""
        one, two, three = controllers("one"), controllers("two"), controllers("three")
        pub_a = public_set(server)
        one.init(pub_a)
        three.init(pub_a)
        lic_one = issue(server, one.request())
        lic_three = issue(server, three.request())
        ok(three.activate(lic_three["file"]))
        with server.client() as c:
            rot = c.post("/api/v1/keys/rotate").json()
        kid_a, kid_b = lic_one["kid"], rot["active"]
        assert rot["retired"] == [kid_a] and kid_b != kid_a
        pub_ab = public_set(server)
        assert kid_a in pub_ab and kid_b in pub_ab

        two.init(pub_ab)
        lic_two = issue(server, two.request())
        assert lic_two["kid"] == kid_b
        one.trust(pub_ab)
        ok(one.activate(lic_one["file"]))  # signed by the retired key
        ok(two.activate(lic_two["file"]))  # signed by the new key
        assert one.status()["state"] == two.status()["state"] == "valid"

        with server.client() as c:
            assert c.delete(f"/api/v1/keys/{kid_a}").status_code == 204
            keys = {k["kid"]: k["state"] for k in c.get("/api/v1/keys").json()}
            busy = c.delete(f"/api/v1/keys/{kid_b}")
        assert keys == {kid_a: "removed", kid_b: "active"}
        assert busy.status_code == 409
        pub_b = public_set(server)
        assert kid_a not in pub_b and kid_b in pub_b
        three.trust(pub_b)
        assert three.status()["code"] == "unknown_key"
        again = three.activate(lic_three["file"])
        assert again.returncode == 1 and "unknown_key" in again.stderr
        two.trust(pub_b)
        assert two.status()["state"] == "valid"


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


class TestMail:
    def test_license_mailed_over_smtp_and_attachment_activates(self, tmp_path: Path, database_url: str, controllers: Any) -> None:
        """Must show 4: an SMTP server on loopback receives the license; its attachment activates."""
        from aiosmtpd.controller import Controller as SMTPController

        inbox = _Inbox()
        smtp_port = free_port()
        smtpd = SMTPController(inbox, hostname="127.0.0.1", port=smtp_port)
        smtpd.start()
        env = {"LICENSOR_SMTP_HOST": "127.0.0.1", "LICENSOR_SMTP_PORT": str(smtp_port), "LICENSOR_SMTP_FROM": "licensing@vendor.example"}
        srv = start_server(tmp_path / "vendor", database_url, env=env)
        try:
            ctl: Controller = controllers()
            ctl.init(public_set(srv))
            lic = issue(srv, ctl.request(nodes=9))
            with srv.client() as c:
                r = c.post(f"/api/v1/licenses/{lic['license_id']}/send", json={})
            assert r.status_code == 200, r.text
            assert r.json()["to"] == "ada@example.com"
            ok(srv.vendor("send", lic["license_id"], "--to", "ops@acme.example", env=env))
        finally:
            srv.stop()
            smtpd.stop()
        assert len(inbox.messages) == 2
        msgs = [email.message_from_bytes(m, policy=email.policy.default) for m in inbox.messages]
        assert [m["To"] for m in msgs] == ["ada@example.com", "ops@acme.example"]
        msg = msgs[0]
        assert isinstance(msg, EmailMessage)
        assert msg["From"] == "licensing@vendor.example" and "ACME" in msg["Subject"]
        body = msg.get_body(("plain",))
        assert body is not None and "Nodes         9" in body.get_content()
        [att] = list(msg.iter_attachments())
        name = f"acme-{lic['installation_id'].lower()}-serial1.lic"  # the request code named no cluster: its installation id
        assert att.get_filename() == name and f"licensor controller activate {name}" in body.get_content()
        text = att.get_content()
        assert text == lic["file"]
        ok(ctl.activate(text))
        assert ctl.status()["license_id"] == lic["license_id"]


class TestAuth:
    def _routes(self, srv: Server) -> list[tuple[str, str]]:
        with srv.client(None) as c:
            spec = c.get("/openapi.json").json()
        return [
            (m.upper(), p.replace("{", "").replace("}", "")) for p, ops in spec["paths"].items() for m in ops if p.startswith("/api/v1/")
        ]

    def test_every_endpoint_refuses_anonymous_and_unscoped_callers(self, server: Server) -> None:
        """Must show 6: no route answers without a caller; a token without the scope gets 403."""
        routes = self._routes(server)
        assert len(routes) >= 20
        with server.client(None) as anon, server.client("usage") as usage_only, server.client("reader") as reader:
            for method, path in routes:
                if path == "/api/v1/login":
                    continue
                r = anon.request(method, path, json={})
                assert r.status_code == 401 and r.json()["code"] == "unauthorized", (method, path, r.text)
                bad = anon.request(method, path, json={}, headers={"Authorization": "Bearer lsr_not-a-token"})
                assert bad.status_code == 401, (method, path)
                if (method, path) != ("POST", "/api/v1/usage-reports"):
                    r = usage_only.request(method, path, json={})
                    assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path, r.text)
                if method != "GET" and path != "/api/v1/logout" and path != "/api/v1/requests/inspect":
                    r = reader.request(method, path, json={})
                    assert r.status_code == 403, (method, path, r.text)
        # Revoked tokens stop working.
        tokens = ok(server.vendor("token", "list")).stdout
        assert server.tokens["reader"] not in tokens  # only hashes are stored
        import json

        reader_id = next(t["id"] for t in json.loads(tokens) if t["name"] == "reader")
        ok(server.vendor("token", "revoke", str(reader_id)))
        with server.client("reader") as reader:
            assert reader.get("/api/v1/licenses").status_code == 401

    def test_login_session_csrf_and_rate_limit(self, server: Server) -> None:
        """Must show 6: sessions are Secure/HttpOnly/SameSite=Strict with CSRF; failed logins are rate limited."""
        ok(server.vendor("admin", "create-user", "ada", "--password-stdin", input="correct horse battery staple\n"))
        with server.client(None) as c:
            r = c.post("/api/v1/login", json={"username": "ada", "password": "correct horse battery staple"})
            assert r.status_code == 200, r.text
            cookie_header = r.headers["set-cookie"]
            for attr in ("HttpOnly", "Secure", "SameSite=strict"):
                assert attr.lower() in cookie_header.lower()
            session, csrf = r.cookies["licensor_session"], r.json()["csrf_token"]
            # Secure cookies are not sent over plain HTTP by clients; send it by hand here.
            h = {"Cookie": f"licensor_session={session}"}
            assert c.get("/api/v1/session", headers=h).json()["actor"] == "user:ada"
            no_csrf = c.post("/api/v1/keys/rotate", headers=h)
            assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["hint"]
            assert c.post("/api/v1/keys/rotate", headers={**h, "X-CSRF-Token": csrf}).status_code == 200
            for _ in range(5):
                bad = c.post("/api/v1/login", json={"username": "ada", "password": "wrong password!!"})
                assert bad.status_code == 401
            limited = c.post("/api/v1/login", json={"username": "ada", "password": "correct horse battery staple"})
            assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
            # Form posts log in too (the web console's login form).
            ok(server.vendor("admin", "create-user", "bob", "--password-stdin", input="another long password\n"))
            form = c.post("/api/v1/login", data={"username": "bob", "password": "another long password"})
            assert form.status_code == 200, form.text
        with server.client("reader") as reader:
            assert reader.get("/api/v1/licenses").status_code == 200
        audit = ok(server.vendor("audit", "--json", "--limit", "200")).stdout
        for action in ('"login"', '"login.failed"', '"login.rate_limited"', '"key.rotate"', '"token.use"'):
            assert action in audit
