"""API fuzzing of both services from their own OpenAPI documents (schemathesis): 0 server errors, 0 schema violations.

Each service runs in this process (``create_app`` served by uvicorn on 127.0.0.1, lifespan
running) on SQLite.  For every operation of its ``/openapi.json`` and every caller (anonymous,
the admin token, each issuer token scope, a console session with its CSRF token, the
controller's join token and HTTP Basic), schemathesis generates valid and invalid requests
(``GenerationMode.POSITIVE`` and ``NEGATIVE``) and checks each answer: no 5xx, the status is
declared, the body matches the declared schema and content type, declared headers are
present, invalid data is refused.  Every path is also sent a method it does not take: a 405
with the right ``Allow``.

Random strings are never a signed request code or license key, and random ids never name
a stored license, so half of the generated cases get a real one (a valid request code, the
id of an issued license, a real installation, key id, product, seat) and go deeper: issuing,
renewing and sending with fuzzed terms.  (OpenAPI links would not help here: no generated
body can make the signed request code the first call needs.)

Failures are collected, not shrunk: the test fails listing each with its curl command.
``scale()``: the short run makes ~6 cases per operation and mode (about 600 calls), the long run
(``LICENSOR_ATTACK_LONG=1``) up to 150 (about 10 k calls where the machine is fast enough); each
service has a time budget after which the remaining operations get 2 cases each.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.inprocess import PASSWORD, Running, controller, issuer

from .conftest import record, scale

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# A body over the limit is refused with 413 before it is read: a rejection like any other.
CONFIG = schemathesis.Config.from_dict(
    {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]}}}
)
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass
class Tally:
    calls: int = 0
    server_errors: int = 0
    schema_violations: int = 0
    failures: list[str] = field(default_factory=list)

    def failed(self, text: str, server_error: bool) -> None:
        if server_error:
            self.server_errors += 1
        else:
            self.schema_violations += 1
        if len(self.failures) < 15:
            self.failures.append(text[:3000])


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    cookies: dict[str, str]
    weight: int  # how often this caller is drawn, relative: callers that get past auth get more


def fuzz(run: Running, callers: list[Caller], known: Callable[[Any, Any], None], tally: Tally, per_operation: int, budget: float) -> None:
    """Every operation of ``run``'s document, positive and negative, each case from a caller drawn by weight;
    ``known(case, draw)`` may put in real values.  Past ``budget`` seconds the remaining operations get 2 cases each:
    every operation is still tried, and a slow machine does not stretch the run without bound."""
    deadline = time.monotonic() + budget
    schema = schemathesis.openapi.from_url(run.base + "/openapi.json", config=CONFIG)
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    sessions = []
    for caller in callers:
        session = requests.Session()
        session.headers.update(caller.headers)
        session.cookies.update(caller.cookies)
        sessions += [session] * caller.weight
    try:
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                n = per_operation if time.monotonic() < deadline else 2
                _fuzz_operation(run, op, mode, sessions, known, tally, n)
    finally:
        for session in set(sessions):
            session.close()
    _wrong_methods(run, schema.raw_schema, tally)


def _fuzz_operation(
    run: Running, op: Any, mode: GenerationMode, sessions: list[requests.Session], known: Any, tally: Tally, n: int
) -> None:
    @settings(
        max_examples=n,
        deadline=None,
        database=None,
        derandomize=False,
        phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(case=op.as_strategy(generation_mode=mode), data=st.data())
    def one(case: Any, data: Any) -> None:
        session = data.draw(st.sampled_from(sessions))
        if mode is GenerationMode.POSITIVE:
            known(case, data.draw)
        try:
            response = case.call(base_url=run.base, session=session, timeout=30)
        except requests.RequestException as e:  # the server dropped the connection: as bad as a 500
            tally.calls += 1
            tally.failed(f"{case.method} {case.formatted_path}: {e!r}", True)
            return
        tally.calls += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as e:
            tally.failed(f"[{mode}] {case.method} {case.formatted_path} -> {response.status_code}\n{e}", response.status_code >= 500)

    try:
        one()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body): the positive cases cover it
        assert mode is GenerationMode.NEGATIVE


def _wrong_methods(run: Running, doc: dict[str, Any], tally: Tally) -> None:
    """Each path with a method it does not take: 405 with code, hint and ``Allow``."""
    with requests.Session() as s:
        for path, ops in doc["paths"].items():
            url = run.base + re.sub(r"\{\w+\}", "x", path)
            for method in METHODS:
                if method.lower() in ops:
                    continue
                r = s.request(method, url, timeout=30)
                tally.calls += 1
                if r.status_code != 405 or not r.headers.get("allow") or set(r.json()) - {"code", "hint", "details"}:
                    tally.failed(f"{method} {path}: {r.status_code} Allow={r.headers.get('allow')!r} {r.text[:200]}", r.status_code >= 500)
                break  # one wrong method per path is enough here; tests/e2e/test_http_edges checks them all


def _put(case: Any, draw: Any, where: str, name: str, values: list[str]) -> None:
    """Half the time, a real value for the parameter or body field ``name`` if the case has it."""
    container = getattr(case, where)
    if isinstance(container, dict) and name in container and values and draw(st.booleans()):
        container[name] = draw(st.sampled_from(values))


# -- the services ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # On a socket: schemathesis reads the document and makes its calls over HTTP.
    with issuer(f"sqlite:///{tmp_path_factory.mktemp('fuzz-issuer') / 'issuer.db'}", socket=True, login_limit=1_000_000) as run:
        yield run


def _issuer_known(run: Running) -> Callable[[Any, Any], None]:
    """Real values for the issuer: request codes, an issued license, its installation and customer, the signing key, a product."""
    from licensor.testing import request_code

    codes = [request_code()[1] for _ in range(3)]
    with run.client("admin") as c:
        r = c.post("/api/v1/licenses", json={"request_code": codes[0], "nodes": 3})
        assert r.status_code == 201, r.text
        lic = r.json()
        kid = c.get("/api/v1/keys").json()[0]["kid"]
        assert c.put("/api/v1/products/demo", json={"features": ["sso"]}).status_code == 200
        assert c.put("/api/v1/plans/gold", json={"type": "subscription", "months": 12}).status_code == 200
        customer_id = c.get("/api/v1/customers").json()[0]["id"]
    ids = {
        "license_id": [lic["license_id"]],
        "installation_id": [lic["installation_id"]],
        "kid": [kid],
        "name": ["demo", "gold"],
        "customer_id": [customer_id],
    }

    def known(case: Any, draw: Any) -> None:
        for name, values in ids.items():
            _put(case, draw, "path_parameters", name, values)
        _put(case, draw, "query", "installation_id", ids["installation_id"])
        _put(case, draw, "body", "request_code", codes)
        _put(case, draw, "body", "to", ["ada@example.com"])

    return known


def _issuer_callers(run: Running) -> list[Caller]:
    callers = [Caller("anonymous", {}, {}, 1), Caller("admin", run.headers["admin"], {}, 4)]
    callers += [Caller(name, run.headers[name], {}, 1) for name in run.extra["tokens"] if name != "admin"]
    callers.append(Caller("session", run.headers["session"], run.cookies["session"], 2))
    return callers


@pytest.fixture(scope="module")
def controller_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with controller(f"sqlite:///{tmp_path_factory.mktemp('fuzz-controller') / 'controller.db'}", socket=True) as run:
        yield run


def _controller_known(run: Running) -> Callable[[Any, Any], None]:
    """Real values for the controller: an active license, seats held, a valid key, the current month."""
    vendor, installation = run.extra["vendor"], run.extra["installation"]
    key = vendor.issue(installation, nodes=5, remote_clusters=2, serial=1)
    with run.client("admin") as c:
        r = c.post("/api/v1/license/activate", content=key, headers={"content-type": "text/plain"})
        assert r.status_code == 200, r.text
        for kind in ("nodes", "clusters"):
            body = {"node_id": "n1"} if kind == "nodes" else {"cluster_id": "n1"}
            assert c.post(f"/api/v1/{kind}/join", json=body).status_code == 200
    month = time.strftime("%Y-%m", time.gmtime())

    def known(case: Any, draw: Any) -> None:
        _put(case, draw, "path_parameters", "seat_id", ["n1", "n2"])
        _put(case, draw, "path_parameters", "month", [month])
        _put(case, draw, "path_parameters", "name", ["sso", "multi-cluster"])
        _put(case, draw, "body", "key", [key])
        if case.path == "/api/v1/license/activate" and isinstance(case.body, str) and draw(st.booleans()):
            case.body = key

    return known


def _controller_callers(run: Running) -> list[Caller]:
    basic = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    return [
        Caller("anonymous", {}, {}, 1),
        Caller("admin", run.headers["admin"], {}, 4),
        Caller("agent", run.headers["agent"], {}, 3),
        Caller("basic", {"authorization": basic}, {}, 1),
    ]


# Short: ~6 cases per operation and mode, ~45 s per service; long: up to 150, ~150 s per service.
PER_OPERATION, BUDGET = scale(6, 150), float(scale(45, 150))


@pytest.mark.timeout(900)
class TestFuzz:
    def test_issuer(self, issuer_run: Running) -> None:
        """The issuer: every operation, every caller (anonymous, admin, each scope, session + CSRF): no 5xx, no schema violation."""
        tally = Tally()
        fuzz(issuer_run, _issuer_callers(issuer_run), _issuer_known(issuer_run), tally, PER_OPERATION, BUDGET)
        record("fuzz", calls=tally.calls, server_errors=tally.server_errors, schema_violations=tally.schema_violations)
        assert tally.server_errors == 0 and tally.schema_violations == 0, "\n\n".join(tally.failures)

    def test_controller(self, controller_run: Running) -> None:
        """The controller: every operation, every caller (anonymous, admin token, join token, Basic): no 5xx, no schema violation."""
        tally = Tally()
        fuzz(controller_run, _controller_callers(controller_run), _controller_known(controller_run), tally, PER_OPERATION, BUDGET)
        record("fuzz", calls=tally.calls, server_errors=tally.server_errors, schema_violations=tally.schema_violations)
        assert tally.server_errors == 0 and tally.schema_violations == 0, "\n\n".join(tally.failures)
