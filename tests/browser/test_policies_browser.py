"""End to end in chromium: policies in the form, a backfill with a dry run first, the paused-because banner."""

from __future__ import annotations

import re

import pytest

from tests.browser.browser_support import missing_browser_reason, shoot

REASON = missing_browser_reason()
if REASON:
    print(f"SKIP browser tests: {REASON}")
    pytest.skip(REASON, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402


def create(server, task_type: str, cron_expression: str, **fields) -> str:
    """Create a schedule for the reports agent through the API; return its id (capability: the task type)."""
    body = {
        "client_id": "reports",
        "task_type": task_type,
        "capability_required": task_type,
        "cron_expression": cron_expression,
        **fields,
    }
    return server.api("POST", "/aitp/tasks/schedule", body)["schedule_id"]


def test_set_an_overlap_policy_and_retries_in_the_form(signed_in):
    """The Advanced section opens, takes SKIP and three attempts, and the detail page says them in words."""
    page = signed_in
    page.goto("/schedules/new")
    page.get_by_label("Client (agent)").select_option("reports")
    page.get_by_label("Task type").fill("hourly-export")
    page.get_by_label("Capability required").fill("report-v1")
    page.get_by_label("Description").fill("Hourly export, never twice at once")

    overlap = page.get_by_label("Overlap (when the previous run is still going)")
    expect(overlap).to_be_hidden()  # Advanced starts closed
    page.locator("#advanced > summary").click()
    expect(overlap).to_be_visible()
    expect(page.get_by_label("Timeout (seconds)")).to_have_value("300")  # the defaults are shown
    overlap.select_option("SKIP")
    page.get_by_label("Attempts (the first included)").fill("3")
    shoot(page, "form-advanced")
    page.get_by_role("button", name="Create schedule").click()

    expect(page).to_have_url(re.compile(r"/schedules/sched-"))
    policies = page.locator("#policies")
    expect(policies.locator('[data-policy="overlap_policy"]')).to_contain_text(
        "Skips a run while the previous one is still going"
    )
    expect(policies.locator('[data-policy="retry_policy"]')).to_contain_text(
        "Retries twice, 10 s then 20 s apart, up to 1 h"
    )
    expect(page.locator("#upcoming tbody tr")).to_have_count(5)


def test_a_refused_policy_shows_beside_its_input(signed_in):
    """A bad value comes back from the service beside its input, with Advanced open."""
    page = signed_in
    page.goto("/schedules/new")
    page.get_by_label("Client (agent)").select_option("reports")
    page.get_by_label("Task type").fill("nightly-export")
    page.get_by_label("Capability required").fill("report-v1")
    page.locator("#advanced > summary").click()
    page.get_by_label("Attempts (the first included)").fill("25")
    page.get_by_role("button", name="Create schedule").click()
    expect(page.locator("#retry_max_attempts-error")).to_have_text("Attempts must be between 1 and 20")
    expect(page.locator("#advanced")).to_have_attribute("open", "")


def test_backfill_with_a_dry_run_then_confirm(signed_in, server):
    """Yesterday's four occurrences are listed as FIRE in a dry run, then fired once on confirm."""
    page = signed_in
    schedule_id = create(server, "six-hourly-rollup", "0 */6 * * *", description="Six-hourly roll-up")
    page.goto(f"/schedules/{schedule_id}")
    card = page.locator("#backfill")
    card.get_by_role("button", name="Dry run").click()
    expect(card.locator("tbody tr")).to_have_count(4)
    expect(card.locator(".action-fire")).to_have_count(4)
    expect(card.locator("#backfill-summary")).to_contain_text("4 occurrences to fire")
    expect(page.locator("#history tbody tr")).to_have_count(0)  # the dry run changed nothing
    shoot(page, "backfill-dry-run", docs=True)

    card.get_by_role("button", name="Fire 4 occurrences").click()
    expect(page.locator("#notice")).to_contain_text("Backfill fired 4 occurrences")
    expect(page.locator("#history tbody tr")).to_have_count(4)
    expect(page.locator("#history .tag-trigger")).to_have_text(["Backfill"] * 4)

    card = page.locator("#backfill")
    card.get_by_role("button", name="Dry run").click()
    expect(card.locator(".action-exists")).to_have_count(4)
    expect(card).to_contain_text("nothing to fire")


def test_paused_because_banner_after_failures(signed_in, server):
    """Two failed runs pause a schedule with pause_after_failures 2; the banner says why and Resume clears it."""
    page = signed_in
    schedule_id = create(server, "flaky-sync", "0 3 * * *", description="Flaky sync", pause_after_failures=2)
    for _ in range(2):
        server.api("POST", f"/aitp/tasks/schedule/{schedule_id}/run")
        task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["flaky-sync"]})["tasks"][0]
        server.api("POST", f"/aitp/tasks/{task['task_id']}/fail", {"error_message": "Upstream refused the login"})

    page.goto(f"/schedules/{schedule_id}")
    banner = page.locator("#paused-banner")
    expect(banner).to_contain_text("Paused after 2 consecutive failures")
    expect(page.locator("#schedule-title .badge")).to_have_text("Paused")
    expect(page.locator("#history .bar-failed")).to_have_count(2)
    shoot(page, "paused-banner")

    banner.get_by_role("button", name=re.compile("^Resume")).click()
    expect(page.locator("#paused-banner")).to_have_count(0)
    expect(page.locator("#schedule-title .badge")).to_have_text("Active")
    assert server.api("GET", f"/aitp/tasks/schedule/{schedule_id}")["consecutive_failures"] == 0
