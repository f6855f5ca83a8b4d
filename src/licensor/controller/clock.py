"""Clocks for the running controller.

``UnsafeFakeClock`` exists for tests only: it shifts the system time by an
offset read from a file, so a test can set a server process's clock back or
forward without touching the machine's clock.  The service refuses to use it
unless ``LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK=1`` is set as well; never set these
in production.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import UsageError

FAKE_CLOCK_FILE_ENV = "LICENSOR_UNSAFE_FAKE_CLOCK_FILE"
ALLOW_FAKE_CLOCK_ENV = "LICENSOR_UNSAFE_ALLOW_FAKE_CLOCK"

log = logging.getLogger("licensor.controller")


class UnsafeFakeClock:
    """System time plus the offset in seconds written in ``path`` (test only)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def offset(self) -> float:
        try:
            text = self.path.read_text().strip()
        except OSError:
            return 0.0
        try:
            return float(text) if text else 0.0
        except ValueError:
            return 0.0

    def __call__(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset())


def clock_from_env(env: dict[str, str] | None = None) -> UnsafeFakeClock | None:
    """The fake clock if (and only if) both test-only variables are set."""
    env = dict(os.environ) if env is None else env
    path = env.get(FAKE_CLOCK_FILE_ENV)
    if not path:
        return None
    if env.get(ALLOW_FAKE_CLOCK_ENV) != "1":
        raise UsageError(
            f"{FAKE_CLOCK_FILE_ENV} is set but {ALLOW_FAKE_CLOCK_ENV}=1 is not: "
            f"the fake clock is for tests only; unset {FAKE_CLOCK_FILE_ENV}"
        )
    log.warning("UNSAFE: the controller's clock is shifted by the offset in %s (test only)", path)
    return UnsafeFakeClock(path)
