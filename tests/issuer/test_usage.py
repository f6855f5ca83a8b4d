"""The usage report format: signed by the installation, tamper-evident, paste-tolerant."""

from __future__ import annotations

import json

import pytest

from licensor.codec import b64decode, b64encode, unarmour
from licensor.errors import BadSignatureError, MalformedError
from licensor.identity import InstallationKey
from licensor.testing import T0
from licensor.usage import decode_usage_report, make_usage_report


class TestUsageReport:
    def test_round_trip(self) -> None:
        """A report made by an installation decodes to the same figures and key."""
        key = InstallationKey.generate()
        text = make_usage_report(key, month="2026-01", peak_nodes=7, peak_clusters=1, now=T0, license_id="L1", serial=2)
        rep = decode_usage_report(text)
        assert (rep.installation_id, rep.month, rep.peak_nodes, rep.peak_clusters) == (key.id, "2026-01", 7, 1)
        assert rep.public_key == key.public_key and rep.license_id == "L1" and rep.serial == 2
        assert rep.generated_at == T0

    def test_paste_damage_is_undone(self) -> None:
        """Quoted, CRLF and re-wrapped text still decodes."""
        key = InstallationKey.generate()
        text = make_usage_report(key, month="2026-02", peak_nodes=3, peak_clusters=0, now=T0)
        damaged = "\r\n".join("> " + line for line in text.splitlines())
        assert decode_usage_report(damaged).peak_nodes == 3

    def test_changed_figure_is_a_bad_signature(self) -> None:
        """Lowering the peak after signing is caught."""
        key = InstallationKey.generate()
        payload = unarmour(make_usage_report(key, month="2026-02", peak_nodes=30, peak_clusters=0, now=T0)).payload
        body, sig = payload.split(".")
        doc = json.loads(b64decode(body))
        doc["peak_nodes"] = 3
        forged = b64encode(json.dumps(doc).encode()) + "." + sig
        with pytest.raises(BadSignatureError):
            decode_usage_report(forged)

    def test_report_signed_by_another_key_for_this_id_is_refused(self) -> None:
        """A report naming installation A but signed by key B is not A's."""
        a, b = InstallationKey.generate(), InstallationKey.generate()
        payload = unarmour(make_usage_report(b, month="2026-02", peak_nodes=1, peak_clusters=0, now=T0)).payload
        body, _ = payload.split(".")
        doc = json.loads(b64decode(body))
        doc["installation_id"] = a.id
        raw = json.dumps(doc).encode()
        forged = b64encode(raw) + "." + b64encode(b.sign(b"licensor-usage-v1\x00" + raw))
        with pytest.raises(BadSignatureError):
            decode_usage_report(forged)

    @pytest.mark.parametrize(
        "text", ["", "hello", "abc.def", "-----BEGIN LICENSOR LICENSE-----\n\nv4.public.x\n-----END LICENSOR LICENSE-----"]
    )
    def test_not_a_report_is_malformed(self, text: str) -> None:
        """Anything that is not a report is malformed, before any signature check."""
        with pytest.raises(MalformedError):
            decode_usage_report(text)

    def test_bad_month_is_refused_when_making(self) -> None:
        with pytest.raises(MalformedError):
            make_usage_report(InstallationKey.generate(), month="2026-13", peak_nodes=1, peak_clusters=0, now=T0)
