"""``/docs`` works air-gapped: Swagger UI renders both services' API in Chromium with every outside request blocked."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.inprocess import controller, issuer


@pytest.mark.browser
@pytest.mark.parametrize("kind", ["issuer", "controller"])
def test_docs_render_with_no_outside_host(browser: Any, tmp_path: Path, kind: str) -> None:
    """Defect 12: Swagger UI loads only from the service and shows its operations; nothing is asked of another host."""
    outside: list[str] = []
    with (issuer if kind == "issuer" else controller)(f"sqlite:///{tmp_path / 'db.sqlite'}", socket=True) as run:
        ctx = browser.new_context()
        try:

            def guard(route: Any) -> None:
                if urlsplit(route.request.url).hostname not in ("127.0.0.1", None):
                    outside.append(route.request.url)
                    route.abort()
                else:
                    route.continue_()

            ctx.route("**/*", guard)
            page = ctx.new_page()
            page.goto(run.base + "/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert page.locator(".opblock").count() >= 15
            assert "/api/v1/" in page.content()
        finally:
            ctx.close()
    assert not outside, outside
