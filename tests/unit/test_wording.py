"""Wording: every hint and message licensor can show starts in sentence case, counts say '1 node' / '10 days'
(never '(s)'), and what the consoles show names no command of the CLI."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from markupsafe import escape

from licensor import errors, seats, trusted_time
from licensor.controller.web.shell import PAGES, banner
from licensor.nextstep import cli_step, console_step
from licensor.policy import STATES, Verdict, check, evaluate, evaluate_activation, update_allowed
from licensor.signing import VendorKey
from licensor.testing import T0, TestVendor, test_installation

SRC = Path(__file__).resolve().parents[2] / "src" / "licensor"


def sentence_case(text: str) -> bool:
    """Starts with a capital or a digit (or quotes what was given, as in "'2027-13' is not a date"); no '(s)'."""
    return bool(text) and (text[0].isupper() or text[0].isdigit() or text[0] == "'") and "(s)" not in text


def every_verdict() -> Iterator[Verdict]:
    """At least one verdict of every state in ``policy.STATES``, made by the real core, and the other verdicts it makes."""
    vendor = TestVendor()
    _, inst = test_installation()
    token = vendor.issue(inst)
    yield check(None, vendor.keyring, inst, T0)
    yield check("hello, here is my key", vendor.keyring, inst, T0)
    forged = vendor.license(inst, nodes=10_000).sign(VendorKey.generate())
    body, good = forged.split(".")[2], token.split(".")[2]
    yield check("v4.public." + body[: len(body) - 86] + good[-86:] + "." + token.split(".")[3], vendor.keyring, inst, T0)
    yield check(TestVendor().issue(inst), vendor.keyring, inst, T0)
    yield check(token, vendor.keyring, replace(inst, product="other"), T0)
    yield check(token, vendor.keyring, test_installation()[1], T0)
    yield check(token, vendor.keyring, replace(inst, factors={k: "moved" for k in inst.factors}), T0)
    yield check(token, vendor.keyring, replace(inst, highest_serial=5), T0)
    rolled = check(token, vendor.keyring, replace(inst, trusted_time=T0 + timedelta(days=10)), T0)
    yield rolled
    for mark in (trusted_time.Mark(observed=T0 + timedelta(days=10)), trusted_time.Mark(proven=T0 + timedelta(days=10))):
        yield trusted_time.explain(rolled, mark, T0)
    yield evaluate(vendor.license(inst, now=T0 + timedelta(days=30)), inst, T0)
    short = vendor.license(inst, months=1, grace_days=10)
    assert short.expires is not None
    yield evaluate(short, inst, short.expires + timedelta(days=1))
    yield evaluate(short, inst, short.expires + timedelta(days=30))
    for days in (1, 10, 29):
        yield evaluate(short, inst, short.expires - timedelta(days=days))
    perpetual = vendor.license(inst, type="perpetual", months=1, nodes=1)
    yield evaluate(perpetual, inst, T0 + timedelta(days=60))
    yield update_allowed(perpetual, T0)
    yield update_allowed(perpetual, T0 + timedelta(days=90))
    yield evaluate_activation(
        vendor.license(inst, serial=3), vendor.license(inst, serial=2), T0, installation=replace(inst, highest_serial=3)
    ).verdict


def test_every_state_is_walked() -> None:
    assert {v.code for v in every_verdict()} >= {s.code for s in STATES}


@pytest.mark.parametrize("verdict", list(every_verdict()), ids=lambda v: v.code)
def test_verdict_hints_are_sentences_without_commands(verdict: Verdict) -> None:
    """Every hint and warning of every verdict state: sentence case, no '(s)', and no command (the consoles show them)."""
    for text in (verdict.hint, *verdict.warnings):
        assert sentence_case(text), text
        assert "licensor " not in text and "'licensor" not in text, text


def test_seat_refusals_are_sentences() -> None:
    """The seat refusals, for both kinds and every limit that words them differently."""
    hints = [seats.refusal_hint(kind, limit)[1] for kind in seats.KINDS for limit in (0, 1, 5)]
    hints += [seats.taken_refusal(kind, "n1", timedelta(seconds=90))[1] for kind in seats.KINDS]
    hints += [seats.secret_refusal(kind, "n1", legacy)[1] for kind in seats.KINDS for legacy in (False, True)]
    assert all(sentence_case(h) for h in hints), [h for h in hints if not sentence_case(h)]
    assert "1 node allowed" in seats.refusal_hint("node", 1)[1] and "1 remote cluster allowed" in seats.refusal_hint("cluster", 1)[1]
    assert "5 nodes allowed" in seats.refusal_hint("node", 5)[1]


def test_next_steps() -> None:
    """The console's next step names no command; the command line's names its command."""
    for state in STATES:
        for details in (None, {"acknowledgeable": True}):
            step = console_step(state.code, details)
            assert step is None or (sentence_case(step) and "licensor " not in step), (state.code, step)
            cli = cli_step(state.code, details)
            assert (cli is None) == (step is None) and (cli is None or sentence_case(cli))
    assert console_step("valid") is None and "licensor controller activate" in (cli_step("expired") or "")
    assert "acknowledge" in (console_step("clock_rollback", {"acknowledgeable": True}) or "")
    assert "acknowledge" not in (console_step("clock_rollback", {"acknowledgeable": False}) or "")


def _banner_html(status: dict[str, object]) -> str:
    html = PAGES.env.get_template("page.html").render(
        request=SimpleNamespace(), path="/", banner=banner(status), status=status, state_words={}, user="admin", csrf="x"
    )
    found = re.search(r'<div class="banner[^"]*" role="alert" id="license-banner">.*?</div>', html, re.S)
    assert found is not None, html
    return found.group(0)


@pytest.mark.parametrize("verdict", list(every_verdict()), ids=lambda v: v.code)
def test_console_banner_names_no_command(verdict: Verdict) -> None:
    """The controller console's banner for every verdict state: the hint and the console's next step, no CLI command."""
    status = verdict.as_dict()
    if verdict.code == "valid" and not verdict.warnings:
        assert banner(status) is None
        return
    shown = _banner_html(status)
    assert escape(verdict.hint) in shown or any(escape(w) in shown for w in verdict.warnings)
    assert "licensor " not in shown and "'licensor" not in shown, shown
    if (step := console_step(verdict.code, verdict.details)) and verdict.code != "valid":
        assert escape(step) in shown


def test_error_classes_are_sentences() -> None:
    """Each error class's docstring (what ``--help`` and the API docs quote) reads as a sentence; codes are unchanged."""
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.LicensorError)]
    assert {c.code for c in classes} >= {"malformed", "too_large", "untrusted", "unknown_key", "bad_signature", "refused", "usage"}
    for c in classes:
        assert sentence_case((c.__doc__ or "").strip()), c


# -- every literal hint in the source ------------------------------------------------------------------------------

_ERRORS = {n for n, c in vars(errors).items() if isinstance(c, type) and issubclass(c, errors.LicensorError)}
#: Where the hint is, by callable: the error classes take it first.
_HINT_ARG = {"Verdict": 1, "_refused": 1, "Outcome": 2, "_valid": 0, **dict.fromkeys(_ERRORS, 0)}


def _leading_text(node: ast.expr) -> Iterator[ast.expr]:
    """The string expressions a hint starts with (both arms of a conditional, the left of a concatenation)."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        yield from _leading_text(node.left)
    elif isinstance(node, ast.IfExp):
        yield from _leading_text(node.body)
        yield from _leading_text(node.orelse)
    elif isinstance(node, (ast.Constant, ast.JoinedStr)):
        yield node


def _hint_literals(tree: ast.AST) -> Iterator[ast.expr]:
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in _HINT_ARG and len(n.args) > _HINT_ARG[name]:
                yield from _leading_text(n.args[_HINT_ARG[name]])
            for k in n.keywords:
                if k.arg == "hint":
                    yield from _leading_text(k.value)
        elif isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "hint" for t in n.targets):
            yield from _leading_text(n.value)
        elif isinstance(n, ast.FunctionDef) and (n.name == "hint" or n.name.endswith(("_hint", "_refusal"))):
            for r in ast.walk(n):  # what a hint property or a refusal function answers: the text, or (code, text)
                if isinstance(r, ast.Return) and r.value is not None:
                    yield from _leading_text(r.value.elts[-1] if isinstance(r.value, ast.Tuple) else r.value)


def _start(node: ast.expr) -> str | None:
    """The literal text a string expression starts with; None when it starts with a value (checked at run time)."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    assert isinstance(node, ast.JoinedStr)
    first = node.values[0] if node.values else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None


def test_every_hint_in_the_source_starts_in_upper_case() -> None:
    """Every hint written in src/ (errors raised, verdicts and seat outcomes made): sentence case, no '(s)'."""
    bad, seen = [], 0
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in _hint_literals(ast.parse(path.read_text(), str(path))):
            text = _start(node)
            if not text:  # starts with a value (checked at run time above), or no hint at all ("")
                continue
            seen += 1
            if not sentence_case(text) or "(s)" in ast.unparse(node):
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}: {text[:60]}")
    assert seen > 150 and not bad, "\n".join(bad)


def test_no_count_with_s_in_parentheses() -> None:
    """No '(s)' anywhere people read: sources and console templates use words.plural and the plural filter."""
    hits = [
        f"{p.relative_to(SRC)}:{i}"
        for p in sorted(SRC.rglob("*"))
        if p.suffix in (".py", ".html")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "(s)" in line
    ]
    assert not hits, hits


def test_templates_count_with_the_plural_filter() -> None:
    """A number printed right before its noun in a console template goes through ``|plural``: never '1 nodes'."""
    noun = re.compile(r"\}\}\s*(nodes?|clusters?|remote clusters?|days?|months?|entries|seats?)\b")
    hits = [
        f"{p.relative_to(SRC)}:{i}: {line.strip()[:80]}"
        for p in sorted(SRC.rglob("*.html"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if noun.search(line)
    ]
    assert not hits, hits


def test_templates_name_no_command() -> None:
    """No console template tells people to run a command: the consoles name their own pages and buttons."""
    command = re.compile(r"licensor (controller|vendor|agent)\b")
    hits = [f"{p.relative_to(SRC)}: {m.group(0)}" for p in sorted(SRC.rglob("*.html")) for m in command.finditer(p.read_text())]
    assert not hits, hits
