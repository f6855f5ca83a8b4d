"""The seat hot path (``seats/hot.py``) answers exactly what the routes answer, and hands the rest to them.

Each case runs twice on the same app: through the hot path, and with it taken out (the whole app alone, as before
it existed), on seat ids of its own (of one length: a parse error names a column), and the two answers must
match: status, body (the seat ids and secrets put aside), content type and length.  A spy in front of the router
records which joins and heartbeats reached it, so each case also shows which of the two answered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from licensor.controller.seats.hot import HotPath, Reraise, _fits, route
from licensor.errors import Unavailable

from .conftest import Server

Send = Callable[[httpx.Client, str], httpx.Response]
#: (name, how the case calls, whether the hot path answers it itself)
Case = tuple[str, Send, bool]


def _join(kind: str, body: Any, secret: str = "", raw: bytes | None = None, token: str | None = None) -> Send:
    def send(c: httpx.Client, sid: str) -> httpx.Response:
        headers = {"x-seat-secret": secret} if secret else {}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        if raw is not None:
            return c.post(f"/api/v1/{kind}s/join", content=raw.replace(b"SID", sid.encode()), headers=headers)
        doc = json.loads(json.dumps(body).replace("SID", sid))
        return c.post(f"/api/v1/{kind}s/join", json=doc, headers=headers)

    return send


def _beat(kind: str, seat: str, secret: str | None) -> Send:
    """A heartbeat of ``seat`` ("SID": this run's seat, joined just before), with ``secret`` (None: the one its join answered)."""

    def send(c: httpx.Client, sid: str) -> httpx.Response:
        joined = c.post(f"/api/v1/{kind}s/join", json={f"{kind}_id": sid})
        assert joined.status_code == 200, joined.text
        s = joined.json()["seat_secret"] if secret is None else secret
        return c.post(f"/api/v1/{kind}s/{seat.replace('SID', sid)}/heartbeat", headers={"x-seat-secret": s} if s else {})

    return send


def _beat_large(c: httpx.Client, sid: str) -> httpx.Response:
    """A heartbeat with a body over the limit: the body limit's 413, though a heartbeat reads no body."""
    joined = c.post("/api/v1/nodes/join", json={"node_id": sid}).json()
    return c.post(f"/api/v1/nodes/{sid}/heartbeat", headers={"x-seat-secret": joined["seat_secret"]}, content=b"a" * 300_000)


def _past_limit(c: httpx.Client, sid: str) -> httpx.Response:
    """Two joins fill the license's two seats, a third is refused."""
    for i in ("a", "b"):
        assert c.post("/api/v1/nodes/join", json={"node_id": f"{sid}-{i}"}).status_code == 200
    return c.post("/api/v1/nodes/join", json={"node_id": f"{sid}-c"})


def _release_all(c: httpx.Client, server: Server) -> None:
    """Every seat released (an admin), so that each run starts from none."""
    for kind in ("node", "cluster"):
        for seat in c.get(f"/api/v1/{kind}s", headers=server.admin).json()["items"]:
            assert c.delete(f"/api/v1/{kind}s/{seat['id']}", headers=server.admin).status_code == 200


CASES: list[Case] = [
    ("join", _join("node", {"node_id": "SID", "address": "10.0.0.7"}), True),
    ("join, cluster", _join("cluster", {"cluster_id": "SID"}), True),
    ("join with a secret no seat has", _join("node", {"node_id": "SID"}, secret="not-a-seat-secret"), True),
    ("join, an extra field", _join("node", {"node_id": "SID", "more": 1}), True),
    ("join, the id a number", _join("node", {"node_id": 7}), True),
    ("join, the id missing", _join("node", {"address": "x"}), True),
    ("join, the id against the pattern", _join("node", {"node_id": "-SID"}), True),
    ("join, the id with a line break", _join("node", {"node_id": "SID\n"}), True),
    ("join, the address too long", _join("node", {"node_id": "SID", "address": "a" * 201}), True),
    ("join, the cluster body for a node", _join("node", {"cluster_id": "SID"}), True),
    ("join, not JSON", _join("node", None, raw=b'{"node_id": "SID"'), True),
    ("join, a list", _join("node", None, raw=b'["SID"]'), True),
    ("join, null", _join("node", None, raw=b"null"), True),
    ("join, not UTF-8", _join("node", None, raw=b'{"node_id": "SID\xff"}'), True),
    ("join, no body", _join("node", None, raw=b""), True),
    ("join, deeply nested", _join("node", None, raw=b"[" * 100_000), True),
    ("join, too large", _join("node", None, raw=b'{"node_id": "SID", "address": "' + b"a" * 300_000 + b'"}'), True),
    ("join past the limit", _past_limit, True),
    ("heartbeat, a body over the limit", _beat_large, True),
    ("join, a token nobody issued", _join("node", {"node_id": "SID"}, token="no-such-token"), False),
    ("join, no token", _join("node", {"node_id": "SID"}, token=""), False),
    ("heartbeat", _beat("node", "SID", None), True),
    ("heartbeat, cluster", _beat("cluster", "SID", None), True),
    ("heartbeat, a wrong secret", _beat("node", "SID", "wrong"), True),
    ("heartbeat, no secret", _beat("node", "SID", ""), True),
    ("heartbeat, not joined", _beat("node", "SID-other", None), True),
    ("heartbeat, an id against the pattern", _beat("node", "-SID", None), False),
    ("heartbeat, an id with a line break", _beat("node", "SID%0A", None), False),
    ("heartbeat, an id too long", _beat("node", "a" * 201, None), False),
]


def _same(r: httpx.Response, sid: str) -> tuple[int, str | None, str | None, str]:
    """What must match between the two runs: the seat id and a new seat's secret (random) put aside."""
    body = re.sub(r'"seat_secret":"[^"]+"', '"seat_secret":"…"', r.text).replace(sid, "<id>")
    return r.status_code, r.headers.get("content-type"), r.headers.get("content-length"), body


@pytest.mark.parametrize(("name", "send", "hot_answers"), CASES, ids=[c[0] for c in CASES])
def test_hot_path_answers_as_the_routes(server: Server, name: str, send: Send, hot_answers: bool) -> None:
    server.activate(server.key(nodes=2, remote_clusters=2, features=("multi-cluster",)))
    assert server._app is not None
    app = server._app.app
    hot, reraise = app.hot, app.router.middleware_stack
    assert isinstance(hot, HotPath) and isinstance(reraise, Reraise)
    router = reraise.app
    reached: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].endswith(("/join", "/heartbeat")):
            reached.append(scope["path"])
        await router(scope, receive, send)

    answers = []
    with server.client(headers=server.agent) as c:
        c.get("/api/v1/license")  # the join token checked once: the hot path answers it from memory from now on
        reraise.app = spy
        try:
            for through, sid in ((hot, "hot-1"), (None, "rte-1")):
                _release_all(c, server)
                app.hot = through
                reached.clear()
                answers.append(_same(send(c, sid), sid))
                if through is not None:
                    assert (not reached) == hot_answers, f"{name}: reached the route: {reached}"
        finally:
            app.hot, reraise.app = hot, router
    assert answers[0] == answers[1], f"{name}: the hot path answered {answers[0]}, the route {answers[1]}"
    too_large = "too large" in name or "over the limit" in name
    assert answers[0][0] == (200 if name in ADMITTED else 413 if too_large else 401 if "token" in name else answers[0][0])
    assert answers[0][0] not in (200, 500) or name in ADMITTED, answers[0]
    code = json.loads(answers[0][3]).get("code")
    assert name not in ("join past the limit", "heartbeat, a wrong secret") or code in ("limit_reached", "seat_secret"), code


ADMITTED = {"join", "join, cluster", "join with a secret no seat has", "heartbeat", "heartbeat, cluster"}


def test_hot_path_takes_only_bodies_of_a_stated_length_within_the_limit() -> None:
    """A join's body must state its length (sent in chunks, the route reads it: the in-process client always states
    one, so this is checked here); a length over the limit or not a number is the body limit's; a heartbeat reads none."""
    assert _fits("17", True, 100) and _fits("100", True, 100) and _fits("0", True, 100)
    assert not _fits("", True, 100)  # chunked: the route's
    assert _fits("", False, 100)  # a heartbeat with no body
    for length in ("101", "1e3", "-1", " 5", "0x10"):
        assert not _fits(length, True, 100) and not _fits(length, False, 100), length


def test_hot_path_takes_only_joins_and_heartbeats() -> None:
    """The paths the hot path answers: a join, a heartbeat of an id the route's pattern takes; nothing near them."""
    assert route("/api/v1/nodes/join") == ("node", "")
    assert route("/api/v1/clusters/join") == ("cluster", "")
    assert route("/api/v1/nodes/n-1.a:b@c/heartbeat") == ("node", "n-1.a:b@c")
    assert route("/api/v1/nodes/join/heartbeat") == ("node", "join")  # a node may be called "join"
    assert route("/api/v1/clusters/" + "c" * 200 + "/heartbeat") == ("cluster", "c" * 200)
    for other in (
        "/api/v1/nodes",
        "/api/v1/nodes/",
        "/api/v1/nodes/join/",
        "/api/v1/nodes/a",
        "/api/v1/nodes/a/heartbeat/",
        "/api/v1/nodes/a/b/heartbeat",
        "/api/v1/nodes//heartbeat",
        "/api/v1/nodes/a\n/heartbeat",
        "/api/v1/nodes/-a/heartbeat",
        "/api/v1/nodes/" + "c" * 201 + "/heartbeat",
        "/api/v1/widgets/join",
        "/api/v2/nodes/join",
        "/api/v1/license",
        "/healthz",
    ):
        assert route(other) is None, other


@pytest.mark.parametrize(
    ("raised", "status", "code"),
    [(RuntimeError("a bug"), 500, "internal"), (Unavailable("The database is out of reach"), 503, "unavailable")],
    ids=["a bug", "a refusal"],
)
def test_hot_path_raises_into_the_apps_handlers(server: Server, raised: Exception, status: int, code: str) -> None:
    """What goes wrong in a hot join (here: the seat batch raises) is answered by the app's handlers, as a route's is."""
    server.activate(server.key(nodes=2))
    assert server._app is not None
    app = server._app.app
    hot = app.hot
    assert hot is not None
    apply, apply_now = hot.batcher.fn, hot.batcher.now

    def broken(ops: Any) -> Any:
        raise raised

    answers = []
    with server.client(headers=server.agent) as c:
        c.get("/api/v1/license")
        hot.batcher.fn = hot.batcher.now = broken  # the batch raises, on the event loop or in a thread
        try:
            for through in (hot, None):
                app.hot = through
                r = c.post("/api/v1/nodes/join", json={"node_id": "n-1"})
                answers.append((r.status_code, r.headers.get("content-type"), r.text))
        finally:
            app.hot, hot.batcher.fn, hot.batcher.now = hot, apply, apply_now
    assert answers[0] == answers[1]
    assert answers[0][0] == status and json.loads(answers[0][2])["code"] == code, answers[0]
