"""Daily use in chromium at laptop and phone sizes: nothing overflows, errors are summarised and focused,
the list searches and sorts in place, keys rotate with a confirmation, and history turns Completed live."""

from __future__ import annotations

import re

import pytest

from tests.browser.browser_support import missing_browser_reason, shoot
from tests.browser.conftest import PASSWORD, USERNAME

REASON = missing_browser_reason()
if REASON:
    print(f"SKIP browser tests: {REASON}")
    pytest.skip(REASON, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

SIZES = {"laptop": (1280, 800), "phone": (390, 844)}
LONG_ERROR = "Upstream refused the request: " + "x" * 300 + " (see /var/log/worker/" + "a" * 120 + ".log)"


@pytest.fixture(scope="module")
def daily(server) -> dict:
    """Create schedules for this module: one with long results and errors, and one for search and sort."""
    ids = {}

    def create(key: str, **body) -> str:
        """Create a schedule through the API; remember its id."""
        base = {"client_id": "billing", "capability_required": "invoice-v1", "cron_expression": "0 3 * * *"}
        ids[key] = server.api("POST", "/aitp/tasks/schedule", {**base, **body})["schedule_id"]
        return ids[key]

    noisy = create("noisy", task_type="ledger-export", description="Ledger export with long answers")
    for i in range(3):
        server.api("POST", f"/aitp/tasks/schedule/{noisy}/run")
        task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["invoice-v1"]})["tasks"][0]
        if i == 1:
            server.api("POST", f"/aitp/tasks/{task['task_id']}/fail", {"error_message": LONG_ERROR})
        else:
            result = {"rows": list(range(60)), "path": "/exports/" + "b" * 150}
            server.api("POST", f"/aitp/tasks/{task['task_id']}/complete", {"result_data": result})
    create("zebra", task_type="zebra-count", description="Zzz zebra census", client_id="reports")
    create("aardvark", task_type="aardvark-count", description="Aardvark census", client_id="reports")
    return ids


@pytest.fixture(params=list(SIZES))
def sized(request, browser, server):
    """Return a signed-in page at laptop (1280x800) or phone (390x844) size."""
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, base_url=server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto("/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/schedules")
    page.size_name = request.param
    yield page
    context.close()


def assert_fits(page) -> None:
    """Fail when the page or any table scrolls sideways, or when a label overlaps its value."""
    overflow = page.evaluate(
        """() => {
          const out = [];
          const doc = document.documentElement;
          if (doc.scrollWidth > window.innerWidth) out.push(`page ${doc.scrollWidth} > ${window.innerWidth}`);
          for (const box of document.querySelectorAll('.table-wrap, .card, .preview')) {
            const name = box.id || box.className;
            if (box.scrollWidth > box.clientWidth + 1) out.push(`${name} ${box.scrollWidth} > ${box.clientWidth}`);
          }
          for (const cell of document.querySelectorAll('td[data-label]')) {
            const before = getComputedStyle(cell, '::before');
            if (before.display === 'none' || before.content === 'none') continue;
            const value = cell.firstElementChild;
            const cellBox = cell.getBoundingClientRect();
            const stacked = cellBox.width < 500;  // a card on a phone: label on the left, value beside it
            if (value && stacked && value.getBoundingClientRect().left < cellBox.left + 40) {
              out.push(`label over value in ${cell.dataset.label}`);
            }
          }
          return out;
        }"""
    )
    assert not overflow, overflow


def test_list_detail_form_and_preview_fit_the_screen(sized, daily):
    page = sized
    for url in ("/schedules", f"/schedules/{daily['noisy']}", "/schedules/new", "/preview?cron_expression=30+2+*+*+*"):
        page.goto(url)
        expect(page.locator("main h1").first).to_be_visible()
        assert_fits(page)
    page.goto(f"/schedules/{daily['noisy']}")
    expect(page.locator("#history tbody tr")).to_have_count(3)
    expect(page.locator("#history")).to_contain_text("Upstream refused")
    page.locator("#history details summary").first.click()  # the long result opens in place
    assert_fits(page)
    if page.size_name == "laptop":
        shoot(page, "detail")
    else:
        shoot(page, "detail-phone", full_page=False)


def test_the_navigation_is_one_row_on_a_phone(sized):
    page = sized
    links = page.locator(".mainnav a")
    tops = {round(box["y"]) for box in (links.nth(i).bounding_box() for i in range(links.count()))}
    assert len(tops) == 1, f"the navigation wraps onto {len(tops)} rows"
    assert_fits(page)


def test_a_bad_submit_summarises_every_error_and_focuses_the_first_field(sized):
    page = sized
    page.goto("/schedules/new")
    page.get_by_role("button", name="Create schedule").click()
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("link")).to_have_count(3)
    expect(page.locator("#client_id")).to_be_focused()
    summary.get_by_role("link", name=re.compile("task type", re.I)).click()
    expect(page.locator("#task_type")).to_be_focused()
    assert_fits(page)
    if page.size_name == "laptop":
        shoot(page, "form-errors", full_page=False)


def test_the_preview_stays_in_view_while_typing(sized):
    page = sized
    page.goto("/schedules/new")
    page.get_by_label("Custom cron", exact=True).check()
    field = page.get_by_label("Cron expression")
    field.fill("*/10 * * * *")
    page.evaluate("document.getElementById('cron_expression').scrollIntoView({block: 'center'})")
    preview = page.locator("#preview")
    expect(preview.locator(".describe")).to_have_text("Every 10 minutes")
    box, card = field.bounding_box(), preview.bounding_box()
    height = page.viewport_size["height"]
    assert 0 <= card["y"] < height, "the preview is out of view while the expression is typed"
    if page.size_name == "laptop":
        assert card["x"] > box["x"] + box["width"], "on a wide screen the preview sits beside the form"
        page.mouse.wheel(0, 600)  # scrolled further down, the preview sticks at the top
        expect(preview).to_be_in_viewport()
    else:
        gap = card["y"] - (box["y"] + box["height"])
        assert 0 <= gap < 120, f"on a phone the preview sits directly under the field ({gap}px below)"


def test_search_and_sort_swap_the_table_in_place(sized, daily):
    page = sized
    page.goto("/schedules")
    page.evaluate("window.__noReload = true")
    page.get_by_label("Search").fill("census")
    rows = page.locator("#schedule-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page).to_have_url(re.compile(r"q=census"))
    page.get_by_label("Sort by").select_option("name")
    expect(rows.first).to_contain_text("Aardvark census")
    expect(page).to_have_url(re.compile(r"sort=name"))
    assert page.evaluate("window.__noReload") is True
    assert_fits(page)


def test_a_history_row_turns_completed_within_3_seconds_of_a_worker_finishing(signed_in, server):
    body = {"client_id": "reports", "task_type": "live-check", "capability_required": "live-v1"}
    schedule_id = server.api("POST", "/aitp/tasks/schedule", {**body, "cron_expression": "0 4 * * *"})["schedule_id"]
    server.api("POST", f"/aitp/tasks/schedule/{schedule_id}/run")
    page = signed_in
    page.goto(f"/schedules/{schedule_id}")
    badge = page.locator("#history tbody tr").first.locator("td[data-label=Status] .badge")
    expect(badge).to_have_text("Pending")
    task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["live-v1"]})["tasks"][0]
    server.api("POST", f"/aitp/tasks/{task['task_id']}/complete", {"result_data": {"ok": True}})
    expect(badge).to_have_text("Completed", timeout=3_000)
    expect(page.locator("#history")).not_to_have_attribute("hx-trigger", re.compile("every"))


def test_a_failed_run_shows_in_the_panel_counts_without_a_reload(signed_in, server):
    body = {"client_id": "reports", "task_type": "live-fail", "capability_required": "live-v2"}
    schedule_id = server.api("POST", "/aitp/tasks/schedule", {**body, "cron_expression": "0 5 * * *"})["schedule_id"]
    server.api("POST", f"/aitp/tasks/schedule/{schedule_id}/run")
    page = signed_in
    page.goto(f"/schedules/{schedule_id}")
    page.evaluate("window.__noReload = true")
    fields = page.locator("#schedule-fields")
    expect(fields).to_contain_text("1 total, none failed")
    task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["live-v2"]})["tasks"][0]
    server.api("POST", f"/aitp/tasks/{task['task_id']}/fail", {"error_message": "disk full", "retry": False})
    expect(fields).to_contain_text("1 total, 1 failed", timeout=3_000)
    expect(page.locator("#history tbody tr").first.locator("td[data-label=Status] .badge")).to_have_text("Failed")
    assert page.evaluate("window.__noReload") is True


def test_rotate_a_key_from_the_agents_page_after_confirming(signed_in, server):
    page = signed_in
    page.goto("/agents")
    row = page.locator("tr", has=page.locator("code", has_text=re.compile("^billing$")))
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Rotate key").click()
    expect(page.get_by_role("textbox", name="API key")).to_have_count(0)  # dismissed: nothing changed
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Rotate key").click()
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_have_value(re.compile(r"^sk_"))
    expect(page.locator(".key-once")).to_contain_text("The old key no longer works")
    title = page.locator("td[data-label=Registered] time").first.get_attribute("title")
    assert title.endswith("UTC")
