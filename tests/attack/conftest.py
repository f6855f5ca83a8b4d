"""The standing attack suites: fuzzing, tampering, kills, access, guessing, clock.

Each suite records what it tried and what it found with ``record(suite, **figures)``.
At the end of the run the figures are printed in pytest's summary and written to
``test-artifacts/attack-figures.json``; docs/SECURITY.md quotes the last run's.

``LICENSOR_ATTACK_LONG=1`` (set by .ci/run) selects the long variants: more
examples, more kills, more fuzzed calls.  ``make test`` on a laptop runs the short ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

LONG = os.environ.get("LICENSOR_ATTACK_LONG") == "1"

_FIGURES: dict[str, dict[str, Any]] = {}


def scale(short: int, long: int) -> int:
    """How many of something to try: ``long`` under LICENSOR_ATTACK_LONG=1, else ``short``."""
    return long if LONG else short


def record(suite: str, **figures: Any) -> None:
    """Add (or add to) a suite's figures; numbers with the same name are summed."""
    row = _FIGURES.setdefault(suite, {})
    for k, v in figures.items():
        if isinstance(v, int | float) and not isinstance(v, bool) and isinstance(row.get(k), int | float):
            row[k] += v
        else:
            row[k] = v


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("attack figures" + (" (long)" if LONG else ""))
    for suite, row in sorted(_FIGURES.items()):
        terminalreporter.write_line(f"{suite}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    out = Path("test-artifacts")
    out.mkdir(exist_ok=True)
    (out / "attack-figures.json").write_text(json.dumps({"long": LONG, "suites": _FIGURES}, indent=2, sort_keys=True))


@pytest.fixture
def long_run() -> bool:
    return LONG
