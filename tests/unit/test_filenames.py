"""licensor.filenames: download names after customer, cluster and serial; the Content-Disposition that offers them."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from licensor.filenames import MAX_PART, content_disposition, license_filename, request_filename, slug


def test_named_after_customer_cluster_and_serial() -> None:
    assert license_filename("ACME Corp", "prod eu-west", 2, "7Q4M-ABA2") == "acme-corp-prod-eu-west-serial2.lic"
    assert license_filename("Müller & Söhne GmbH", "Zürich 1", 3) == "muller-sohne-gmbh-zurich-1-serial3.lic"
    assert license_filename("ACME", "", 1, "7Q4M-ABA2-EV6Y") == "acme-7q4m-aba2-ev6y-serial1.lic"
    assert license_filename("数据公司", "集群", 4) == "license-serial4.lic"
    assert (
        request_filename("prod eu-west", "7Q4M", date(2026, 12, 2)) == "prod-eu-west-request-2026-12-02.txt"
        and request_filename("", "7Q4M") == "7q4m-request.txt"
    )


def test_no_path_and_bounded() -> None:
    assert license_filename("../../etc/passwd", "..\\..\\win", 1) == "etc-passwd-win-serial1.lic"
    long = license_filename("x" * 5000, "y" * 5000, 10**6)
    assert len(long) <= 2 * MAX_PART + 20 and long.endswith("-serial1000000.lic")


@given(st.text(max_size=300), st.text(max_size=300), st.integers(min_value=0, max_value=10**9), st.text(max_size=40))
def test_any_input_gives_a_safe_ascii_name(customer: str, cluster: str, serial: int, inst: str) -> None:
    name = license_filename(customer, cluster, serial, inst)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*\.lic", name), name
    assert len(name) <= 2 * MAX_PART + 20 and slug(name, limit=1000) == name.replace(".", "-")


def _filename(header: str) -> str | None:
    """What a client that reads ``filename*`` (RFC 6266) saves the file as."""
    extended = re.search(r"filename\*=UTF-8''(\S+)", header)
    return unquote(extended.group(1), errors="strict") if extended else None


def test_content_disposition_plain_and_rfc6266_extended() -> None:
    assert content_disposition("acme-serial2.lic") == 'attachment; filename="acme-serial2.lic"'
    header = content_disposition("Müller-serial2.lic")
    assert header == "attachment; filename=\"Muller-serial2.lic\"; filename*=UTF-8''M%C3%BCller-serial2.lic"
    assert _filename(header) == "Müller-serial2.lic"  # a client that reads filename* gets the name itself
    assert content_disposition("数据.lic").startswith('attachment; filename="download.lic"; filename*=')


@given(st.text(max_size=200))
def test_content_disposition_never_breaks_the_header(name: str) -> None:
    header = content_disposition(name)
    plain = re.fullmatch(r'attachment; filename="([^"\\/\x00-\x1f\x7f]+)"(; filename\*=UTF-8\'\'([A-Za-z0-9%._~-]+))?', header)
    assert plain is not None and plain.group(1).isascii(), header
    if plain.group(3):
        assert "/" not in unquote(plain.group(3)) and "\n" not in unquote(plain.group(3))
