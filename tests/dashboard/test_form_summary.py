"""A refused form shows every problem at once: beside each field, in a summary that links to them, in labels."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.test_forms import field_error, form
from tests.dashboard_helpers import Dashboard


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client with one agent, client-1."""
    ui = Dashboard(app, client).sign_in()
    ui.agent("client-1", ["report-v1"])
    return ui


def summary(html: str) -> list[tuple[str, str]]:
    """Return the error summary's (link target, text) pairs."""
    block = re.search(r'<div class="error-summary".*?</div>', html, re.S)
    assert block, "no error summary"
    return re.findall(r'<a href="#([^"]+)">([^<]+)</a>', block.group(0))


def autofocused(html: str) -> list[str]:
    """Return the ids of the inputs that take focus when the page loads."""
    return re.findall(r'<(?:input|select|textarea)[^>]*\bautofocus\b[^>]*\bid="([^"]+)"', html) + re.findall(
        r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"[^>]*\bautofocus\b', html
    )


def test_an_empty_form_flags_client_task_type_and_capability_together(ui):
    response = ui.post("/schedules/new", form(client_id="", task_type="", capability_required=""))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    for name in ("client_id", "task_type", "capability_required"):
        assert field_error(html, name), name
    assert [target for target, _ in summary(html)] == ["client_id", "task_type", "capability_required"]
    assert "There are 3 problems" in html
    assert autofocused(html) == ["client_id"]
    assert ui.count() == 0


def test_a_bad_cron_shows_beside_its_field_alongside_the_other_errors(ui):
    fields = form(kind="custom", cron_expression="61 * * * *", task_type="", priority="11", timezone="UTC")
    html = ui.post("/schedules/new", fields).get_data(as_text=True)
    assert "Invalid minute field" in field_error(html, "cron_expression")
    assert field_error(html, "task_type") and field_error(html, "priority") == "Priority must be between 1 and 10"
    targets = [target for target, _ in summary(html)]
    assert targets == ["task_type", "priority", "cron_expression"]  # in the order of the form
    assert autofocused(html) == ["task_type"]


def test_messages_use_the_labels_people_see(ui):
    html = ui.post("/schedules/new", form(client_id="nobody", input_data="[1]")).get_data(as_text=True)
    texts = dict(summary(html))
    assert texts["client_id"] == "Unknown client: nobody"
    assert texts["input_data"] == "Input data must be an object"
    assert "client_id" not in field_error(html, "client_id") and "input_data" not in field_error(html, "input_data")


def test_a_builder_error_and_a_service_error_show_together(ui):
    html = ui.post("/schedules/new", form(at_time="25:00", timezone="Mars/Olympus")).get_data(as_text=True)
    assert "HH:MM" in field_error(html, "at_time") and "Unknown time zone" in field_error(html, "timezone")
    assert [target for target, _ in summary(html)] == ["at_time", "timezone"]


def test_the_edit_form_shows_every_error_and_changes_nothing(ui):
    schedule_id = ui.schedule(description="keep", priority=4)
    fields = form(description="x" * 2001, priority="0", kind="custom", cron_expression="* * *")
    html = ui.post(f"/schedules/{schedule_id}/edit", fields).get_data(as_text=True)
    assert field_error(html, "description") == "Description is longer than 2,000 characters"
    assert field_error(html, "priority") == "Priority must be between 1 and 10"
    assert field_error(html, "cron_expression")
    stored = ui.stored(schedule_id)
    assert stored.description == "keep" and stored.priority == 4


def test_a_clean_form_has_no_summary_and_no_autofocus(ui):
    html = ui.get("/schedules/new").get_data(as_text=True)
    assert "error-summary" not in html and autofocused(html) == []
