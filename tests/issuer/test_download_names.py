"""A license file downloads as ``<customer>-<cluster>-serial<N>.lic``: from the API, from the console, after a renewal."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.inprocess import issuer

from licensor.identity import InstallationKey, hash_factors
from licensor.request import Contact, make_request


def _code(company: str, cluster: str) -> str:
    key = InstallationKey.generate()
    return make_request(
        key,
        product="demo",
        version="1.0",
        contact=Contact("Ada Admin", "ada@example.com", company),
        nodes=5,
        months=12,
        factors=hash_factors(key.public_key, {"cluster": "c-1", "machine": "m-1"}),
        cluster_name=cluster,
        now=datetime.now(UTC),
    )


def test_license_downloads_are_named_after_customer_cluster_and_serial(database_url: str) -> None:
    with issuer(database_url) as run, run.client("admin") as api, run.client("session") as console:
        first = api.post("/api/v1/licenses", json={"request_code": _code("Müller & Söhne GmbH", "prod eu-west")})
        assert first.status_code == 201, first.text
        lid = first.json()["license_id"]
        by_api = api.get(f"/api/v1/licenses/{lid}/file")
        by_console = console.get(f"/licenses/{lid}/download")
        renewed = api.post(f"/api/v1/licenses/{lid}/renew", json={})
        assert renewed.status_code == 201, renewed.text
        second = api.get(f"/api/v1/licenses/{renewed.json()['license_id']}/file")
        nameless = api.post("/api/v1/licenses", json={"request_code": _code("../../etc", "")})
        odd = api.get(f"/api/v1/licenses/{nameless.json()['license_id']}/file")
    expected = 'attachment; filename="muller-sohne-gmbh-prod-eu-west-serial1.lic"'
    for r in (by_api, by_console):
        assert r.status_code == 200 and r.headers["content-disposition"] == expected, r.headers
        assert r.text == first.json()["file"]
    assert second.headers["content-disposition"] == 'attachment; filename="muller-sohne-gmbh-prod-eu-west-serial2.lic"'
    # No cluster name: the installation id stands in; a customer name with path parts loses them.
    inst = nameless.json()["installation_id"].lower()
    assert odd.headers["content-disposition"] == f'attachment; filename="etc-{inst}-serial1.lic"'
