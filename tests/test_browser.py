"""The portal in a real browser: Debian's Chromium driven by Playwright.

One headless Chromium serves the whole module; each test gets a fresh context (its own
cookies) against pytest-django's live server, and signs in as the demo cast from
``portal.accounts.demo``. Run just these with ``pytest -m browser``.

Chromium comes from the distribution (``apt-get install chromium``), never from
``playwright install``. Without it these tests are skipped, or fail under CI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Response,
    expect,
    sync_playwright,
)

from portal.accounts.demo import DEMO_PASSWORD, demo_setup
from tests.services import IN_CI

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling home, and the network here is closed.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
SCREENSHOT = Path("/tmp/preflight-lead.png")  # noqa: S108 - a look at the page, not kept
SIGN_IN_PATH = "/accounts/login/"

# Each demo role, the page it lands on after signing in, and that page's heading.
LANDINGS = [
    pytest.param("lead@example.com", "/portfolio/", "Portfolio", id="product-lead"),
    pytest.param("security@example.com", "/queue/", "Review queue", id="security-reviewer"),
    pytest.param("manager@example.com", "/portfolio/", "Portfolio", id="manager"),
    pytest.param("auditor@example.com", "/activity/", "Activity", id="auditor"),
    pytest.param("admin@example.com", "/administration/", "Administration", id="admin"),
]


@pytest.fixture(scope="module", autouse=True)
def _allow_django_beside_playwright() -> Iterator[None]:
    # Playwright's sync API keeps an asyncio loop running in this thread, so Django's
    # async-safety check would refuse the test's own database work (set-up, flushes).
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="module")
def browser(_allow_django_beside_playwright: None) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message + " (CI=true: a missing browser fails the run)", pytrace=False)
        pytest.skip(message)
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def _new_page(browser: Browser, base_url: str, **options: Any) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(base_url=base_url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def page(browser: Browser, live_server) -> Iterator[Page]:
    yield from _new_page(browser, live_server.url)


@pytest.fixture
def page_without_js(browser: Browser, live_server) -> Iterator[Page]:
    yield from _new_page(browser, live_server.url, java_script_enabled=False)


@pytest.fixture
def demo_cast(transactional_db) -> None:
    demo_setup()


@dataclass
class PageProblems:
    """What a page complained about: console errors, CSP violations, failed loads."""

    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    failed_responses: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        page.on("response", self._on_response)
        # Chromium reports CSP violations in the console too; the DOM event names them.
        page.expose_function("__preflightCspViolation", self._on_csp_violation)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.__preflightCspViolation(`${e.violatedDirective} blocked ${e.blockedURI}`));"
        )

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url')})")

    def _on_csp_violation(self, report: str) -> None:
        self.csp_violations.append(report)

    def _on_response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed_responses.append(f"{response.status} {response.url}")


def sign_in(page: Page, email: str, password: str) -> None:
    """Fill in and send the sign-in form; returns once the next page has loaded."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def open_sign_in(page: Page, live_server_url: str) -> None:
    """Open the site's root as a stranger and follow the redirect to the sign-in page."""
    page.goto(live_server_url + "/")
    expect(page).to_have_url(re.compile(re.escape(SIGN_IN_PATH) + r"(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Preflight")


def path_of(page: Page) -> str:
    return str(page.evaluate("location.pathname"))


@pytest.mark.parametrize(("email", "landing", "heading"), LANDINGS)
def test_each_role_signs_in_and_lands_on_its_page(
    demo_cast, page: Page, live_server, email: str, landing: str, heading: str
) -> None:
    problems = PageProblems()
    problems.watch(page)
    open_sign_in(page, live_server.url)
    sign_in(page, email, DEMO_PASSWORD)

    assert path_of(page) == landing
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(page.get_by_test_id("signed-in-user")).to_contain_text(email)
    nav = page.get_by_role("navigation", name="Primary navigation")
    expect(nav.get_by_role("link", name=heading)).to_have_attribute("aria-current", "page")
    assert problems == PageProblems(), "the sign-in or landing page complained"

    if email == "lead@example.com":
        page.screenshot(path=str(SCREENSHOT), full_page=True)


def test_a_wrong_password_is_refused_cleanly(demo_cast, page: Page, live_server) -> None:
    problems = PageProblems()
    problems.watch(page)
    open_sign_in(page, live_server.url)

    sign_in(page, "lead@example.com", "not-the-password")

    expect(page.get_by_role("alert")).to_contain_text("not correct")
    assert path_of(page) == SIGN_IN_PATH
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Preflight")
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)

    assert problems.console_errors == []
    assert problems.csp_violations == []
    assert problems.failed_responses == []

    # USWDS really styled the page: its stylesheet loaded (same origin, so its rules are
    # readable) and a USWDS button does not look like the browser's own.
    uswds_rules = page.evaluate(
        """() => [...document.styleSheets]
            .filter((sheet) => (sheet.href || '').endsWith('/uswds.min.css'))
            .map((sheet) => sheet.cssRules.length)"""
    )
    assert len(uswds_rules) == 1 and uswds_rules[0] > 1000, uswds_rules
    styles = page.evaluate(
        """() => {
            const plain = document.createElement('button');
            document.body.append(plain);
            const look = (el) => {
                const s = getComputedStyle(el);
                return {background: s.backgroundColor, font: s.fontFamily, radius: s.borderRadius};
            };
            const result = {
                usa: look(document.querySelector('button.usa-button[type=submit]')),
                plain: look(plain),
            };
            plain.remove();
            return result;
        }"""
    )
    assert styles["usa"]["background"] != styles["plain"]["background"], styles
    assert "Source Sans Pro" in styles["usa"]["font"], styles


def test_signing_out_returns_to_sign_in_and_locks_the_pages(
    demo_cast, page: Page, live_server
) -> None:
    open_sign_in(page, live_server.url)
    sign_in(page, "manager@example.com", DEMO_PASSWORD)
    assert path_of(page) == "/portfolio/"

    page.get_by_test_id("signed-in-user").get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(re.compile(re.escape(SIGN_IN_PATH) + r"(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Preflight")
    expect(page.get_by_test_id("signed-in-user")).to_have_count(0)

    page.goto(live_server.url + "/portfolio/")
    expect(page).to_have_url(live_server.url + SIGN_IN_PATH + "?next=/portfolio/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Preflight")


def test_signing_in_works_without_javascript(demo_cast, page_without_js: Page, live_server) -> None:
    page = page_without_js
    open_sign_in(page, live_server.url)
    # The page's own scripts really did not run: htmx never defined itself.
    assert page.evaluate("typeof window.htmx") == "undefined"

    sign_in(page, "auditor@example.com", DEMO_PASSWORD)

    assert path_of(page) == "/activity/"
    expect(page.get_by_role("heading", level=1)).to_have_text("Activity")
    expect(page.get_by_test_id("signed-in-user")).to_contain_text("auditor@example.com")


def test_the_pages_have_an_icon(page: Page, live_server) -> None:
    page.goto(live_server.url + SIGN_IN_PATH)
    icon = page.evaluate(
        "document.querySelector('link[rel~=icon]')?.href ?? location.origin + '/favicon.ico'"
    )
    response = page.request.get(icon)
    assert response.status == 200, f"{response.status} {icon}"


# --- the review flow, end to end --------------------------------------------------------

FLOW_CHECKLIST = b"""---
title: Launch basics
slug: launch-basics
---
## Operations
- **Backups are taken and restored**
- **Someone is alerted when it is down**
- A status page exists
"""


def sign_out(page: Page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()


def open_item(page: Page, item_text: str) -> Locator:
    """Open an item's editor in place (htmx) from the overview; returns the item."""
    item = page.locator(
        "li.preflight-item", has=page.get_by_role("link", name=item_text, exact=True)
    )
    if item.locator(".preflight-editor").count() == 0:
        item.get_by_role("link", name=item_text, exact=True).click()
    expect(item.locator(".preflight-editor")).to_be_visible()
    return item


def item_pk(item: Locator) -> str:
    return (item.get_attribute("id") or "").removeprefix("answer-")


def answer_item(
    page: Page, item_text: str, status: str, justification: str = "", reopen: bool = False
) -> Locator:
    """Change an answer in its editor and wait for it to say it saved."""
    item = open_item(page, item_text)
    if justification:
        item.get_by_label("Justification").fill(justification)
    if reopen:
        item.locator("#reopen-box-" + item_pk(item) + " label").click()
    item.locator("select[name$=-status]").select_option(label=status)
    expect(item.locator("[id^=saved-]")).to_have_text("Saved.")
    return item


def add_link_evidence(page: Page, item_text: str, url: str) -> None:
    item = open_item(page, item_text)
    item.locator("summary", has_text="Add evidence").click()
    item.get_by_label("Link address").fill(url)
    item.get_by_role("button", name="Add evidence").click()
    expect(item.get_by_text("Evidence added.")).to_be_visible()


def test_a_review_is_answered_submitted_signed_off_and_goes_stale_on_edit(
    demo_cast, page: Page, live_server
) -> None:
    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from portal.accounts.models import Team
    from reviews.models import Review, ReviewState, Service

    checklist_import(parsed=parse_file("x.md", FLOW_CHECKLIST).checklist, by=None, publish=True)
    Service.objects.create(
        name="Benefits portal", slug="benefits-portal", team=Team.objects.get(slug="benefits")
    )
    problems = PageProblems()
    problems.watch(page)

    # The product lead starts a review and answers it in place.
    open_sign_in(page, live_server.url)
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + "/services/benefits-portal/")
    page.get_by_label("Checklist").select_option(label="Launch basics (v1)")
    with page.expect_navigation():
        page.get_by_role("button", name="Start review").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Benefits portal")
    answer_item(page, "Backups are taken and restored", "Met")
    answer_item(page, "Someone is alerted when it is down", "Met")
    answer_item(page, "A status page exists", "Not met")
    # The summary bar follows each save without a reload.
    expect(page.locator("#review-summary")).to_contain_text("0 open must-haves")
    expect(page.locator("#review-summary")).to_contain_text("Readiness 66%")
    add_link_evidence(page, "Backups are taken and restored", "https://example.com/restore-test")
    add_link_evidence(page, "Someone is alerted when it is down", "https://example.com/pager")

    # One exception, for the unmet item.
    item = open_item(page, "A status page exists")
    item.locator("summary", has_text="Request an exception").click()
    item.get_by_label("Rationale").fill("Internal launch first")
    item.get_by_label("Compensating controls").fill("Announcements go to the team channel")
    item.get_by_label("Expires on").fill((date.today() + timedelta(days=30)).isoformat())
    item.get_by_role("button", name="Request exception").click()
    expect(item.get_by_text("Exception requested")).to_be_visible()
    expect(item.locator(".preflight-row__exception")).to_have_text("Exception: pending")

    with page.expect_navigation():
        page.get_by_role("button", name="Submit for sign-off").click()
    expect(page.get_by_text("The review is submitted.")).to_be_visible()
    review = Review.objects.get()
    assert review.state == ReviewState.SUBMITTED
    sign_out(page)

    # The security reviewer finds it in the queue, waiting on an exception: sign-off
    # waits for the decision.
    sign_in(page, "security@example.com", DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    with page.expect_navigation():
        page.get_by_role("link", name="Benefits portal").click()
    expect(page.locator("#review-summary")).to_contain_text("1 pending exception")
    expect(page.get_by_role("button", name="Sign off")).to_be_disabled()
    expect(page.locator("#sign-blocker")).to_contain_text("waiting for a decision")
    item = open_item(page, "A status page exists")
    item.get_by_role("button", name="Approve exception").click()
    expect(item.get_by_text("Decision recorded.")).to_be_visible()
    page.reload()
    with page.expect_navigation():
        page.get_by_role("link", name="Sign off").click()
    # Signing asks for the password again (allauth's re-authentication).
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm Access")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Confirm").click()
    page.get_by_label("Approve").check()
    page.get_by_label("Comment").fill("Good to go")
    with page.expect_navigation():
        page.get_by_role("button", name="Record sign-off").click()
    expect(page.get_by_text("Sign-off recorded.")).to_be_visible()
    expect(page.locator("#review-summary .preflight-state")).to_have_text("Approved")
    sign_out(page)

    # An edit by the team asks first, then reopens the review; the page says so at once.
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + review.get_absolute_url())
    expect(page.get_by_text("This reopens the review and makes 1 sign-off stale")).to_be_visible()
    answer_item(page, "A status page exists", "Partially met", reopen=True)
    expect(page.locator("#review-summary .preflight-state")).to_have_text("Draft")
    expect(page.locator("#review-summary")).to_contain_text("(1 stale)")
    page.reload()
    expect(page.get_by_text("Stale: the review changed since")).to_be_visible()
    review.refresh_from_db()
    assert review.state == ReviewState.DRAFT
    assert problems.console_errors == [] and problems.csp_violations == []


def test_typing_a_note_then_pressing_save_is_one_save_and_no_error(
    demo_cast, page: Page, live_server
) -> None:
    """Today's race: leaving the notes field saves (htmx), and the row's Save sends the
    same revision again. The browser queues them; the server takes the repeat as done."""
    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from portal.accounts.models import Team, User
    from reviews.models import Answer, Service
    from reviews.services import review_start

    version = checklist_import(
        parsed=parse_file("x.md", FLOW_CHECKLIST).checklist, by=None, publish=True
    ).version
    service = Service.objects.create(
        name="Benefits portal", slug="benefits-portal", team=Team.objects.get(slug="benefits")
    )
    lead = User.objects.get(email="lead@example.com")
    review = review_start(service=service, checklist_version=version, by=lead)
    problems = PageProblems()
    problems.watch(page)

    open_sign_in(page, live_server.url)
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + review.get_absolute_url())
    item = open_item(page, "A status page exists")
    item.get_by_label("Notes").fill("Status page goes up after launch")
    item.get_by_role("button", name="Save").click()
    expect(item.locator("[id^=saved-]")).to_have_text("Saved.")
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("while you were editing it")).to_have_count(0)
    stored = Answer.objects.get(review=review, item__text="A status page exists")
    assert (stored.notes, stored.revision) == ("Status page goes up after launch", 2)
    assert problems.console_errors == [] and problems.failed_responses == []


AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2 A/AA violations on the page as it is now, in words."""
    # Evaluated by the browser's debugger, so the page's own CSP (no inline scripts) holds.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        """async () => (await axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'best-practice']}))
            .violations.map((v) => `${v.id}: ${v.help}: ${v.nodes.map((n) => n.html).join(' ')}`)"""
    )
    return list(found)


def _workspace(lead_email: str = "lead@example.com") -> Any:
    """The flow checklist's review, one item bound to a check that passes now."""
    from django.utils import timezone

    from checklists.models import Item
    from checklists.parsers import parse_file
    from checklists.services import checklist_import
    from portal.accounts.models import Team, User
    from reviews.models import CheckResult, CheckRun, CheckRunTrigger, CheckStanding, Service
    from reviews.services import review_start

    bound = FLOW_CHECKLIST.replace(
        b"---\n##",
        b"checks:\n  someone-is-alerted-when-it-is-down: [http.health]\n---\n##",
        1,
    )
    version = checklist_import(parsed=parse_file("x.md", bound).checklist, by=None, publish=True)
    version = version.version
    assert Item.objects.get(version=version, text__startswith="Someone").checks
    service = Service.objects.create(
        name="Benefits portal", slug="benefits-portal", team=Team.objects.get(slug="benefits")
    )
    now = timezone.now()
    run = CheckRun.objects.create(trigger=CheckRunTrigger.MANUAL, finished_at=now)
    result = CheckResult.objects.create(
        run=run,
        service=service,
        check_key="http.health",
        binding="http.health",
        result="pass",
        explanation="The health check answered 200.",
        checked_at=now,
        fresh_until=now + timedelta(days=1),
    )
    CheckStanding.objects.create(
        service=service,
        check_key="http.health",
        binding="http.health",
        latest=result,
        standing=result,
        standing_result="pass",
    )
    return review_start(
        service=service, checklist_version=version, by=User.objects.get(email=lead_email)
    )


def test_the_workspace_overview_opens_items_in_place_by_mouse_keyboard_and_link(
    demo_cast, page: Page, live_server
) -> None:
    from reviews.models import Answer, AnswerStatus, Evidence

    review = _workspace()
    problems = PageProblems()
    problems.watch(page)
    open_sign_in(page, live_server.url)
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + review.get_absolute_url())

    # The overview: compact rows, no editor until one is opened.
    expect(page.locator("li.preflight-item")).to_have_count(3)
    expect(page.locator(".preflight-editor")).to_have_count(0)
    expect(page.locator("#review-summary")).to_contain_text("2 open must-haves")
    assert axe_violations(page) == []

    # Clicking an item opens its editor in place, with its guidance open beside it.
    item = open_item(page, "A status page exists")
    expect(item.get_by_role("heading", name="Guidance")).to_be_visible()
    expect(item.locator("select[name$=-status]")).to_be_visible()
    assert axe_violations(page) == []
    item.get_by_role("link", name="A status page exists", exact=True).click()
    expect(item.locator(".preflight-editor")).to_have_count(0)

    # The keyboard: j moves to the first item, e opens it, 2 answers "met", ? lists keys.
    page.locator("h1").click()
    page.keyboard.press("j")
    first = page.locator("li.preflight-item").first
    expect(first.locator(".preflight-row__open")).to_be_focused()
    page.keyboard.press("j")
    second = page.locator("li.preflight-item").nth(1)
    expect(second.locator(".preflight-row__open")).to_be_focused()
    page.keyboard.press("k")
    expect(first.locator(".preflight-row__open")).to_be_focused()
    page.keyboard.press("e")
    expect(first.locator(".preflight-editor")).to_be_visible()
    expect(first.locator(".preflight-row__open")).to_have_attribute("aria-expanded", "true")
    first.locator(".preflight-row__open").focus()
    page.keyboard.press("2")
    expect(first.locator("[id^=saved-]")).to_have_text("Saved.")
    expect(first.locator(".preflight-answer-status")).to_have_text("Met")
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()

    # "Checks pass: mark as met": one click sets met and links the check's result.
    alerted = page.locator(
        "li.preflight-item",
        has=page.get_by_role("link", name="Someone is alerted when it is down", exact=True),
    )
    alerted.get_by_role("button", name="Checks pass: mark as met").click()
    expect(alerted.locator(".preflight-answer-status")).to_have_text("Met")
    expect(alerted.get_by_text("1 evidence")).to_be_visible()
    answer = Answer.objects.get(review=review, item__text="Someone is alerted when it is down")
    assert answer.status == AnswerStatus.MET
    assert "/checks/runs/" in Evidence.objects.get(answer=answer).url

    # A link to an item opens its editor.
    target = Answer.objects.get(review=review, item__text="A status page exists")
    page.goto(f"{live_server.url}{review.get_absolute_url()}#answer-{target.pk}")
    expect(page.locator(f"#editor-{target.pk} .preflight-editor")).to_be_visible()

    # The item's own page is clean too.
    page.goto(f"{live_server.url}/reviews/{review.pk}/items/{target.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("A status page exists")
    assert axe_violations(page) == []
    assert problems.console_errors == [] and problems.failed_responses == []


def test_preflights_own_57_item_review_is_at_most_6000_px_for_its_lead(
    demo_cast, page: Page, live_server
) -> None:
    from django.core.management import call_command

    from reviews.demo import PREFLIGHT, demo_reviews
    from reviews.models import Review

    call_command("load_builtin_checklists", verbosity=0)
    demo_reviews()
    review = Review.objects.get(service__slug=PREFLIGHT)
    assert review.item_count == 57
    page.set_viewport_size({"width": 1280, "height": 900})
    open_sign_in(page, live_server.url)
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + review.get_absolute_url())
    expect(page.locator("li.preflight-item")).to_have_count(57)
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= 6000, f"{height} px"


def test_without_javascript_every_item_has_its_own_page(
    demo_cast, page_without_js: Page, live_server
) -> None:
    from reviews.models import Answer

    review = _workspace()
    page = page_without_js
    open_sign_in(page, live_server.url)
    sign_in(page, "lead@example.com", DEMO_PASSWORD)
    page.goto(live_server.url + review.get_absolute_url())
    with page.expect_navigation():
        page.get_by_role("link", name="A status page exists", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("A status page exists")
    page.get_by_label("Notes").fill("Written without scripts")
    with page.expect_navigation():
        page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Answer saved.")).to_be_visible()
    stored = Answer.objects.get(review=review, item__text="A status page exists")
    assert stored.notes == "Written without scripts"


def test_a_manager_filters_to_blocked_opens_a_service_from_the_heat_map_and_exports_csv(
    demo_cast, page: Page, live_server
) -> None:
    import csv
    import io

    from django.core.management import call_command

    from reviews.demo import demo_reviews

    call_command("load_builtin_checklists", verbosity=0)
    demo_reviews()
    problems = PageProblems()
    problems.watch(page)
    open_sign_in(page, live_server.url)
    sign_in(page, "manager@example.com", DEMO_PASSWORD)
    assert path_of(page) == "/portfolio/"

    page.get_by_role("link", name=re.compile(r"\d+ Blocked")).click()
    expect(page).to_have_url(re.compile(r"status=blocked"))
    rows = page.locator("table.preflight-portfolio tbody tr th[scope=row] a")
    blocked = sorted(rows.all_inner_texts())
    assert blocked, "the demo has blocked services"

    # The heat map follows the filter; a cell opens that section of the review.
    page.get_by_role("link", name="Heat map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Heat map")
    assert "status=blocked" in page.url
    heat_rows = page.locator("table.preflight-heat-map tbody th[scope=row] a").all_inner_texts()
    assert set(heat_rows) <= set(blocked) and heat_rows
    first_cell = page.locator("table.preflight-heat-map tbody td a").first
    target = first_cell.get_attribute("href") or ""
    first_cell.click()
    assert path_of(page).startswith("/reviews/")
    anchor = target.split("#", 1)[1]
    expect(page.locator(f"#{anchor}")).to_be_visible()

    # Back to the filtered portfolio; its CSV has exactly the rows the page shows.
    page.goto(live_server.url + "/portfolio/?status=blocked")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    exported = sorted(row["Service"] for row in csv.DictReader(io.StringIO(text)))
    assert exported == blocked
    assert problems == PageProblems(), "a portfolio page complained"


def test_an_admin_follows_waiting_tasks_from_the_administration_page(
    demo_cast, page: Page, live_server
) -> None:
    """The Administration page's *Waiting tasks* card leads to the outbox in the admin,
    and *Manage teams* to a team's page; they pass axe (static/css/admin.css underlines
    the admin's breadcrumbs, static/js/admin.js gives the member picker's icons a role)."""
    problems = PageProblems()
    problems.watch(page)
    open_sign_in(page, live_server.url)
    sign_in(page, "admin@example.com", DEMO_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    expect(page.get_by_text("Nothing waits for the task queue")).to_be_visible()
    assert axe_violations(page) == []
    page.get_by_role("link", name="View waiting tasks").click()
    expect(page.locator("#content h1")).to_contain_text("task waiting for the broker")
    assert axe_violations(page) == []
    assert problems == PageProblems()
    # A team's page, with Django's two-list member picker (static/js/admin.js). Its
    # script sets inline styles, which the CSP refuses (style-src 'self'), so this page's
    # console is not held to the same bar; what it renders is.
    page.go_back()
    page.get_by_role("link", name="Manage teams").click()
    page.get_by_role("link", name="Benefits Team").click()
    expect(page.locator("#id_members_input")).to_be_visible()
    expect(page.locator("span.help-tooltip[role=img]")).to_have_count(2)
    assert axe_violations(page) == []
