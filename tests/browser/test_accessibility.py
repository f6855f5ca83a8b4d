"""axe-core finds no serious or critical accessibility violation on any page of either console, at desktop and phone width.

axe-core comes from npm, pinned by tests/browser/axe/package-lock.json (``npm ci``
installs it when node_modules is missing).  Each page is opened in Debian's
Chromium, axe.min.js is evaluated in it, and ``axe.run()`` checks the whole
document.  Every violation, whatever its impact, is printed with its rule id,
impact and targets, and written to test-artifacts/axe/<page>-<width>.json;
serious and critical ones fail the test.  Without npm the tests skip, unless
``LICENSOR_REQUIRE_NODE=1`` (CI) makes that a failure.

The pages: the sign-in pages (also with their error box), every page of both
navigations, the license request dialog and page (its form, a refusal, the code it makes; a renewal's), the
issuer's request preview, a license's page, an installation's page, and pages
showing an error box.  The controller is checked first without a license (the
banner shows), then with the license the issuer made here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import REPORTS, sign_in

pytestmark = pytest.mark.browser

WIDTHS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
FAILING = ("serious", "critical")
RUN_AXE = """async () => {
  const r = await window.axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(' ')), summary: v.nodes.length ? v.nodes[0].failureSummary : ''}));
}"""


@dataclass
class Story:
    """What the pages need: signed-in browser state for each console, a request code and the license issued from it."""

    state: dict[str, Any]  # the session cookies of both consoles (their names differ)
    code: str
    license_id: str
    license_text: str
    installation_id: str


@pytest.fixture(scope="module")
def story(browser: Any, demo: Any) -> Story:
    """Sign in to both consoles, make a request code on the controller and issue a license for it on the issuer."""
    ctx = browser.new_context(viewport=WIDTHS["desktop"])
    ctx.set_default_timeout(15_000)
    ctl, iss = ctx.new_page(), ctx.new_page()
    sign_in(ctl, demo.controller, *demo.controller_login)
    ctl.goto(demo.controller + "/settings/license/request")
    for selector, value in REQUEST.items():
        ctl.fill(selector, value)
    ctl.click("#generate")
    code = str(ctl.input_value("#request-code-text"))
    sign_in(iss, demo.issuer, *demo.issuer_login)
    iss.fill("#f-request_code", code)
    iss.click("#preview")
    iss.wait_for_selector("#request-facts")
    iss.click("#issue")
    iss.wait_for_selector("#license-file")
    license_id = iss.url.split("/licenses/")[1].split("?")[0]
    installation_id = iss.inner_text("#license-facts a[href^='/installations/']").strip()
    text = str(iss.input_value("#license-file"))
    state = ctx.storage_state()
    ctx.close()
    return Story(state, code, license_id, text, installation_id)


@pytest.fixture(scope="module")
def activated(browser: Any, demo: Any, story: Story) -> Story:
    """The controller with the story's license activated (the controller pages after it are checked in that state)."""
    ctx = browser.new_context(viewport=WIDTHS["desktop"], storage_state=story.state)
    page = ctx.new_page()
    page.goto(demo.controller + "/settings/license")
    page.fill("#f-key", story.license_text)
    page.click("#activate")
    page.wait_for_selector("#flash")
    assert page.inner_text("#license-state").strip() == "Valid"
    ctx.close()
    return story


# -- what to open: one function per page, given the page, the console's URL and the story ----------------------

Open = Callable[[Any, str, Story], None]


@dataclass(frozen=True)
class Goto:
    """Open ``path`` (``{s.license_id}`` is filled from the story) and wait for ``ready``."""

    path: str
    ready: str = "main h1"

    def __call__(self, page: Any, base: str, story: Story) -> None:
        page.goto(base + self.path.format(s=story))
        page.wait_for_selector(self.ready)


@dataclass(frozen=True)
class Submit:
    """Open ``path`` (or stay: ``after``'s page), fill ``fields`` (values may name the story: ``{s.code}``), press
    ``button`` and wait for ``ready`` (by default the error box)."""

    path: str
    fields: dict[str, str]
    button: str = "main form button[type=submit]"
    ready: str = "#form-error"
    after: Open | None = None
    novalidate: bool = False  # let the server judge what the browser would stop

    def __call__(self, page: Any, base: str, story: Story) -> None:
        if self.after is not None:
            self.after(page, base, story)
        else:
            page.goto(base + self.path)
        for selector, value in self.fields.items():
            page.fill(selector, value.format(s=story))
        if self.novalidate:
            page.eval_on_selector(self.button, "b => b.form.noValidate = true")
        page.click(self.button)
        page.wait_for_selector(self.ready)


# not the admin: these failures do not count against its sign-in limit
_wrong_password = Submit("/login", {"#f-username": "axe-check", "#f-password": "not the password"})
_preview = Submit("/issue", {"#f-request_code": "{s.code}"}, "#preview", "#request-facts")
REQUEST = {"#f-name": "Ada Admin", "#f-email": "ada@example.com", "#f-company": "ACME", "#f-nodes": "5", "#f-months": "12"}


SIGN_IN: dict[str, Open] = {"sign-in": Goto("/login"), "sign-in-refused": _wrong_password}
ISSUER: dict[str, Open] = {
    "issue": Goto("/issue"),
    "issue-refused-code": Submit("/issue", {"#f-request_code": "LR1-this-is-not-a-request-code"}, "#preview"),
    "preview": _preview,
    "preview-refused-terms": Submit("", {"#f-grace_days": "100000"}, "#issue", after=_preview),
    "licenses": Goto("/licenses"),
    "licenses-search": Goto("/licenses?q=nothing-matches-this"),
    "licenses-filtered": Goto("/licenses?state=current&type=subscription&q=acme"),
    "renewals": Goto("/renewals"),
    "renewals-due": Goto("/renewals?days=400"),
    "license": Goto("/licenses/{s.license_id}"),
    "license-issued": Goto("/licenses/{s.license_id}?new=1"),
    "license-not-found": Goto("/licenses/no-such-license"),
    "customers": Goto("/customers"),
    "installations": Goto("/installations"),
    "installation": Goto("/installations/{s.installation_id}"),
    "keys": Goto("/keys"),
    "usage": Goto("/usage"),
    "usage-refused": Submit("/usage", {"#f-report": "not a usage report"}),
    "reminders": Goto("/reminders"),
    "reminders-refused": Submit("/reminders", {}, "#send-reminders"),  # the demo has no SMTP server configured
}
CONTROLLER_UNLICENSED: dict[str, Open] = {
    "dashboard-unlicensed": Goto("/", "#license-banner"),  # these run before the license is activated
    "license-unlicensed": Goto("/settings/license"),
    "request-dialog": Submit("/settings/license", {}, "#request-code", "#request-dialog[open]"),
    "request-page": Goto("/settings/license/request", "#request-form"),
    "request-refused": Submit("/settings/license/request", {**REQUEST, "#f-nodes": "0"}, "#generate", novalidate=True),
    "request-code-made": Submit("/settings/license/request", REQUEST, "#generate", "#request-qr svg"),
    "about-unlicensed": Goto("/about", "#coverage"),
    "activation-refused": Submit("/settings/license", {"#f-key": "v4.public.not-a-key"}, "#activate"),
}
CONTROLLER: dict[str, Open] = {
    "dashboard": Goto("/"),
    "nodes": Goto("/nodes"),
    "clusters": Goto("/clusters"),
    "seats": Goto("/seats"),
    "license": Goto("/settings/license"),
    "configuration": Goto("/settings/configuration"),
    "configuration-refused": Submit("/settings/configuration", {"#f-vendor_email": "not an e-mail"}, novalidate=True),
    "about": Goto("/about", "#coverage"),
    "request-renewal": Goto("/settings/license/request?nodes=8", "#request-prefilled"),
    "request-renewal-dialog": Submit("/settings/license", {}, "#request-code", "#request-dialog[open] #request-prefilled"),
}

#: What sticks out of the window sideways (empty when the page fits); elements inside a scrolling wrapper do not count.
SIDEWAYS = """() => {
  if (document.documentElement.scrollWidth <= window.innerWidth + 1) return [];
  const wide = Array.from(document.querySelectorAll('body *'))
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.parentElement.closest('.table-wrap, nav'));
  return wide.length ? wide.slice(0, 5).map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')) : ['the document'];
}"""


def _report(name: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"axe on {name}: {len(violations)} violation(s)"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}")
        lines += [f"      {t}" for t in v["targets"]]
        if v["summary"]:
            lines.append("      " + v["summary"].replace("\n", "\n      "))
    return "\n".join(lines)


def _check(
    browser: Any, axe_source: str, name: str, width: str, base: str, state: dict[str, Any] | None, open_: Open, story: Story
) -> None:
    """Open one page at one width, run axe on it, print and keep every violation; fail on serious and critical ones."""
    ctx = browser.new_context(viewport=WIDTHS[width], is_mobile=width == "phone", storage_state=state)
    ctx.set_default_timeout(15_000)
    try:
        page = ctx.new_page()
        open_(page, base, story)
        page.evaluate(axe_source)
        if width == "phone":
            assert page.evaluate(SIDEWAYS) == [], f"{page.url} scrolls sideways at phone width; too wide: {page.evaluate(SIDEWAYS)}"
        violations: list[dict[str, Any]] = page.evaluate(RUN_AXE)
        (REPORTS / f"{name}-{width}.json").write_text(json.dumps({"url": page.url, "violations": violations}, indent=2))
        report = _report(f"{name} at {width} width ({page.url})", violations)
        print(report)
        bad = [v for v in violations if v["impact"] in FAILING]
        assert not bad, report
    finally:
        ctx.close()


def check_own_page(browser: Any, axe: str, name: str, width: str, base: str, state: dict[str, Any], open_: Open) -> None:
    """``_check`` for a page a test reaches by itself (after a POST, or with data the demo does not have)."""
    _check(browser, axe, name, width, base, state, open_, Story(state, "", "", "", ""))


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("console", ["issuer", "controller"])
@pytest.mark.parametrize("name", list(SIGN_IN))
def test_sign_in_pages(browser: Any, demo: Any, story: Story, axe_source: str, name: str, console: str, width: str) -> None:
    """The sign-in page, blank and with its error box, has no serious or critical violation."""
    base = demo.issuer if console == "issuer" else demo.controller
    _check(browser, axe_source, f"{console}-{name}", width, base, None, SIGN_IN[name], story)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(CONTROLLER_UNLICENSED))
def test_controller_pages_without_a_license(browser: Any, demo: Any, story: Story, axe_source: str, name: str, width: str) -> None:
    """The controller before activation (banner, request dialog, refused key) has no serious or critical violation."""
    _check(browser, axe_source, f"controller-{name}", width, demo.controller, story.state, CONTROLLER_UNLICENSED[name], story)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(ISSUER))
def test_issuer_pages(browser: Any, demo: Any, story: Story, axe_source: str, name: str, width: str) -> None:
    """Every issuer page has no serious or critical violation."""
    _check(browser, axe_source, f"issuer-{name}", width, demo.issuer, story.state, ISSUER[name], story)


@pytest.mark.parametrize("width", list(WIDTHS))
@pytest.mark.parametrize("name", list(CONTROLLER))
def test_controller_pages(browser: Any, demo: Any, activated: Story, axe_source: str, name: str, width: str) -> None:
    """Every controller page with a license in force has no serious or critical violation."""
    _check(browser, axe_source, f"controller-{name}", width, demo.controller, activated.state, CONTROLLER[name], activated)


@pytest.mark.parametrize("console", ["issuer", "controller"])
def test_every_navigation_entry_is_checked(browser: Any, demo: Any, story: Story, console: str) -> None:
    """The pages above cover every entry of the console's navigation (a new entry must be added to them)."""
    pages = [*ISSUER.values()] if console == "issuer" else [*CONTROLLER.values(), *CONTROLLER_UNLICENSED.values()]
    checked = {o.path.split("?")[0] for o in pages if isinstance(o, Goto)}
    ctx = browser.new_context(storage_state=story.state)
    try:
        page = ctx.new_page()
        page.goto(demo.issuer if console == "issuer" else demo.controller)
        links = page.eval_on_selector_all("nav[aria-label=Main] a", "as => as.map(a => new URL(a.href).pathname)")
        assert links and set(links) <= checked, f"navigation entries no test opens: {set(links) - checked}"
    finally:
        ctx.close()


# -- phone width: a compact navigation, tables that scroll visibly ------------------------------------------------

HEADER_SHARE = """() => document.querySelector('header.top').getBoundingClientRect().height / window.innerHeight"""
TABLES = """() => Array.from(document.querySelectorAll('main table')).map(t => {
  const w = t.closest('.table-wrap'), s = w && getComputedStyle(w);
  return {wrapped: !!w, overflowX: s ? s.overflowX : '', scrolls: !!w && w.scrollWidth > w.clientWidth + 1,
          cue: s ? s.backgroundImage : 'none', focusable: !!w && w.tabIndex >= 0, name: w ? w.getAttribute('aria-label') : null};
})"""


@pytest.mark.parametrize("console", ["issuer", "controller"])
def test_phone_navigation_is_compact_and_tables_scroll_visibly(browser: Any, demo: Any, activated: Story, shots: Any, console: str) -> None:
    """At 390 px the header takes at most a tenth of the screen, every navigation entry can be reached, and each table sits
    in a named, focusable wrapper that scrolls sideways with a visible cue; the page itself never scrolls sideways."""
    base = demo.issuer if console == "issuer" else demo.controller
    names = ["preview", "licenses", "license", "installation"] if console == "issuer" else ["nodes", "license", "dashboard"]
    pages = {name: (ISSUER if console == "issuer" else CONTROLLER)[name] for name in names}
    ctx = browser.new_context(viewport=WIDTHS["phone"], is_mobile=True, storage_state=activated.state)
    try:
        page = ctx.new_page()
        for name, open_ in pages.items():
            open_(page, base, activated)
            assert page.evaluate(HEADER_SHARE) <= 0.10, f"the header takes more than a tenth of the screen on {name}"
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), f"{name} scrolls sideways"
            tables = page.evaluate(TABLES)
            assert tables, f"no table on {name}"
            for t in tables:
                assert t["wrapped"] and t["overflowX"] == "auto" and t["focusable"] and t["name"], (name, t)
                assert "gradient" in t["cue"], (name, t)  # the edge shadow that shows more is there
            assert any(t["scrolls"] for t in tables), f"no table on {name} is wider than a phone: the cue is not exercised"
        shots(page, f"13-{console}-phone", doc=console == "controller", full_page=False)  # the README shows the controller's
        last = page.locator("nav[aria-label=Main] a").last
        last.scroll_into_view_if_needed()
        assert last.is_visible() and page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        ctx.close()
