"""This build's date and its maintenance coverage, for the About page and ``controller status`` (no web framework, no ORM)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from .. import __version__
from ..coverage import Coverage, build_coverage, parse_build_date
from ..license import License


def build_date() -> str:
    """When this build was made: ``$LICENSOR_BUILD_DATE`` (``YYYY-MM-DD``), else the date the package files were written."""
    env = os.environ.get("LICENSOR_BUILD_DATE")
    if env:
        return env
    return datetime.fromtimestamp(Path(__file__).stat().st_mtime, UTC).strftime("%Y-%m-%d")


def coverage(lic: License | None) -> Coverage:
    """Whether this build (its version and build date) is covered by ``lic``'s maintenance."""
    return build_coverage(lic, __version__, parse_build_date(build_date()))
