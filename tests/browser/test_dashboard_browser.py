"""End to end in chromium: sign in, build a schedule with the live preview, act in place, read history."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.browser_support import missing_browser_reason, shoot

REASON = missing_browser_reason()
if REASON:
    print(f"SKIP browser tests: {REASON}")
    pytest.skip(REASON, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402


@pytest.fixture(scope="module")
def seeded(server) -> dict:
    """Create a few schedules through the API, with a history of finished runs, so pages have content."""
    ids = {}

    def create(key: str, **body) -> str:
        """Create one schedule; remember its id."""
        ids[key] = server.api("POST", "/aitp/tasks/schedule", body)["schedule_id"]
        return ids[key]

    nightly = create(
        "nightly",
        client_id="billing",
        task_type="invoice-batch",
        capability_required="invoice-v1",
        cron_expression="0 2 * * *",
        timezone="America/New_York",
        description="Nightly invoice run",
        input_data={"currency": "USD", "dry_run": False},
        priority=8,
    )
    for i in range(26):
        server.api("POST", f"/aitp/tasks/schedule/{nightly}/run")
        task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["invoice-v1"]})["tasks"][0]
        if i in (6, 17, 18):
            server.api("POST", f"/aitp/tasks/{task['task_id']}/fail", {"error_message": "Payment gateway timed out"})
        else:
            server.api("POST", f"/aitp/tasks/{task['task_id']}/complete", {"result_data": {"invoices": 40 + i}})
    server.api("POST", f"/aitp/tasks/schedule/{nightly}/run")  # one still waiting for a worker
    weekly = create(
        "weekly",
        client_id="reports",
        task_type="sales-report",
        capability_required="report-v1",
        cron_expression="30 9 * * MON",
        timezone="Europe/London",
        description="Weekly sales report",
    )
    server.api("PUT", f"/aitp/tasks/schedule/{weekly}", {"status": "PAUSED"})
    create(
        "sync",
        client_id="ops-admin",
        task_type="crm-sync",
        capability_required="sync-v1",
        cron_expression="*/15 * * * *",
        description="CRM sync every quarter hour",
    )
    create(
        "month_end",
        client_id="billing",
        task_type="month-end-close",
        capability_required="invoice-v1",
        cron_expression="0 18 L * *".replace("L", "28"),
        timezone="Asia/Tokyo",
        description="Month-end close",
    )
    run_at = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT10:00:00")
    create(
        "migration",
        client_id="reports",
        task_type="archive-migration",
        capability_required="report-v1",
        run_at=run_at,
        timezone="Europe/Berlin",
        description="One-off archive migration",
    )
    return ids


def mark_page(page) -> None:
    """Tag the window, so a later check can tell the page was never reloaded."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page) -> None:
    """Fail when the page was reloaded since mark_page."""
    assert page.evaluate("window.__noReload") is True, "the page reloaded instead of swapping a partial"


def test_sign_in_required(page):
    """A visitor lands on the sign-in page; a wrong password is explained."""
    page.goto("/schedules")
    expect(page).to_have_url(re.compile(r"/login\?next=/schedules"))
    shoot(page, "login")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("Wrong username or password.")).to_be_visible()


def test_list_shows_seeded_schedules(signed_in, seeded):
    """The list shows each schedule's status, next run and counts; filters swap the table in place."""
    page = signed_in
    page.goto("/schedules")
    nightly = page.locator(f"#row-{seeded['nightly']}")
    expect(nightly.locator("td[data-label=Status] .badge")).to_have_text("Active")
    expect(nightly.locator("time")).to_have_attribute("title", re.compile(r"UTC$"))
    expect(nightly.locator(".failed-count")).to_have_text("3 failed")
    shoot(page, "list", docs=True)

    mark_page(page)
    page.get_by_label("Status").select_option("PAUSED")
    expect(page.locator("#schedule-table tbody tr")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=PAUSED"))
    assert_not_reloaded(page)


def test_build_a_schedule_with_the_live_preview(signed_in):
    """The builder writes the expression, the preview follows typing, and the form creates the schedule."""
    page = signed_in
    page.goto("/schedules/new")
    page.get_by_label("Client (agent)").select_option("reports")
    page.get_by_label("Task type").fill("sales-digest")
    page.get_by_label("Capability required").fill("report-v1")

    page.get_by_label("Weekdays", exact=True).check()
    page.get_by_label("At", exact=True).fill("07:45")
    preview = page.locator("#preview")
    expect(preview.locator(".describe")).to_have_text("At 07:45, Monday through Friday")

    page.get_by_label("Custom cron", exact=True).check()
    cron_field = page.get_by_label("Cron expression")
    expect(cron_field).to_have_value("45 7 * * 1-5")  # carried over from the builder
    cron_field.fill("")
    cron_field.press_sequentially("30 2 * * *", delay=20)
    page.get_by_label("Time zone").fill("America/New_York")
    expect(preview.locator(".describe")).to_have_text("At 02:30")
    expect(preview.locator("caption")).to_have_text("Next 8 runs")
    expect(preview.locator("th").first).to_have_text("In America/New_York")

    cron_field.fill("30 2 * * * *")
    expect(preview.get_by_role("alert")).to_contain_text("5 fields")
    cron_field.fill("30 8 * * 1-5")
    expect(preview.locator(".describe")).to_have_text("At 08:30, Monday through Friday")

    page.get_by_label("Input data (a JSON object)").fill('{"format": "pdf", "recipients": ["sales@example.com"]}')
    page.get_by_label("Description").fill("Morning sales digest")
    shoot(page, "form")
    page.get_by_role("button", name="Create schedule").click()
    page.wait_for_url(re.compile(r"/schedules/sched-[0-9a-f]+$"))
    expect(page.locator("#notice")).to_contain_text("Schedule created.")
    expect(page.locator("#schedule-panel h1")).to_contain_text("Morning sales digest")
    expect(page.locator("#schedule-panel")).to_contain_text("30 8 * * 1-5")


def test_form_errors_show_beside_fields(signed_in):
    """A bad timezone and bad JSON come back beside their fields; nothing is created."""
    page = signed_in
    page.goto("/schedules/new")
    page.get_by_label("Client (agent)").select_option("reports")
    page.get_by_label("Task type").fill("broken")
    page.get_by_label("Capability required").fill("report-v1")
    page.get_by_label("Input data (a JSON object)").fill("{not json")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator("#input_data-error")).to_contain_text("Not valid JSON")
    expect(page.get_by_label("Input data (a JSON object)")).to_have_attribute("aria-invalid", "true")


def test_pause_resume_and_delete_in_place(signed_in, server):
    """Row buttons swap the row without a reload; delete asks first."""
    body = {"client_id": "reports", "task_type": "cleanup", "capability_required": "report-v1"}
    schedule_id = server.api("POST", "/aitp/tasks/schedule", {**body, "cron_expression": "@daily"})["schedule_id"]
    page = signed_in
    page.goto("/schedules")
    row = page.locator(f"#row-{schedule_id}")
    mark_page(page)

    row.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")  # keyboard only: focus lands on the new row's first button
    expect(row.locator("td[data-label=Status] .badge")).to_have_text("Paused")
    expect(page.locator("#notice")).to_contain_text("Paused.")
    expect(row.get_by_role("button", name="Resume")).to_be_focused()
    row.get_by_role("button", name="Resume").click()
    expect(row.locator("td[data-label=Status] .badge")).to_have_text("Active")
    expect(page.locator("#notice")).to_contain_text("Resumed. Next run")

    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete").click()
    expect(row.locator("td[data-label=Status] .badge")).to_have_text("Active")  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(row.locator("td[data-label=Status] .badge")).to_have_text("Deleted")
    expect(row.get_by_role("button")).to_have_count(0)
    assert_not_reloaded(page)


def test_run_now_adds_a_history_row(signed_in, server):
    """Run now on the detail page fires once; the history and the strip update in place."""
    schedule_id = server.api(
        "POST",
        "/aitp/tasks/schedule",
        {
            "client_id": "billing",
            "task_type": "refund-sweep",
            "capability_required": "invoice-v1",
            "cron_expression": "0 4 1 * *",
            "description": "Refund sweep",
        },
    )["schedule_id"]
    page = signed_in
    page.goto(f"/schedules/{schedule_id}")
    expect(page.locator("#history")).to_contain_text("No runs yet")
    mark_page(page)
    page.locator("#schedule-panel").get_by_role("button", name="Pause").click()
    expect(page.locator("#schedule-panel .badge")).to_have_text("Paused")
    page.locator("#schedule-panel").get_by_role("button", name="Run now").click()
    expect(page.locator("#history tbody tr")).to_have_count(1)
    expect(page.locator("#history tbody tr .badge")).to_have_text("Pending")
    expect(page.locator("#history .bar")).to_have_count(1)
    expect(page.locator("#schedule-panel")).to_contain_text("1 total")
    expect(page.locator("#notice")).to_contain_text("Fired now")
    assert_not_reloaded(page)


def test_detail_shows_history_and_the_strip(signed_in, seeded):
    """The detail page shows the last runs as coloured bars, and pages through history in place."""
    page = signed_in
    page.goto(f"/schedules/{seeded['nightly']}")
    expect(page.locator("#history .bar")).to_have_count(27)
    expect(page.locator("#history .bar-failed")).to_have_count(3)
    expect(page.locator("#history .legend")).to_contain_text("23 completed")
    shoot(page, "detail")
    mark_page(page)
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#history .pager-count")).to_have_text("21–27 of 27")
    expect(page).to_have_url(re.compile(r"offset=20"))
    assert_not_reloaded(page)


def test_preview_page_marks_daylight_saving(signed_in):
    """The preview follows typing, marks the spring-forward shift, and explains a bad expression."""
    page = signed_in
    page.goto("/preview")
    page.get_by_label("Cron expression").fill("30 2 * * *")
    page.get_by_label("Time zone").fill("America/New_York")
    page.get_by_label("Starting from (optional, local time)").fill("2025-03-08T00:00")
    preview = page.locator("#preview")
    expect(preview.locator("tr.dst-shifted")).to_have_count(1)
    expect(preview.locator("tr.dst-shifted")).to_contain_text("Sun 9 Mar 2025, 03:00 EDT")
    expect(page).to_have_url(re.compile(r"cron_expression=30(\+|%20)2"))
    page.get_by_label("Cron expression").fill("61 2 * * *")
    expect(preview.get_by_role("alert")).to_contain_text("Invalid minute field")
    page.get_by_label("Cron expression").fill("30 2 * * *")
    expect(preview.locator("tr.dst-shifted")).to_have_count(1)
    # The cheat sheet's example starts just before the next spring-forward day: future runs, not past ones.
    page.get_by_role("link", name="30 2 * * *").click()
    expect(preview.locator("tr.dst-shifted")).to_contain_text("03:00 EDT")
    expect(preview.locator(".rel").first).to_contain_text("in ")
    shoot(page, "preview", docs=True)


def test_agents_page_registers_an_agent(signed_in):
    """The agents page lists capabilities and shows a new key once."""
    page = signed_in
    page.goto("/agents")
    expect(page.locator("tbody")).to_contain_text("invoice-v1")
    page.get_by_label("Agent id").fill("etl-worker")
    page.get_by_label("Name").fill("ETL worker")
    page.get_by_label("Capabilities (separated by commas or spaces)").fill("etl-v1, load-v2")
    page.get_by_role("button", name="Register and show the key").click()
    key = page.get_by_role("textbox", name="API key")
    expect(key).to_have_value(re.compile(r"^sk_"))
    expect(page.locator("tr.just-added")).to_contain_text("etl-v1")
    shoot(page, "agents")


def test_phone_layout(browser, server, seeded):
    """On a phone-sized screen the list stacks into cards and stays usable."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=server.url)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_label("Username").fill("operator")
        page.get_by_label("Password").fill("browser-test-password")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/schedules")
        row = page.locator(f"#row-{seeded['nightly']}")
        expect(row.get_by_role("button", name="Run now")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways ({width}px)"
        shoot(page, "list-phone", full_page=False)
    finally:
        context.close()
