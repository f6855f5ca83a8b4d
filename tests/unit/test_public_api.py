"""The public surface of ``import licensor``: small, pinned, and free of server dependencies."""

from __future__ import annotations

import subprocess
import sys

import licensor

EXPECTED = {
    "BadSignatureError", "Binding", "Contact", "Installation", "InstallationKey", "Keyring", "License", "LicenseRefused",
    "LicensorError", "MalformedError", "RequestCode", "UnknownKeyError", "UsageError", "VendorKey", "Verdict",
    "VerificationError", "check", "decode_license", "decode_request", "default_binding", "evaluate", "feature_enabled",
    "hash_factors", "installation_id", "key_id", "license_file", "make_request", "new_license", "update_allowed",
}  # fmt: skip


def _python(code: str) -> str:
    """What a fresh interpreter prints running ``code``."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout


class TestPublicApi:
    def test_all_is_pinned(self) -> None:
        """Adding or removing a public name is a deliberate change to this list."""
        assert set(licensor.__all__) == EXPECTED
        assert all(hasattr(licensor, name) for name in licensor.__all__)

    def test_import_loads_no_web_framework_or_orm(self) -> None:
        """The core SDK a product embeds pulls in no server stack."""
        code = (
            "import sys, licensor, licensor.testing, licensor.codec, licensor.policy;"
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('fastapi','starlette','uvicorn','sqlalchemy','alembic','jinja2','httpx','pydantic','psycopg')];"
            "print(','.join(bad))"
        )
        assert _python(code).strip() == ""

    def test_every_error_has_code_and_hint(self) -> None:
        """Each error class carries a stable code, and instances a hint."""
        for cls in (licensor.MalformedError, licensor.BadSignatureError, licensor.UnknownKeyError, licensor.UsageError):
            e = cls("do this")
            assert e.code and e.code != "error"
            assert e.hint == str(e) == "do this"
            assert e.as_dict() == {"code": e.code, "hint": "do this"}

    def test_import_is_lazy_and_every_name_still_resolves(self) -> None:
        """``import licensor`` loads no module of the core; each public name and core module loads on first use."""
        code = (
            "import sys, licensor;"
            "print(sorted(m for m in sys.modules if m.startswith('licensor.')));"
            "print(all(getattr(licensor, n) is getattr(sys.modules[getattr(licensor, n).__module__], n) for n in licensor.__all__));"
            "print(licensor.policy.VERIFIED_MAX > 0, set(licensor.__all__) <= set(dir(licensor)))"
        )
        assert _python(code).split("\n")[:3] == ["[]", "True", "True True"]
