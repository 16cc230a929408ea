"""Stored and reflected XSS, rendered in real Chromium.

Every user-typed field that Breachdesk renders gets every payload below: script tags, event handlers,
``javascript:`` and ``data:`` URLs, SVG and MathML, broken markup, attribute and tag break-outs, and
template syntax (``{{7*7}}`` must show literally, never ``49``). Each page is then loaded in Chromium and
checked: no dialog opened, ``window.__xss`` is unset, the page title is the app's own, no element or event
handler was injected into the DOM, and the payload reads on the page exactly as it was typed.

The stored pages are loaded with the Content Security Policy *bypassed*, so a missing escape shows up
as a running script instead of being hidden by the CSP; the journeys through the real forms keep the CSP
and fail on any CSP violation too (defence in depth: both layers are checked).

Data: the module empties the database once, loads the demo organisation and, through the services, gives
each payload its own account (its display name is the payload), subject (name, office, handle), a press
referral (title, summary, outlet, journalist, comment, agreed extension, share reason) and a content
removal (title, summary, captured post text/URL/author, evidence file name and description, platform
report reference, comment). Each payload's account signs in with ``?next=`` pointing at its incident, so
one sign-in checks the header too.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

import pytest

from app.extensions import db
from app.models import Person, SocialHandle, User
from app.services import access as access_service
from app.services import deadlines as deadline_service
from app.services import evidence as evidence_service
from app.services.demo import DEMO_DOMAIN
from app.services.incidents import OpenRequest, PostInput, open_incident, take_transition
from app.services.users import create_user, find_by_email
from tests.browser.conftest import CONTEXT_OPTIONS, LiveServer, save_screenshot, seed_demo, sign_in_through_form

pytestmark = pytest.mark.browser

SENTINEL_TITLE = "XSSED"

# Single-line, no leading/trailing or doubled whitespace (so rendered text compares exactly), each at most
# 200 characters (the longest column), distinct even after a handle's normalisation (strip "@", lower-case).
PAYLOADS: list[str] = [
    "<script>alert(1)</script>",
    '"><script>alert(2)</script>',
    "'><script>confirm(3)</script>",
    "<img src=x onerror=alert(4)>",
    '<img src="x" onerror="window.__xss=5">',
    "<svg onload=alert(6)>",
    "<svg><script>prompt(7)</script></svg>",
    "<svg/onload=window.__xss=8>",
    "javascript:alert(9)",
    '<a href="javascript:alert(10)">click me</a>',
    "<iframe src=javascript:alert(11)>",
    '<iframe srcdoc="<script>parent.__xss=12</script>">',
    "<body onload=alert(13)>",
    "<details open ontoggle=alert(14)>",
    "<math><mtext></p><script>alert(15)</script>",
    "'-alert(16)-'",
    '";alert(17);//',
    "{{7*7}}",
    "{{config}}",
    "${7*7}",
    "{%print(7*7)%}",
    "{{''.__class__.__mro__[1].__subclasses__()}}",
    "#{7*7} <%= 7*7 %> [[7*7]]",
    "<!--<script>alert(24)</script>-->",
    "<b>unclosed bold",
    "</textarea><script>alert(26)</script>",
    f"</title><script>document.title='{SENTINEL_TITLE}'</script>",
    "<style>*{x:expression(alert(28))}</style>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgyOSk8L3NjcmlwdD4=",
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgzMCk8L3NjcmlwdD4=">',
    "<embed src=javascript:alert(31)>",
    "<input autofocus onfocus=alert(32)>",
    "<marquee onstart=alert(33)>x</marquee>",
    "<video><source onerror=alert(34)></video>",
    "<audio src=x onerror=window.__xss=35>",
    "<form action=javascript:alert(36)><button>go</button></form>",
    '<base href="javascript:alert(37)//">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(38)">',
    "<scr<script>ipt>alert(39)</scr</script>ipt>",
    "<SCRIPT SRC=//evil.example/x40.js></SCRIPT>",
    "<ScRiPt>alert(41)</sCrIpT>",
    "&lt;script&gt;alert(42)&lt;/script&gt;",
    "&#60;img src=x onerror=alert(43)&#62;",
    "\u202egnp.exe<script>alert(44)</script>",
    "\u200b<svg onload=alert(45)>\u200b",
    "null",
    "undefined",
    "<script>alert(48)</script>" * 7,
    '<a href="jav&#x09;ascript:alert(49)">tab</a>',
    '" autofocus onfocus="alert(50)',
    "' autofocus onfocus='window.__xss=51",
    "<x onclick=alert(52)>click</x>",
    '<noscript><p title="</noscript><img src=x onerror=alert(53)>">',
    "<template><script>alert(54)</script></template>",
    "`${alert(55)}`",
    '\\";alert(56);//',
    "</script><script>alert(57)</script>",
    "]]><script>alert(58)</script>",
    "<img src=x:alert(59) onerror=eval(src)>",
    "<svg><animate onbegin=alert(60) attributeName=x dur=1s>",
    "50%_off <i>x</i> Ünïcödé ☃ 💥",
]
IDS = [f"p{i:02d}" for i in range(len(PAYLOADS))]
assert len(PAYLOADS) >= 40
assert len({p.strip().lstrip("@").lower() for p in PAYLOADS}) == len(PAYLOADS), "payloads must be distinct"
assert all(len(p) <= 200 and p == p.strip() and "  " not in p and "\n" not in p for p in PAYLOADS)

# Payloads worth a full journey through the real forms (each form, typed into by Chromium).
FORM_SAMPLE = [0, 3, 5, 10, 17, 18, 25, 26, 43, 47, 50, 55]

ROLE_COMMS = "comms"
SHARE_TARGET = "rep"  # Rae Rep cannot read college incidents, so sharing with her is allowed


def share_reason(payload: str) -> str:
    return f"Shared: {payload}"


def evidence_name(payload: str) -> str:
    """A file name holding the payload. The app keeps only the part after the last slash (a path's folders)
    and drops control and direction-changing characters; the expected display name follows that rule."""
    return f"{payload} (evidence).txt"


# ------------------------------------------------------------------------------------------ the probe

# Anything the app's own pages never contain: if one of these is in the DOM, markup was injected.
PROBE_JS = r"""
(expectedTitle) => {
  const problems = [];
  if (typeof window.__xss !== 'undefined') problems.push('window.__xss is set: ' + String(window.__xss));
  if (typeof parent.__xss !== 'undefined') problems.push('parent.__xss is set');
  const title = document.title;
  if (expectedTitle !== null && title !== expectedTitle) problems.push('document.title is ' + JSON.stringify(title));
  if (expectedTitle === null && title.includes('XSSED')) problems.push('document.title is ' + JSON.stringify(title));
  const banned = 'script, iframe, frame, frameset, object, embed, img, svg, math, style, base, marquee, video, ' +
                 'audio, source, template, noscript, x, b, i, font, applet, animate, body meta, body link, ' +
                 'body title, head > :not(meta, title, link)';
  for (const el of document.querySelectorAll(banned)) {
    problems.push('injected element: ' + el.outerHTML.slice(0, 100));
  }
  const urlAttrs = ['href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'srcdoc', 'content'];
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) problems.push(`event handler ${name} on <${el.tagName.toLowerCase()}>`);
      if (urlAttrs.includes(name) && /^\s*(javascript|data|vbscript):/i.test(attr.value.replace(/[\t\n\r]/g, ''))) {
        problems.push(`script URL in ${name} of <${el.tagName.toLowerCase()}>: ${attr.value.slice(0, 60)}`);
      }
      if (name === 'srcdoc' || name === 'autofocus' && el.tagName !== 'INPUT') {
        problems.push(`${name} on <${el.tagName.toLowerCase()}>`);
      }
    }
  }
  if (document.querySelectorAll('[autofocus]').length > 1) problems.push('more than one autofocus element');
  return problems;
}
"""

TEXTS_JS = r"""
(selectors) => Object.fromEntries(selectors.map(
  (s) => [s, Array.from(document.querySelectorAll(s), (e) => e.innerText)]))
"""


@dataclass
class Watch:
    """Everything a page did that a payload could have caused: dialogs, script errors, CSP refusals."""

    page: object
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self) -> Watch:
        self.page.on("dialog", self._on_dialog)  # type: ignore[attr-defined]
        self.page.on("console", self._on_console)  # type: ignore[attr-defined]
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))  # type: ignore[attr-defined]
        return self

    def _on_dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(f"{dialog.type}({dialog.message!r}) @ {self.page.url}")  # type: ignore[attr-defined]
        dialog.dismiss()

    def _on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        # A 4xx form page logs "Failed to load resource" for the document itself; injected elements that
        # would load something are caught by the DOM probe instead.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")

    def problems(self, where: str, expected_title: str | None) -> list[str]:
        """Everything wrong so far on this page, each prefixed with ``where``; clears the record."""
        found = [*self.dialogs, *self.errors]
        self.dialogs.clear()
        self.errors.clear()
        found += self.page.evaluate(PROBE_JS, expected_title)  # type: ignore[attr-defined]
        return [f"{where}: {problem}" for problem in found]

    def texts(self, *selectors: str) -> dict[str, list[str]]:
        return self.page.evaluate(TEXTS_JS, list(selectors))  # type: ignore[attr-defined]


def html_title(text: str) -> str:
    """What ``document.title`` reads for a <title>: ASCII whitespace collapsed and trimmed."""
    return re.sub(r"[ \t\n\f\r]+", " ", f"{text} · Breachdesk").strip(" \t\n\f\r")


class Checker:
    """Collects every mismatch, so one run reports all of them instead of the first."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def extend(self, problems: list[str]) -> None:
        self.failures.extend(problems)

    def equal(self, where: str, got: object, expected: object) -> None:
        if got != expected:
            self.failures.append(f"{where}: expected {expected!r}, got {got!r}")

    def contains(self, where: str, got: str | None, part: str) -> None:
        if got is None or part not in got:
            self.failures.append(f"{where}: {part!r} not shown in {got!r}")

    def assert_clean(self, payload: str) -> None:
        assert not self.failures, f"payload {payload!r}:\n  " + "\n  ".join(self.failures)


# ------------------------------------------------------------------------------------------- the data


@dataclass
class PayloadData:
    payload: str
    email: str
    person_id: int
    press_id: int
    press_reference: str
    removal_id: int
    removal_reference: str
    evidence_display: str


@dataclass
class World:
    live_server: LiveServer
    password: str
    by_payload: list[PayloadData]


def _seed_payload(session, registry, live_server: LiveServer, index: int, payload: str, password: str,
                  rep: User) -> PayloadData:  # type: ignore[no-untyped-def]
    user = create_user(session, actor=None, email=f"xss{index}@{DEMO_DOMAIN}", name=payload, role=ROLE_COMMS,
                       password=password, team_key="communications")
    person = Person(name=payload, role="contributor", office=payload)
    person.handles.append(SocialHandle(platform="x", handle=payload))
    session.add(person)
    session.flush()

    press = open_incident(session, registry, OpenRequest(
        workflow_key="press-referral", title=payload, summary=payload, subject=person, assignee=user,
    ), actor=user)
    take_transition(session, registry, press, "forward_to_press_office", actor=user,
                    values={"outlet": payload, "journalist": payload}, comment=payload)
    acknowledge = next(d for d in press.deadlines if d.is_live and d.key == "acknowledge")
    deadline_service.agree_extension(session, press, acknowledge, actor=user, reason=payload, agreed_by=payload,
                                     by="2 working days")
    access_service.share(session, press, actor=user, with_user=rep, reason=share_reason(payload))

    removal = open_incident(session, registry, OpenRequest(
        workflow_key="content-removal", title=payload, summary=payload, subject=person, assignee=user,
        post=PostInput(platform="x", url=payload, author_handle=payload, text=payload),
    ), actor=user)
    evidence = evidence_service.capture_file(
        session, removal, actor=user, filename=evidence_name(payload), stream=io.BytesIO(b"plain evidence text\n"),
        folder=live_server.app.config["BREACHDESK"].evidence_path, description=payload)
    take_transition(session, registry, removal, "report_to_platform", actor=user,
                    values={"platform_report_reference": payload}, comment=payload)
    return PayloadData(payload=payload, email=user.email, person_id=person.id, press_id=press.id,
                       press_reference=press.reference, removal_id=removal.id, removal_reference=removal.reference,
                       evidence_display=evidence.original_name)


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> Iterator[World]:
    seeded = seed_demo(live_server)
    registry = live_server.app.extensions["breachdesk.workflows"]
    session = db.session
    rep = find_by_email(session, f"{SHARE_TARGET}@{DEMO_DOMAIN}")
    assert rep is not None
    data = [_seed_payload(session, registry, live_server, i, p, seeded.password, rep) for i, p in enumerate(PAYLOADS)]
    session.commit()
    db.session.remove()
    yield World(live_server=live_server, password=seeded.password, by_payload=data)
    db.session.remove()


@pytest.fixture(scope="module")
def comms_state(browser, world: World) -> dict:  # type: ignore[no-untyped-def]
    """Chris Comms, signed in once through the form; tests start new contexts from this storage state."""
    context = browser.new_context(base_url=world.live_server.url, **CONTEXT_OPTIONS)
    try:
        page = context.new_page()
        sign_in_through_form(page, ROLE_COMMS, world.password, lambda *_: None)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture
def open_page(browser, world: World, request: pytest.FixtureRequest) -> Iterator[Callable[..., Watch]]:  # type: ignore[no-untyped-def]
    """``open_page(state=None, csp=False)``: a page in a new context, watched; closed after the test."""
    contexts = []

    def make(state: dict | None = None, csp: bool = False) -> Watch:
        options = {**CONTEXT_OPTIONS, "bypass_csp": not csp}
        if state is not None:
            options["storage_state"] = state
        context = browser.new_context(base_url=world.live_server.url, **options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return Watch(context.new_page()).attach()

    yield make
    for context in contexts:
        context.close()


def goto(watch: Watch, path: str, status: int = 200) -> None:
    response = watch.page.goto(path)  # type: ignore[attr-defined]
    assert response is not None and response.status == status, (
        f"GET {path}: HTTP {response.status if response else None}, expected {status}"
    )


# ------------------------------------------------------------------------------------- page checks


def check_press_page(check: Checker, watch: Watch, item: PayloadData) -> None:
    p = item.payload
    where = f"press referral {item.press_reference}"
    check.extend(watch.problems(where, html_title(item.press_reference)))
    t = watch.texts("main h1", "section.main-col > p.prewrap", "dl.facts a[href*='/people/']",
                    "dl.facts dd:nth-of-type(3)", "dl.facts dd:nth-of-type(4)", "ol.history > li > strong",
                    "ol.history p.comment", "ol.history dd", "ul.deadlines li", "aside.side-col")
    check.equal(f"{where} title heading", t["main h1"], [p])
    check.equal(f"{where} summary", t["section.main-col > p.prewrap"], [p])
    check.equal(f"{where} subject link", t["dl.facts a[href*='/people/']"], [p])
    check.equal(f"{where} assignee", t["dl.facts dd:nth-of-type(3)"], [p])
    check.contains(f"{where} opened by", (t["dl.facts dd:nth-of-type(4)"] or [None])[0], f" by {p}")
    actors = t["ol.history > li > strong"]
    check.equal(f"{where} history actors", set(actors), {p})
    comments = t["ol.history p.comment"]
    for expected in (p, share_reason(p)):
        if expected not in comments:
            check.failures.append(f"{where} history comments: {expected!r} not in {comments!r}")
    check.equal(f"{where} outlet and journalist", t["ol.history dd"], [p, p])
    check.contains(f"{where} extension", "\n".join(t["ul.deadlines li"]), f"agreed by {p}: {p}")
    check.contains(f"{where} share reason", (t["aside.side-col"] or [None])[0], f"): {share_reason(p)}")
    if "7*7" in p:
        check.equal(f"{where} template evaluated", "49" in t["main h1"][0] if t["main h1"] else False, False)


def check_removal_page(check: Checker, watch: Watch, item: PayloadData) -> None:
    p = item.payload
    where = f"content removal {item.removal_reference}"
    check.extend(watch.problems(where, html_title(item.removal_reference)))
    t = watch.texts("main h1", "section.main-col > p.prewrap", "article.post > p.muted", "article.post blockquote",
                    "article.post p.break", "article.post p.hash", "ul.evidence li > a",
                    "ul.evidence li > span.muted", "ul.evidence li span.hash", "ol.history > li > strong",
                    "ol.history p.comment", "ol.history dd")
    check.equal(f"{where} title heading", t["main h1"], [p])
    check.equal(f"{where} summary", t["section.main-col > p.prewrap"], [p])
    check.equal(f"{where} post author", t["article.post > p.muted"], [f"x · {p}"])
    check.equal(f"{where} post text", t["article.post blockquote"], [p])
    check.equal(f"{where} post URL", t["article.post p.break"], [f"URL: {p}"])
    check.contains(f"{where} post captured by", (t["article.post p.hash"] or [None])[0], f" by {p}")
    check.equal(f"{where} evidence name", t["ul.evidence li > a"], [item.evidence_display])
    check.contains(f"{where} evidence description", (t["ul.evidence li > span.muted"] or [None])[0], f", {p})")
    check.contains(f"{where} evidence captured by", (t["ul.evidence li span.hash"] or [None])[0], f" by {p}")
    check.equal(f"{where} history actors", set(t["ol.history > li > strong"]), {p})
    check.equal(f"{where} transition comment", t["ol.history p.comment"], [p])
    check.equal(f"{where} platform report reference", t["ol.history dd"], [p])


def check_person_page(check: Checker, watch: Watch, item: PayloadData) -> None:
    p = item.payload
    where = f"person {item.person_id}"
    check.extend(watch.problems(where, html_title(p)))
    t = watch.texts("main h1", "dl.facts dd", "main ul > li")
    check.equal(f"{where} name", t["main h1"], [p])
    check.equal(f"{where} office and handle", t["dl.facts dd"][1:], [p, f"x: {p}"])
    check.equal(f"{where} incidents", sorted(t["main ul > li"]),
                sorted([f"{item.press_reference} {p}", f"{item.removal_reference} {p}"]))


def header_name(watch: Watch) -> str:
    return watch.page.evaluate(  # type: ignore[attr-defined]
        "() => document.querySelector('header .who > span').firstChild.textContent.trim()")


# ------------------------------------------------------------------------------------------------ tests


def test_the_probe_sees_an_unescaped_payload(open_page) -> None:  # type: ignore[no-untyped-def]
    """The checks are not blind: the same payloads written into a page unescaped are all caught."""
    watch = open_page()
    watch.page.set_content(  # type: ignore[attr-defined]
        "<title>x</title><main><img src=x onerror=alert(1)><svg onload=\"window.__xss=1\"></svg>"
        "<script>document.title='XSSED'</script><a href='javascript:alert(2)'>x</a></main>")
    watch.page.wait_for_function("() => window.__xss === 1")  # type: ignore[attr-defined]
    problems = watch.problems("canary", "x")
    assert any("alert('1')" in p for p in problems), problems
    assert any("window.__xss" in p for p in problems), problems
    assert any("document.title" in p for p in problems), problems
    assert any("event handler onerror" in p for p in problems), problems
    assert any("script URL in href" in p for p in problems), problems


@pytest.mark.parametrize("index", range(len(PAYLOADS)), ids=IDS)
def test_stored_payload_is_shown_as_typed(open_page, world: World, index: int) -> None:  # type: ignore[no-untyped-def]
    """The payload's own account signs in (its name is the payload) straight to its press referral, then
    reads its content removal and its subject's page."""
    item = world.by_payload[index]
    check = Checker()
    watch = open_page()
    page = watch.page
    goto(watch, "/login?" + urlencode({"next": f"/incidents/{item.press_id}"}))
    check.extend(watch.problems("sign-in page", html_title("Sign in")))
    page.locator("input[name=email]").fill(item.email)  # type: ignore[attr-defined]
    page.locator("input[name=password]").fill(world.password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(rf"/incidents/{item.press_id}$"))  # type: ignore[attr-defined]
    check.equal("header name", header_name(watch), item.payload)
    check_press_page(check, watch, item)
    if index in (0, 17):
        save_screenshot(page, f"test_xss-{IDS[index]}", "press-referral")

    goto(watch, f"/incidents/{item.removal_id}")
    check.equal("header name on the second page", header_name(watch), item.payload)
    check_removal_page(check, watch, item)
    if index in (3, 17):
        save_screenshot(page, f"test_xss-{IDS[index]}", "content-removal")

    goto(watch, f"/people/{item.person_id}")
    check_person_page(check, watch, item)
    if index == 26:
        save_screenshot(page, f"test_xss-{IDS[index]}", "person")
    check.assert_clean(item.payload)


def test_incident_list_shows_every_title_and_assignee(open_page, world: World, comms_state: dict) -> None:  # type: ignore[no-untyped-def]
    """The list, every page of it: titles and assignees (the payload accounts) are text, never markup."""
    check = Checker()
    watch = open_page(comms_state)
    titles: list[str] = []
    assignees: list[str] = []
    path: str | None = "/incidents?status=all"
    pages = 0
    while path is not None:
        goto(watch, path)
        pages += 1
        check.extend(watch.problems(f"list page {pages}", html_title("Incidents")))
        t = watch.texts("table.list tbody td:nth-child(2)", "table.list tbody td:nth-child(6)")
        titles += t["table.list tbody td:nth-child(2)"]
        assignees += t["table.list tbody td:nth-child(6)"]
        if pages == 1:
            save_screenshot(watch.page, "test_xss", "incident-list")
        older = watch.page.locator("nav.pager a", has_text="Older incidents")  # type: ignore[attr-defined]
        path = older.get_attribute("href") if older.count() else None
        assert pages < 10
    for payload in PAYLOADS:
        if titles.count(payload) < 2:
            check.failures.append(f"list: title {payload!r} shown {titles.count(payload)} times, expected 2 or more")
        if assignees.count(payload) < 2:
            check.failures.append(f"list: assignee {payload!r} shown {assignees.count(payload)} times")
    check.assert_clean("(all)")


def _search_params(watch: Watch) -> dict[str, list[str]]:
    return watch.page.evaluate(  # type: ignore[attr-defined]
        """() => Object.fromEntries(Array.from(document.querySelectorAll('nav.pager a'), (a) => {
                const params = new URL(a.href).searchParams;
                return [a.innerText, ['q', 'workflow', 'status'].map((k) => params.get(k))];
            }))""")


def test_search_and_filter_parameters_are_reflected_as_text(open_page, world: World, comms_state: dict) -> None:  # type: ignore[no-untyped-def]
    """?q=, ?workflow=, ?status=, ?state= and ?before= on /incidents, and an unknown workflow's page."""
    watch = open_page(comms_state)
    failures: list[str] = []
    for index, payload in enumerate(PAYLOADS):
        check = Checker()
        # 1. Searching finds both incidents with the payload as title; the pager link carries the filters.
        goto(watch, "/incidents?" + urlencode({"q": payload, "workflow": payload, "status": payload,
                                               "before": 2**31 - 1}))
        check.extend(watch.problems("search", html_title("Incidents")))
        check.equal("search box", watch.page.locator("#q").input_value(), payload)  # type: ignore[attr-defined]
        titles = watch.texts("table.list tbody td:nth-child(2)")["table.list tbody td:nth-child(2)"]
        if titles.count(payload) < 2:
            check.failures.append(f"search: title {payload!r} found {titles.count(payload)} times in {titles!r}")
        check.equal("pager link filters", _search_params(watch).get("First page"), [payload, payload, payload])
        if index == 17:
            save_screenshot(watch.page, "test_xss", "search")

        # 2. Filters that match nothing: the empty state, with the state and a non-number ?before=.
        goto(watch, "/incidents?" + urlencode({"q": payload, "state": payload, "before": payload}))
        check.extend(watch.problems("empty search", html_title("Incidents")))
        check.equal("search box (empty result)", watch.page.locator("#q").input_value(), payload)  # type: ignore[attr-defined]
        check.contains("empty result", watch.page.locator("div.empty").inner_text(), "No incidents match.")  # type: ignore[attr-defined]

        # 3. A workflow page for a key that does not exist.
        goto(watch, "/workflows/" + quote(payload, safe=""), status=404)
        check.extend(watch.problems("workflow page", None))
        failures += [f"{IDS[index]} {payload!r}: {f}" for f in check.failures]
    assert not failures, "\n".join(failures)


def test_login_page_next_and_email_are_reflected_as_text(open_page, world: World) -> None:  # type: ignore[no-untyped-def]
    """The sign-in page with ?next=<payload>, and the e-mail field re-shown after a refused form."""
    watch = open_page()
    page = watch.page
    failures: list[str] = []
    for index, payload in enumerate(PAYLOADS):
        check = Checker()
        goto(watch, "/login?" + urlencode({"next": payload}))
        check.extend(watch.problems("sign-in page", html_title("Sign in")))
        # No password: the form is refused before any account is looked up (so nothing is throttled).
        page.locator("input[name=email]").fill(payload)  # type: ignore[attr-defined]
        with page.expect_response(lambda r: r.request.method == "POST") as posted:  # type: ignore[attr-defined]
            page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
        check.equal("refused form status", posted.value.status, 400)
        page.wait_for_load_state()  # type: ignore[attr-defined]
        check.extend(watch.problems("refused sign-in form", html_title("Sign in")))
        check.equal("e-mail field re-shown", page.locator("input[name=email]").input_value(), payload)  # type: ignore[attr-defined]
        if index == 2:
            save_screenshot(page, "test_xss", "login-refused")
        failures += [f"{IDS[index]} {payload!r}: {f}" for f in check.failures]
    assert not failures, "\n".join(failures)


HOSTILE_NEXT = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "//evil.example/",
    "https://evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/%2F%2Fevil.example/",
    "/incidents?q=<script>alert(1)</script>",
]


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=[f"next{i}" for i in range(len(HOSTILE_NEXT))])
def test_sign_in_never_follows_a_hostile_next(open_page, world: World, live_server: LiveServer, target: str) -> None:  # type: ignore[no-untyped-def]
    watch = open_page()
    page = watch.page
    external: list[str] = []

    def block(route) -> None:  # type: ignore[no-untyped-def]
        external.append(route.request.url)
        route.abort()

    page.context.route(re.compile(r"^(?!" + re.escape(live_server.url) + r")[a-z]+://"), block)  # type: ignore[attr-defined]
    goto(watch, "/login?" + urlencode({"next": target}))
    page.locator("input[name=email]").fill(f"{ROLE_COMMS}@{DEMO_DOMAIN}")  # type: ignore[attr-defined]
    page.locator("input[name=password]").fill(world.password)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]
    page.wait_for_load_state()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while "/login" in page.url and not external and time.monotonic() < deadline:  # type: ignore[attr-defined]
        page.wait_for_timeout(50)  # type: ignore[attr-defined]
    page.wait_for_timeout(100)  # type: ignore[attr-defined]
    assert not external, f"next={target!r} sent the browser off-site: {external}"
    landed = urlsplit(page.url)  # type: ignore[attr-defined]
    assert f"{landed.scheme}://{landed.netloc}" == live_server.url, f"next={target!r} landed on {page.url}"  # type: ignore[attr-defined]
    problems = watch.problems("after sign-in", None)
    assert not problems, problems


# -------------------------------------------------------------------------------- through the forms


def _step(page, title: str):  # type: ignore[no-untyped-def]
    step = page.locator("details.transition").filter(
        has=page.locator("summary", has_text=re.compile(rf"^{re.escape(title)}$")))
    step.locator("summary").click()
    return step


@pytest.mark.parametrize("index", FORM_SAMPLE, ids=[IDS[i] for i in FORM_SAMPLE])
def test_payload_typed_into_every_form(open_page, world: World, comms_state: dict, index: int) -> None:  # type: ignore[no-untyped-def]
    """Chris Comms types the payload into the real forms (CSP on): open an incident, forward it, an
    extension (first refused, then agreed), an evidence upload, a share (first refused, then made)."""
    from playwright.sync_api import expect

    payload = PAYLOADS[index]
    check = Checker()
    watch = open_page(comms_state, csp=True)
    page = watch.page
    shot = f"test_xss-form-{IDS[index]}"

    # Open an incident.
    goto(watch, "/incidents/new")
    check.extend(watch.problems("new incident form", html_title("Open an incident")))
    page.get_by_label("Workflow").select_option("press-referral")  # type: ignore[attr-defined]
    page.get_by_label("Title").fill(payload)  # type: ignore[attr-defined]
    page.get_by_label("Summary").fill(payload)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Open incident").click()  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/incidents/\d+$"))  # type: ignore[attr-defined]
    incident_id = int(page.url.rsplit("/", 1)[1])  # type: ignore[attr-defined]
    reference = page.locator(".flash-success").inner_text().split(" ", 1)[0]  # type: ignore[attr-defined]
    title = html_title(reference)
    check.extend(watch.problems("opened", title))
    t = watch.texts("main h1", "section.main-col > p.prewrap")
    check.equal("title", t["main h1"], [payload])
    check.equal("summary", t["section.main-col > p.prewrap"], [payload])

    # Forward it: two free-text fields and a comment.
    step = _step(page, "Forward to the press office")
    step.get_by_label("Outlet").fill(payload)
    step.get_by_label("Journalist", exact=True).fill(payload)
    step.get_by_label("Comment").fill(payload)
    step.get_by_role("button", name="Forward to the press office").click()
    expect(page.get_by_label("Current state")).to_have_text("Forwarded to the press office")
    check.extend(watch.problems("forwarded", title))
    t = watch.texts("ol.history dd", "ol.history p.comment")
    check.equal("outlet and journalist", t["ol.history dd"], [payload, payload])
    check.equal("transition comment", t["ol.history p.comment"], [payload])

    # An extension whose length is the payload: refused, and everything typed is shown back as text.
    extension = page.locator("details.extension").first
    extension.locator("summary").click()
    extension.get_by_label("…or extend by").fill(payload)
    extension.get_by_label("Why it was agreed").fill(payload)
    extension.get_by_label("Agreed by").fill(payload)
    extension.get_by_role("button", name="Record extension").click()
    expect(page.locator(".flash-error")).to_contain_text("Extension not recorded")
    check.extend(watch.problems("refused extension", title))
    extension = page.locator("details.extension").first
    check.equal("extend-by shown back", extension.get_by_label("…or extend by").input_value(), payload)
    check.equal("reason shown back", extension.get_by_label("Why it was agreed").input_value(), payload)
    check.equal("agreed-by shown back", extension.get_by_label("Agreed by").input_value(), payload)
    if repr(payload)[1:-1] == payload:  # the message quotes the text with repr()
        check.contains("extension error", page.locator(".flash-error").inner_text(), payload)
    extension.get_by_label("…or extend by").fill("2 working days")
    extension.get_by_role("button", name="Record extension").click()
    expect(page.locator(".flash-success")).to_contain_text("Extension recorded")
    check.extend(watch.problems("extension", title))
    check.contains("extension", page.locator("ul.deadlines").inner_text(), f"agreed by {payload}: {payload}")

    # Evidence: the payload as the file's name and as its description.
    evidence = page.locator("details.aside-form", has=page.locator("summary", has_text="Add a screenshot or file"))
    evidence.locator("summary").click()
    evidence.get_by_label("Screenshot or file").set_input_files(
        files=[{"name": evidence_name(payload), "mimeType": "text/plain", "buffer": b"plain evidence text\n"}])
    evidence.get_by_label("What it shows").fill(payload)
    evidence.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()
    check.extend(watch.problems("evidence upload", title))
    flash = page.locator(".flash").first.inner_text()
    names = watch.texts("ul.evidence li > a")["ul.evidence li > a"]
    if "added; SHA-256" not in flash:
        check.failures.append(f"evidence upload refused: {flash!r}")
    elif len(names) != 1 or f"'{names[0]}' added" not in flash:
        check.failures.append(f"evidence name {names!r} does not match the message {flash!r}")
    else:
        sent = evidence_service.display_name(evidence_name(payload))
        # Chromium percent-encodes " in a multipart file name; any other difference is the app's.
        if names[0] not in (sent, evidence_service.display_name(evidence_name(payload).replace('"', "%22"))):
            check.failures.append(f"evidence name: expected {sent!r}, got {names[0]!r}")
        check.contains("evidence description", watch.texts("ul.evidence li > span.muted")[
            "ul.evidence li > span.muted"][0], f", {payload})")

    # Share: first with the payload as the e-mail address (refused, shown back), then with Rae Rep.
    share = page.locator("details.aside-form", has=page.locator("summary", has_text="Share this incident"))
    share.locator("summary").click()
    share.get_by_label("Share with (e-mail address)").fill(payload)
    share.get_by_label("Reason").fill(share_reason(payload))
    share.get_by_role("button", name="Share").click()
    expect(page.locator(".flash-error")).to_contain_text("Not shared")
    check.extend(watch.problems("refused share", title))
    share = page.locator("details.aside-form", has=page.locator("summary", has_text="Share this incident"))
    check.equal("share e-mail shown back", share.get_by_label("Share with (e-mail address)").input_value(), payload)
    check.equal("share reason shown back", share.get_by_label("Reason").input_value(), share_reason(payload))
    share.locator("summary").click()
    share.get_by_label("Share with (e-mail address)").fill(f"{SHARE_TARGET}@{DEMO_DOMAIN}")
    share.get_by_label("Reason").fill(share_reason(payload))
    share.get_by_role("button", name="Share").click()
    expect(page.locator(".flash-success")).to_contain_text("Shared with")
    check.extend(watch.problems("shared", title))
    check.contains("share reason", page.locator("aside.side-col").inner_text(), f"): {share_reason(payload)}")
    if index in (0, 17):
        save_screenshot(page, shot, "after-every-form")

    # The list shows the new title as text.
    goto(watch, "/incidents?" + urlencode({"q": payload}))
    check.extend(watch.problems("list", html_title("Incidents")))
    row = page.locator("table.list tbody tr", has=page.locator(f"a[href='/incidents/{incident_id}']"))
    check.equal("list title", row.locator("td").nth(1).inner_text() if row.count() else None, payload)
    check.assert_clean(payload)
