"""Helpers the test suites share (import as ``tests.helpers``)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def run_licensor(*args: str, env: Mapping[str, str], input: str | None = None, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the real ``licensor`` command in a subprocess, with ``env`` as its whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "licensor", *args],
        capture_output=True,
        text=True,
        input=input,
        env=env,
        timeout=timeout,
    )
