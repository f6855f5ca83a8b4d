"""Two issuer replicas on one PostgreSQL issue 1,000 licenses at once: every serial unique, every license stored.

Two real ``licensor vendor serve`` processes share one database made for the
test (and one data dir, as replicas share a volume).  1,000 ``POST
/api/v1/licenses`` from request codes of a few installations go to both at once,
so the replicas race for the next serial of the same installations all the time.
Every request must be answered 201; the serials of each installation run 1..n
without a gap or a duplicate; the database and ``GET /api/v1/licenses`` hold
exactly the 1,000 answered, each key verifying and saying what its row says.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from licensor.identity import InstallationKey
from licensor.license import decode_license
from licensor.testing import request_code

from ..attack.killing import Db, Issuer
from ..helpers import terminate
from .storm import Pool, TransportFailed, unused_port

pytestmark = pytest.mark.postgres

LICENSES, INSTALLATIONS = 1000, 4
#: Requests in flight per replica.
PER_REPLICA = 16


@pytest.fixture
def issuers(fresh_pg: Callable[[str], str], tmp_path: Path) -> Iterator[list[Issuer]]:
    first = Issuer(fresh_pg("issuers"), unused_port(), tmp_path)  # prepares the database: schema, signing key, API token
    second = copy.copy(first)
    second.port, second.proc, second.log = unused_port(), None, tmp_path / "issuer-2.log"
    second.base = f"http://127.0.0.1:{second.port}"
    both = [first, second]
    try:
        for iss in both:
            iss.start()
        yield both
    finally:
        for iss in both:
            terminate(iss.proc)


async def _issue_all(issuers: list[Issuer], codes: list[str]) -> list[tuple[int, int, dict[str, Any]]]:
    """Every code issued at once, request ``i`` to replica ``i mod 2``: (replica, status, answer) in order."""
    pools = [Pool(iss.base, PER_REPLICA, timeout=60) for iss in issuers]
    headers = issuers[0].headers

    async def one(i: int, code: str) -> tuple[int, int, dict[str, Any]]:
        k = i % len(pools)
        try:
            status, doc = await pools[k].request("POST", "/api/v1/licenses", {"request_code": code}, headers)
        except TransportFailed as e:
            return k, 0, {"error": str(e)}
        return k, status, doc

    try:
        return list(await asyncio.gather(*(one(i, c) for i, c in enumerate(codes))))
    finally:
        for p in pools:
            p.close()


def _listed(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every license ``GET /api/v1/licenses`` lists, page by page (bounded)."""
    out: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for page in range(10):
            r = client.get("/api/v1/licenses", params={"limit": 1000, "offset": page * 1000})
            assert r.status_code == 200, r.text
            out += r.json()
            if len(r.json()) < 1000:
                return out
    raise AssertionError("more pages than licenses issued")


def test_two_issuers_issue_concurrently(issuers: list[Issuer]) -> None:
    keys = [InstallationKey.generate() for _ in range(INSTALLATIONS)]
    requests = [request_code(k, nodes=10)[1] for k in keys]
    codes = [requests[i % INSTALLATIONS] for i in range(LICENSES)]
    t0 = time.monotonic()
    answers = asyncio.run(_issue_all(issuers, codes))
    wall = time.monotonic() - t0
    by = Counter(f"{status} {doc.get('code', '')}".strip() for _k, status, doc in answers)
    print(f"issuer replicas: {dict(by)} in {wall:.1f} s, per replica {Counter(k for k, s, _ in answers if s == 201)}")
    assert by == {"201": LICENSES}, [doc for _k, s, doc in answers if s != 201][:3]

    issued = {doc["license_id"]: (doc["installation_id"], int(doc["serial"]), doc["token"]) for _k, _s, doc in answers}
    assert len(issued) == LICENSES, "two answers named the same license"
    serials: dict[str, list[int]] = {}
    for inst, serial, _token in issued.values():
        serials.setdefault(inst, []).append(serial)
    for inst, got in serials.items():
        assert sorted(got) == list(range(1, len(got) + 1)), f"serials of {inst} are not 1..n: duplicates {Counter(got).most_common(3)}"

    rows = Db(issuers[0].url).rows("SELECT license_id, installation_id, serial, token FROM licenses")
    assert len(rows) == LICENSES
    assert {r[0]: (r[1], int(r[2]), r[3]) for r in rows} == issued, "the stored licenses are not the ones answered"
    for lid, (inst, serial, token) in issued.items():
        lic = decode_license(token, issuers[0].keyring)
        assert (lic.license_id, lic.installation_id, lic.serial) == (lid, inst, serial)
    for iss in issuers:
        listed = _listed(iss.base, iss.headers)
        assert sorted(d["license_id"] for d in listed) == sorted(issued), f"{iss.base} does not list every license"
