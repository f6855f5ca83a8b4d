"""The license list at work: search by cluster name, filters, renewals due, pages and CSV, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from issuer_helpers import Server, ok
from sqlalchemy import event, update

from licensor.identity import InstallationKey
from licensor.issuer import store as s
from licensor.issuer.licenses import listing
from licensor.request import Contact, make_request
from licensor.terms import license_state

DAY = timedelta(days=1)


def code(cluster: str = "", company: str = "ACME", key: InstallationKey | None = None, product: str = "demo") -> str:
    key = key or InstallationKey.generate()
    contact = Contact("Ada Admin", "ada@example.com", company)
    factors = {"cluster": uuid.uuid4().hex}
    now = datetime.now(UTC)
    return make_request(
        key, product=product, version="1.0", contact=contact, nodes=3, months=12, cluster_name=cluster, factors=factors, now=now
    )


def issue(srv: Server, request_code: str, **terms: Any) -> dict[str, Any]:
    with srv.client() as c:
        r = c.post("/api/v1/licenses", json={"request_code": request_code, **terms})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def expiring_in(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def api(srv: Server, path: str, **params: Any) -> httpx.Response:
    with srv.client("reader") as c:
        r = c.get(path, params=params)
    assert r.status_code == 200, r.text
    return r


def ids(srv: Server, path: str = "/api/v1/licenses", **params: Any) -> set[str]:
    return {x["license_id"] for x in api(srv, path, **params).json()}


@contextmanager
def signed_in(srv: Server) -> Iterator[httpx.Client]:
    """A console client with a clerk's session cookie."""
    ok(srv.vendor("admin", "create-user", "clerk", "--password-stdin", input="a long clerk password\n"))
    with srv.client(None) as c:
        r = c.post("/api/v1/login", json={"username": "clerk", "password": "a long clerk password"})
        assert r.status_code == 200, r.text
        c.headers["Cookie"] = f"licensor_session={r.cookies['licensor_session']}"
        yield c


@pytest.fixture
def fleet(server: Server) -> dict[str, dict[str, Any]]:
    """Licenses in every state: due in 1, 10, 45 and 80 days, later, perpetual, superseded (due in 10), expired."""
    made = {
        "due1": issue(server, code("kyiv-x", "Dnipro LLC"), expires=expiring_in(1.5)),
        "due10": issue(server, code("berlin-prod", "Acme GmbH"), expires=expiring_in(10.5)),
        "due45": issue(server, code("paris-edge", "Bistro SA"), expires=expiring_in(45.5)),
        "due80": issue(server, code("oslo-1", "Fjord AS"), expires=expiring_in(80.5)),
        "later": issue(server, code("tokyo-main", "Sakura KK"), expires=expiring_in(200)),
        "perpetual": issue(server, code("lima-dr", "Andes SAC"), type="perpetual", plan="perpetual"),
    }
    key = InstallationKey.generate()
    made["old"] = issue(server, code("rome-a", "Roma Srl", key), expires=expiring_in(10.5))
    made["new"] = issue(server, code("rome-a", "Roma Srl", key), expires=expiring_in(300))
    made["lapsed"] = issue(server, code("cairo-b", "Nile Co"), expires=expiring_in(5))
    store = s.Store(server.database_url)
    with store.engine.begin() as c:
        lapsed = datetime.now(UTC) - 3 * DAY
        c.execute(update(s.licenses).where(s.licenses.c.license_id == made["lapsed"]["license_id"]).values(expires=lapsed))
    store.engine.dispose()
    return {k: v for k, v in made.items()}


def test_search_finds_by_cluster_name_customer_installation_and_id(server: Server, fleet: dict[str, dict[str, Any]]) -> None:
    """``q`` matches part of a cluster name, customer, installation id or license id, in any case; % and _ are plain text."""
    due10 = fleet["due10"]
    assert ids(server, q="BERLIN-pr") == {due10["license_id"]}
    assert ids(server, q="acme gm") == {due10["license_id"]}
    assert ids(server, q=due10["installation_id"][3:12]) == {due10["license_id"]}
    assert ids(server, q=due10["license_id"][:13]) == {due10["license_id"]}
    assert ids(server, q="rome-a") == {fleet["old"]["license_id"], fleet["new"]["license_id"]}
    assert ids(server, q="%") == set() and ids(server, q="_") == set()
    with signed_in(server) as c:
        page = c.get("/licenses", params={"q": "berlin"})
        assert page.status_code == 200
        assert f'/licenses/{due10["license_id"]}"' in page.text and "berlin-prod" in page.text
        assert fleet["due45"]["license_id"] not in page.text
        assert "1 license found" in page.text


def test_state_filter_agrees_with_license_state(server: Server, fleet: dict[str, dict[str, Any]]) -> None:
    """Each state filter (in SQL) lists exactly the licenses whose record (``terms.license_state``) has that state."""
    everything = api(server, "/api/v1/licenses").json()
    assert {x["state"] for x in everything} == {"current", "expiring soon", "expired", "superseded"}
    for state in ("current", "expiring soon", "expired", "superseded"):
        expected = {x["license_id"] for x in everything if x["state"] == state}
        assert ids(server, state=state) == expected, state
    for x in everything:
        expires = datetime.fromisoformat(x["expires"].replace("Z", "+00:00")) if x["expires"] else None
        assert x["state"] == license_state(expires, x["superseded_by"], datetime.now(UTC))
    assert ids(server, type="perpetual") == {fleet["perpetual"]["license_id"]}
    assert ids(server, state="superseded") == {fleet["old"]["license_id"]}
    with signed_in(server) as c:
        page = c.get("/licenses", params={"state": "expired"})
        assert fleet["lapsed"]["license_id"] in page.text and fleet["due10"]["license_id"] not in page.text


def test_renewals_due_in_30_60_90_days(server: Server, fleet: dict[str, dict[str, Any]]) -> None:
    """Only live keys expiring within the window: not the superseded key, not the perpetual one, not the lapsed one."""
    f = {k: v["license_id"] for k, v in fleet.items()}
    want = {30: [f["due1"], f["due10"]], 60: [f["due1"], f["due10"], f["due45"]], 90: [f["due1"], f["due10"], f["due45"], f["due80"]]}
    for days, expected in want.items():
        got = api(server, "/api/v1/renewals", days=days)
        assert [x["license_id"] for x in got.json()] == expected, days
        assert got.headers["X-Total-Count"] == str(len(expected))
        assert ids(server, due_days=days) == set(expected)
        assert [x["days_left"] for x in got.json()][:2] == [1, 10]
    listed = json.loads(ok(server.vendor("list", "--due", "60", "--json")).out)
    assert [x["license_id"] for x in listed] == want[60] and listed[1]["cluster_name"] == "berlin-prod"
    exported = list(csv.DictReader(io.StringIO(ok(server.vendor("list", "--due", "90", "--csv")).out)))
    assert [x["license_id"] for x in exported] == want[90]
    assert {x["license_id"] for x in json.loads(ok(server.vendor("list", "--state", "expired", "--json")).out)} == {f["lapsed"]}
    with signed_in(server) as c:
        page = c.get("/renewals", params={"days": 60})
        assert page.status_code == 200
        assert "3 licenses expiring within 60 days" in page.text
        assert f'href="/licenses/{f["due10"]}#renew-h"' in page.text and f["due45"] in page.text
        assert "berlin-prod" in page.text and "<td>1 day</td>" in page.text and "<td>10 days</td>" in page.text and "45 days" in page.text
        assert f["old"] not in page.text and f["due80"] not in page.text
        assert "Next 30 days (2)" in page.text and "Next 90 days (4)" in page.text
        # A link typed or cut short is read leniently: the first window, the first page, no filter.
        assert "Renewals due within 30 days" in c.get("/renewals", params={"days": "many", "page": "x"}).text
        lenient = c.get("/licenses", params={"state": "bogus", "type": "gratis", "page": "-4"})
        assert lenient.status_code == 200 and "9 licenses</h2>" in lenient.text
    with server.client("reader") as c:
        assert c.get("/api/v1/licenses", params={"state": "bogus"}).status_code == 422


def test_csv_is_the_filtered_list_and_safe_in_a_spreadsheet(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's and the console's CSV hold exactly the filtered rows; a formula in a name is defused; beyond the cap,
    a refusal in words, never a file cut short."""
    evil = issue(server, code("=cmd|' /C calc'!A0", "@SUM(1+1)"), expires=expiring_in(20))
    plain = issue(server, code("plain", "-Minus Ltd"), expires=expiring_in(120))
    r = api(server, "/api/v1/licenses.csv", due_days=30)
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="renewals-due-30-days-' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["license_id"] for x in rows] == [evil["license_id"]]
    assert rows[0]["customer"] == "'@SUM(1+1)" and rows[0]["cluster_name"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["days_left"] == "19" and rows[0]["state"] == "expiring soon"
    everything = list(csv.DictReader(io.StringIO(api(server, "/api/v1/licenses.csv").text)))
    assert {x["license_id"] for x in everything} == {evil["license_id"], plain["license_id"]}
    assert {x["customer"] for x in everything} == {"'@SUM(1+1)", "'-Minus Ltd"}
    with signed_in(server) as c:
        got = c.get("/licenses.csv", params={"q": "plain"})
        assert got.status_code == 200 and 'filename="licenses-' in got.headers["content-disposition"]
        assert [x["license_id"] for x in csv.DictReader(io.StringIO(got.text))] == [plain["license_id"]]
        page = c.get("/licenses", params={"q": "plain"})
        assert 'href="/licenses.csv?q=plain"' in page.text
        monkeypatch.setattr(listing, "MAX_EXPORT", 1)
        refused = c.get("/licenses.csv")
        assert refused.status_code == 400 and "holds 2 licenses, more than the 1 one export may hold" in refused.text
        assert c.get("/licenses.csv", params={"q": "plain"}).status_code == 200
    with server.client("reader") as r:
        data = r.get("/api/v1/licenses.csv").json()
        assert data["code"] == "usage" and "narrow it with a search or a filter" in data["hint"]


# -- at fleet size: rows written straight into the database ---------------------------------------------


def seed(url: str, n: int, now: datetime) -> None:
    """``n`` installations of 40 customers, each with a live key expiring 1 to ``n // 10`` days on, every 10th superseded."""
    store = s.Store(url)
    customers = [{"id": i + 1, "name": f"Customer {i:02}", "email": "", "contact": "", "created_at": now} for i in range(40)]
    installations, licenses = [], []
    for i in range(n):
        iid = f"inst-{i:06}"
        cid = 1 + i % 40
        installations.append({
            "installation_id": iid, "public_key": b"k" * 32, "product": "demo", "version": "1", "customer_id": cid,
            "cluster_name": f"cluster-{i:06}", "factors": "{}", "contact_email": "", "first_seen": now, "last_seen": now,
        })  # fmt: skip
        issued = now - timedelta(minutes=i)
        licenses.append({
            "license_id": f"lic-{i:06}", "installation_id": iid, "serial": 1, "customer_id": cid, "customer": f"Customer {cid - 1:02}",
            "product": "demo", "plan": None, "type": "subscription", "nodes": 5, "remote_clusters": 0, "features": "[]",
            "grace_days": 0, "issued_at": issued, "not_before": issued, "expires": now + timedelta(days=1 + i % (n // 10), hours=1),
            "maintenance_until": now, "kid": "k1", "token": "t" * 600, "kind": "issue", "supersedes": None,
            "superseded_by": "lic-x" if i % 10 == 0 else None, "issued_by": "test",
        })  # fmt: skip
    with store.engine.begin() as c:
        c.execute(s.customers.insert(), customers)
        c.execute(s.installations.insert(), installations)
        c.execute(s.licenses.insert(), licenses)
    store.engine.dispose()


def test_fleet_size_lists_page_by_page_in_sql(server: Server) -> None:
    """5,000 licenses: the page reads 50 rows (never the token), pages are stable, the CSV holds every match."""
    n = 5000
    seed(server.database_url, n, datetime.now(UTC))
    statements: list[str] = []
    assert server.app is not None
    engine = server.app.app.state.service.store.engine

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    with signed_in(server) as c:
        started = time.perf_counter()
        page = c.get("/licenses", params={"state": "current", "page": "3"})
        page_s = time.perf_counter() - started
        started = time.perf_counter()
        exported = c.get("/licenses.csv")
        csv_s = time.perf_counter() - started
        renewals = c.get("/renewals", params={"days": "90"})
    event.remove(engine, "before_cursor_execute", seen)
    print(f"\n{server.database_url.split(':')[0]}: {n} licenses, list page {page_s * 1000:.0f} ms, CSV {csv_s * 1000:.0f} ms")
    assert page.status_code == 200 and exported.status_code == 200 and renewals.status_code == 200
    listed = [x for x in statements if "FROM licenses" in x and "count(" not in x and "DISTINCT" not in x]
    assert listed and all("licenses.token" not in x for x in listed)
    assert any("LIMIT" in x for x in listed)
    assert len(list(csv.DictReader(io.StringIO(exported.text)))) == n
    assert "Page 3 of" in page.text and 'href="/licenses?state=current&amp;page=4"' in page.text
    live = [i for i in range(n) if i % 10]  # every 10th is superseded; the others expire 1 + i % 500 days and an hour on

    def within(days: int) -> int:
        return sum(1 for i in live if 1 + i % (n // 10) < days)

    assert f"{within(90)} licenses expiring within 90 days" in renewals.text
    assert f"Page 1 of {-(-within(90) // 50)}" in renewals.text
    first, second = (api(server, "/api/v1/licenses", limit=1000, offset=o, state="current").json() for o in (0, 1000))
    both = [x["license_id"] for x in first + second]
    assert len(both) == len(set(both)) == 2000
    total = api(server, "/api/v1/licenses", limit=1, state="expiring soon").headers["X-Total-Count"]
    assert int(total) == within(30)
    assert f"Page 3 of {-(-(len(live) - within(30)) // 50)}" in page.text
