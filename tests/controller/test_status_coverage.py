"""``licensor controller status`` says whether this build is covered by maintenance, as the About page does.

The build date comes from ``$LICENSOR_BUILD_DATE`` (else the date the package was installed); the command runs as a
person runs it (a subprocess on a SQLite file, the read path without the ORM).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from licensor import __version__

from ..inprocess import FACTOR_ENV, cli, make_controller, ok


def test_status_says_whether_this_build_is_covered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'controller.db'}"
    setup = make_controller(url, tmp_path / "cli")
    where = ("--data-dir", str(tmp_path / "cli"), "--database-url", url)
    key = tmp_path / "license.key"
    key.write_text(setup.vendor.issue(setup.installation, now=datetime.now(UTC), maintenance_until=datetime(2099, 6, 30, tzinfo=UTC)))
    ok(cli("controller", "activate", str(key), *where, env=FACTOR_ENV))

    covered = ok(cli("controller", "status", *where, env={**FACTOR_ENV, "LICENSOR_BUILD_DATE": "2026-05-01"})).out
    want = f"this build        This build (licensor {__version__}, built 2026-05-01) is covered by maintenance until 2099-06-30."
    assert want in covered.splitlines()

    late = ok(cli("controller", "status", *where, env={**FACTOR_ENV, "LICENSOR_BUILD_DATE": "2099-07-01"})).out
    line = next(x for x in late.splitlines() if x.startswith("this build"))
    assert "was built after maintenance ended on 2099-06-30: it keeps running" in line and "Request a renewal" in line
