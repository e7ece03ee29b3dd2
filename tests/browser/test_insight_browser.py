"""End to end in chromium: a webhook's test event in its log, the calendar and the load forecast."""

from __future__ import annotations

import re

import pytest

from tests.browser.browser_support import missing_browser_reason, shoot
from tests.receiver import Receiver, start

REASON = missing_browser_reason()
if REASON:
    print(f"SKIP browser tests: {REASON}")
    pytest.skip(REASON, allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402


@pytest.fixture
def receiver():
    """A receiver on 127.0.0.1 that accepts everything (the server runs with WEBHOOK_ALLOW_PRIVATE=1)."""
    state = Receiver()
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()


def test_a_new_webhook_shows_its_secret_once_and_its_test_event_delivered(signed_in, receiver):
    page = signed_in
    page.goto("/webhooks")
    page.get_by_label("Receiver URL").fill(receiver.url)
    page.get_by_label("Owner").select_option("ops-admin")
    page.get_by_label("Description").fill("Laptop receiver")
    page.get_by_role("button", name="Register and show the secret").click()
    secret_box = page.locator("#new-secret")
    expect(secret_box).to_have_value(re.compile(r"^whsec_"))
    receiver.secret = secret_box.input_value()
    expect(page.locator("#snippet")).to_contain_text(receiver.secret)
    expect(page.locator("#snippet")).to_contain_text("hmac.compare_digest")
    page.get_by_role("link", name="Open its delivery log").click()
    expect(page.locator("#snippet")).not_to_contain_text(receiver.secret)  # shown once only
    page.get_by_role("button", name="Send test event").click()
    log = page.get_by_test_id("delivery-log")
    expect(log).to_contain_text("webhook.test")
    expect(log.locator(".badge-delivered")).to_have_count(1, timeout=15_000)
    expect(log).to_contain_text("200")
    assert [c.body["event"] for c in receiver.calls] == ["webhook.test"]
    assert receiver.calls[0].signature_ok
    shoot(page, "webhooks", docs=True)


def test_the_calendar_shows_planned_runs_beside_actual_ones(signed_in, server):
    sid = server.api(
        "POST",
        "/aitp/tasks/schedule",
        {
            "client_id": "reports",
            "task_type": "calendar-check",
            "capability_required": "report-v1",
            "cron_expression": "*/30 * * * *",
            "description": "Half-hourly calendar check",
        },
    )["schedule_id"]
    for outcome in ("complete", "fail"):
        server.api("POST", f"/aitp/tasks/schedule/{sid}/run")
        task = server.api("POST", "/aitp/tasks/claim", {"capabilities": ["report-v1"]})["tasks"][0]
        body = {"result_data": {"ok": True}} if outcome == "complete" else {"error_message": "no paper"}
        server.api("POST", f"/aitp/tasks/{task['task_id']}/{outcome}", body)
    page = signed_in
    page.goto("/calendar?tz=UTC&client_id=reports")
    row = page.locator(f'g.cal-row[data-schedule="{sid}"]')
    expect(row).to_contain_text("Half-hourly calendar check")
    assert row.locator("[data-planned]").count() >= 1  # the rest of today's half hours
    expect(row.locator('[data-status="COMPLETED"]')).to_have_count(1)
    expect(row.locator('[data-status="FAILED"]')).to_have_count(1)
    link = row.locator("a.cal-run").first
    assert re.search(r"/schedules/sched-[0-9a-f]+#exec-exec-", link.get_attribute("href"))
    link.focus()  # keyboard-reachable
    expect(link).to_be_focused()
    shoot(page, "calendar", docs=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the SVG scrolls, the table stacks
    expect(page.get_by_test_id("calendar")).to_be_visible()


def test_the_forecast_shows_the_busiest_minute_and_spreads_a_schedule(signed_in, server):
    ids = []
    for i in range(6):
        body = {
            "client_id": "billing",
            "task_type": "spike",
            "capability_required": "invoice-v1",
            "cron_expression": "7 3 * * *",
            "timezone": "UTC",
            "description": f"Spike job {i}",
        }
        ids.append(server.api("POST", "/aitp/tasks/schedule", body)["schedule_id"])
    page = signed_in
    page.goto("/forecast?tz=UTC")
    expect(page.get_by_test_id("forecast")).to_be_visible()
    busiest = page.get_by_test_id("busiest")
    spike = busiest.locator("tr", has_text="03:07")
    expect(spike).to_contain_text("Spike job 0")
    spike.get_by_role("button", name=re.compile(r"Spread with \d+ s jitter")).first.click()
    expect(page.locator("#notice")).to_contain_text("now fires up to")
    spread = [server.api("GET", f"/aitp/tasks/schedule/{sid}")["jitter_seconds"] for sid in ids]
    assert sum(1 for j in spread if j == 300) == 1
    shoot(page, "forecast", docs=True)
