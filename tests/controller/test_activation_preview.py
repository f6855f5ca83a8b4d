"""Issue 12, activation preview: a key that takes something away is applied only when confirmed.

The API's dry run answers the comparison; an activation that needs confirmation and lacks ``confirm=true``
is refused (409 ``confirmation_required``) and changes nothing; ``licensor controller activate`` asks, or
applies with ``--yes``, and refuses (exit 1) when it cannot ask.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from licensor.controller.license.preview import comparison_text, confirmed
from licensor.errors import ConfirmationRequired

from .conftest import Server

ACTIVATE = "/api/v1/license/activate"


def _post(server: Server, key: str, query: str = "") -> Any:
    return server.http.post(ACTIVATE + query, content=key, headers={**server.admin, "content-type": "text/plain"})


def _long_key(server: Server) -> str:
    """A key in force running to three years, with the multi-cluster feature."""
    return server.key(nodes=10, remote_clusters=2, features=("multi-cluster", "sso"), months=36)


def _state(server: Server) -> dict[str, Any]:
    """The status without the reading of the clock."""
    return {k: v for k, v in server.status().items() if k != "now"}


def _terms(doc: dict[str, Any]) -> dict[str, tuple[Any, Any, str]]:
    return {t["term"]: (t["current"], t["new"], t["change"]) for t in doc["terms"]}


class TestApi:
    def test_dry_run_compares_and_changes_nothing(self, server: Server) -> None:
        """``dry_run=true``: every term current against new, what shrinks, and nothing applied."""
        server.activate(_long_key(server))
        before = _state(server)
        short = server.key(nodes=4, remote_clusters=2, features=("sso",), expires=server.now() + timedelta(days=10))
        r = _post(server, short, "?dry_run=true")
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["dry_run"] is True and doc["needs_confirmation"] is True
        assert doc["replaces"] == before["license_id"] and doc["unchanged"] is False
        assert doc["shrinks"] == ["nodes", "features", "expires", "maintenance until"]
        terms = _terms(doc)
        assert terms["nodes"] == (10, 4, "shrinks")
        assert terms["remote_clusters"] == (2, 2, "same")
        assert terms["features"] == (["multi-cluster", "sso"], ["sso"], "shrinks")
        assert terms["expires"][2] == "shrinks" and terms["type"] == ("subscription", "subscription", "same")
        assert _state(server) == before

    def test_a_first_key_needs_no_confirmation(self, server: Server) -> None:
        """Nothing in force: the dry run says so ('new'), and the key activates without confirm."""
        key = _long_key(server)
        doc = _post(server, key, "?dry_run=true").json()
        assert doc["needs_confirmation"] is False and doc["replaces"] is None
        assert {t["change"] for t in doc["terms"]} == {"new"}
        assert _post(server, key).json()["activated"] is True

    def test_a_shrinking_key_without_confirm_is_refused_and_nothing_changes(self, server: Server) -> None:
        """A key ending in 10 days over one running to three years: 409 confirmation_required, the old key stays."""
        server.activate(_long_key(server))
        before, history = _state(server), server.get("/api/v1/license/history").json()
        ends_soon = server.now() + timedelta(days=10)
        r = _post(server, server.key(nodes=10, remote_clusters=2, features=("multi-cluster", "sso"), expires=ends_soon))
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["code"] == "confirmation_required"
        assert body["hint"].startswith("This key takes something away (expires, maintenance until)")
        assert _terms(body["details"]["comparison"])["expires"][2] == "shrinks"
        assert _state(server) == before
        assert server.get("/api/v1/license/history").json() == history

    def test_a_perpetual_key_dropping_a_feature_needs_confirmation(self, server: Server) -> None:
        """A perpetual key without 'multi-cluster' outlasts the subscription but still takes the feature away."""
        server.activate(_long_key(server))
        key = server.key(nodes=10, remote_clusters=2, features=("sso",), type="perpetual", months=36)
        r = _post(server, key)
        assert r.status_code == 409 and r.json()["details"]["comparison"]["shrinks"] == ["features"]
        assert "multi-cluster" in server.status()["features"]

    def test_confirm_applies_it(self, server: Server) -> None:
        """``confirm=true`` applies the shrinking key: its terms are in force, the old key in the history."""
        old = server.activate(_long_key(server))["license_id"]
        r = _post(server, server.key(nodes=4, remote_clusters=2, features=("sso",)), "?confirm=true")
        assert r.status_code == 200, r.text
        assert r.json()["replaced"] == old and r.json()["status"]["nodes"] == 4
        assert server.status()["features"] == ["sso"]

    def test_a_growing_key_activates_at_once(self, server: Server) -> None:
        """Existing clients keep working: a key that only grows needs no confirm."""
        server.activate(server.key(nodes=5, months=12))
        r = _post(server, server.key(nodes=8, remote_clusters=1, months=24))
        assert r.status_code == 200 and r.json()["activated"] is True and r.json()["status"]["nodes"] == 8

    def test_a_refused_key_is_refused_by_the_dry_run_too(self, server: Server) -> None:
        """The dry run judges like activation: an older serial is superseded."""
        first = server.key(nodes=5)
        server.activate(server.key(nodes=5))
        r = _post(server, first, "?dry_run=true")
        assert r.status_code == 422 and r.json()["code"] == "superseded"


class TestCli:
    def test_without_a_terminal_it_refuses_and_shows_the_comparison(self, server: Server, tmp_path: Path) -> None:
        """No TTY and no --yes: the comparison is printed, the code named, exit 1, nothing changes."""
        server.activate(_long_key(server))
        before = _state(server)
        path = tmp_path / "short.lic"
        path.write_text(server.key(nodes=3, remote_clusters=2, features=("multi-cluster", "sso"), months=36))
        ran = server.cli("controller", "activate", str(path))
        assert ran.code == 1
        assert "confirmation_required" in ran.err and "This key takes something away: nodes." in ran.out
        assert "Nodes              10" in ran.out and "shrinks" in ran.out
        assert _state(server) == before

    def test_yes_applies_it(self, server: Server, tmp_path: Path) -> None:
        """``--yes`` is for scripts: the shrinking key is applied."""
        server.activate(_long_key(server))
        path = tmp_path / "short.lic"
        path.write_text(server.key(nodes=3, remote_clusters=2, features=("multi-cluster", "sso"), months=36))
        ran = server.cli("controller", "activate", str(path), "--yes")
        assert ran.code == 0, ran.err
        assert ran.out.startswith("Activated license") and server.status()["nodes"] == 3


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestPrompt:
    DOC: ClassVar[dict[str, Any]] = {
        "shrinks": ["nodes"],
        "terms": [
            {"term": "nodes", "label": "Nodes", "current": 10, "new": 3, "change": "shrinks"},
            {"term": "features", "label": "Features", "current": ["sso"], "new": ["sso"], "change": "same"},
            {"term": "expires", "label": "Expires", "current": None, "new": None, "change": "same"},
        ],
    }

    def test_the_table(self) -> None:
        """Term, current, new and the change, in columns; no end reads 'never'."""
        assert comparison_text(self.DOC).split("\n") == [
            "          Current  New",
            "Nodes     10       3      shrinks",
            "Features  sso      sso    same",
            "Expires   never    never  same",
        ]

    def test_asks_on_a_terminal(self) -> None:
        """On a terminal it asks (y/N): only y or yes applies; anything else, or Enter, does not."""
        refusal = ConfirmationRequired("takes something away", details={"comparison": self.DOC})
        for answer, applied in (("y\n", True), ("YES\n", True), ("\n", False), ("no\n", False), ("", False)):
            out = io.StringIO()
            assert confirmed(refusal, _Terminal(answer), out) is applied
            assert out.getvalue().endswith("Activate it anyway? (y/N) ")
