"""Browser fixtures: Debian's Chromium driven by Playwright, and ``licensor demo`` as real server processes.

Chromium is never downloaded (no ``playwright install``): the tests use
``/usr/bin/chromium`` (or ``$LICENSOR_CHROMIUM``).  When it is missing the
tests skip, except with ``LICENSOR_REQUIRE_BROWSER=1`` (set by .ci/run), where
they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ..helpers import free_port

CHROMIUM = os.environ.get("LICENSOR_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
DOC_SHOTS = ROOT / "docs" / "screenshots"


def _missing(why: str) -> None:
    if os.environ.get("LICENSOR_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the browser tests are required (LICENSOR_REQUIRE_BROWSER=1) but {why}: apt-get install chromium (Debian's)")
    pytest.skip(f"{why} (set LICENSOR_REQUIRE_BROWSER=1 to make this a failure)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Playwright's sync API keeps an event loop running in this thread while it is open: module scope closes it
    before the other suites (which call asyncio.run) start."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        _missing(f"there is no Chromium at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Demo:
    """``licensor demo`` running: the two consoles, their sign-in details and the demo's output so far."""

    proc: subprocess.Popen[str]
    issuer: str
    controller: str
    issuer_login: tuple[str, str]
    controller_login: tuple[str, str]
    lines: list[str]
    data_dir: Path
    shared: dict[str, Any] = field(default_factory=dict)

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for line in reversed(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.2)
        raise AssertionError(f"the demo never printed /{pattern}/; it printed:\n{self.output()}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """``licensor demo`` on free ports in a temporary data dir (8 agents); stopped with SIGINT (Ctrl-C) afterwards."""
    data = tmp_path_factory.mktemp("demo")
    ip, cp = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LICENSOR_") or k == "LICENSOR_REQUIRE_BROWSER"}
    env["PYTHONUNBUFFERED"] = "1"
    argv = [sys.executable, "-m", "licensor", "demo", "--data-dir", str(data), "--issuer-port", str(ip), "--controller-port", str(cp)]
    argv += ["--agents", "8", "--heartbeat-ttl", "10"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    found: dict[str, tuple[str, str, str]] = {}
    end = time.monotonic() + 90
    while len(found) < 2 and time.monotonic() < end:
        for line in list(lines):
            m = re.search(r"(Issuer|Controller) console \(\w+\):\s+(http://\S+?)/\s+user (\S+)\s+password (\S+)", line)
            if m:
                found[m.group(1)] = (m.group(2), m.group(3), m.group(4))
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if len(found) < 2:
        proc.kill()
        pytest.fail("licensor demo did not print both console URLs:\n" + "\n".join(lines))
    d = Demo(
        proc,
        found["Issuer"][0],
        found["Controller"][0],
        found["Issuer"][1:],  # type: ignore[arg-type]
        found["Controller"][1:],  # type: ignore[arg-type]
        lines,
        data,
    )
    try:
        yield d
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail("licensor demo did not stop within 30 s of Ctrl-C:\n" + d.output())
        time.sleep(0.3)
        d.shared["exit"] = (proc.returncode, d.output())


@pytest.fixture(scope="session")
def shots() -> Any:
    """``shots(page, "01-name")`` writes test-artifacts/browser/01-name.png; with LICENSOR_UPDATE_SCREENSHOTS=1, ``doc=True`` also
    refreshes docs/screenshots/."""
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    update = os.environ.get("LICENSOR_UPDATE_SCREENSHOTS") == "1"

    def take(page: Any, name: str, *, doc: bool = False, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if doc and update:
            DOC_SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_SHOTS / f"{name.split('-', 1)[1]}.png")
        return path

    return take


# -- axe-core: installed from tests/browser/axe/package-lock.json on first use ------------------

AXE = Path(__file__).parent / "axe"
AXE_JS = AXE / "node_modules" / "axe-core" / "axe.min.js"
REPORTS = ROOT / "test-artifacts" / "axe"


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe.min.js, installed from the lock file on first use; test-artifacts/axe/ emptied for this run's reports."""
    shutil.rmtree(REPORTS, ignore_errors=True)
    REPORTS.mkdir(parents=True)
    if not AXE_JS.is_file():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("LICENSOR_REQUIRE_NODE") == "1":
                pytest.fail("npm is required here (LICENSOR_REQUIRE_NODE=1) to install axe-core, but it is not on PATH")
            pytest.skip("npm is not installed: axe-core cannot be installed")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=AXE, check=True, timeout=300, capture_output=True)
    return AXE_JS.read_text()


@pytest.fixture
def axe(request: pytest.FixtureRequest) -> str:
    """axe.min.js for a test of its own pages (outside test_accessibility's tables); installed by ``axe_source`` only
    when missing (that one empties test-artifacts/axe/ for the run's reports)."""
    if AXE_JS.is_file():
        REPORTS.mkdir(parents=True, exist_ok=True)
        return AXE_JS.read_text()
    return str(request.getfixturevalue("axe_source"))


def sign_in(page: Any, base: str, user: str, password: str) -> Any:
    """Sign ``page`` in to the console at ``base`` through its sign-in form (the keyboard submits it); the page."""
    page.goto(base + "/login")
    page.fill("#f-username", user)
    page.fill("#f-password", password)
    page.press("#f-password", "Enter")
    page.wait_for_selector("nav[aria-label=Main]")
    return page
