"""Create and edit forms: the builder, the service's errors beside their fields, nothing stored on error."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from tests.dashboard_helpers import Dashboard
from webapp.auth import agent_for_key
from webapp.clock import utcnow


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client with one agent, client-1."""
    ui = Dashboard(app, client).sign_in()
    ui.agent("client-1", ["report-v1", "email-v2"])
    return ui


def form(**fields) -> dict:
    """Return a valid create form, with some fields replaced."""
    return {
        "client_id": "client-1",
        "task_type": "generate-report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "daily",
        "at_time": "09:30",
        "weekday": "MON",
        "monthday": "1",
        "run_at": "",
        "cron_expression": "",
        "timezone": "America/New_York",
        "input_data": '{"region": "EU"}',
        "description": "Morning report",
        **fields,
    }


def field_error(html: str, field: str) -> str:
    """Return the error text shown beside a field ("" when there is none)."""
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    return match.group(1).strip() if match else ""


def test_new_form_has_every_input_and_a_preview(ui):
    """The form offers the builder, a searchable zone list, the agents, and a live preview region."""
    html = ui.get("/schedules/new").get_data(as_text=True)
    for name in ("client_id", "task_type", "capability_required", "priority", "at_time", "weekday", "monthday"):
        assert f'name="{name}"' in html, name
    for name in ("run_at", "cron_expression", "timezone", "input_data", "description"):
        assert f'name="{name}"' in html, name
    assert html.count('name="kind"') == 6
    assert '<option value="client-1">client-1</option>' in html
    assert 'list="tz-list"' in html and '<option value="America/New_York">' in html
    assert '<option value="email-v2">' in html  # capability suggestions
    assert 'id="preview"' in html and 'aria-live="polite"' in html
    assert 'hx-include="#timing"' in html
    assert "At 09:00" in html  # the preview of the default choice, rendered on the server


@pytest.mark.parametrize(
    "fields, expression",
    [
        ({"kind": "daily", "at_time": "07:05"}, "5 7 * * *"),
        ({"kind": "weekdays", "at_time": "09:30"}, "30 9 * * 1-5"),
        ({"kind": "weekly", "at_time": "18:00", "weekday": "FRI"}, "0 18 * * FRI"),
        ({"kind": "monthly", "at_time": "06:15", "monthday": "15"}, "15 6 15 * *"),
        ({"kind": "custom", "cron_expression": "*/15 9-17 * * 1-5"}, "*/15 9-17 * * 1-5"),
    ],
)
def test_create_with_the_builder_stores_the_expression(ui, fields, expression):
    """Each builder choice writes its cron expression; the schedule is stored and shown."""
    response = ui.post("/schedules/new", form(**fields))
    assert response.status_code == 302, response.get_data(as_text=True)
    schedule_id = response.headers["Location"].rsplit("/", 1)[1]
    stored = ui.stored(schedule_id)
    assert stored.cron_expression == expression
    assert stored.timezone == "America/New_York"
    assert stored.input_data == {"region": "EU"}
    assert stored.description == "Morning report"
    assert stored.status == "ACTIVE" and stored.next_run_at is not None
    assert "Schedule created." in ui.get(response.headers["Location"]).get_data(as_text=True)


def test_create_once_stores_run_at_read_in_the_zone(ui):
    """A one-time schedule stores run_at: the local date and time read in the chosen zone."""
    local = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
    response = ui.post("/schedules/new", form(kind="once", run_at=local, timezone="Asia/Tokyo"))
    assert response.status_code == 302
    stored = ui.stored(response.headers["Location"].rsplit("/", 1)[1])
    assert stored.cron_expression is None
    assert stored.run_at.strftime("%Y-%m-%dT%H:%M") == (local[:11] + "01:00")  # 10:00 JST is 01:00 UTC


@pytest.mark.parametrize(
    "fields, field, message",
    [
        ({"kind": "custom", "cron_expression": "61 * * * *"}, "cron_expression", "Invalid minute field"),
        ({"kind": "custom", "cron_expression": ""}, "cron_expression", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "Unknown time zone"),
        ({"input_data": "{'a': 1}"}, "input_data", "Not valid JSON"),
        ({"input_data": "[1, 2]"}, "input_data", "Input data must be an object"),
        ({"kind": "once", "run_at": "2020-01-01T09:00"}, "run_at", "Date and time is in the past"),
        ({"kind": "once", "run_at": ""}, "run_at", "Give the date and time"),
        ({"priority": "11"}, "priority", "Priority must be between 1 and 10"),
        ({"priority": "high"}, "priority", "Not a valid integer"),
        ({"client_id": ""}, "client_id", "Client is required"),
        ({"client_id": "client-nobody"}, "client_id", "Unknown client: client-nobody"),
        ({"task_type": ""}, "task_type", "Give the task type"),
        ({"at_time": "25:00"}, "at_time", "HH:MM"),
        ({"kind": "monthly", "monthday": "32"}, "monthday", "between 1 and 31"),
    ],
)
def test_form_errors_show_beside_the_field_and_store_nothing(ui, fields, field, message):
    """A refused form answers 400, shows the service's reason beside the field, and stores nothing."""
    response = ui.post("/schedules/new", form(**fields))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    shown = field_error(html, field)
    assert shown, f"no error beside {field}"
    assert message in shown
    assert f'aria-describedby="{field}-hint {field}-error"' in html or f'aria-describedby="{field}-error"' in html
    assert ui.count() == 0


def test_refused_form_keeps_what_was_typed(ui):
    """After an error the operator's input is still there."""
    html = ui.post("/schedules/new", form(timezone="Nowhere/Land", description="keep me")).get_data(as_text=True)
    assert 'value="Nowhere/Land"' in html
    assert "keep me</textarea>" in html


def test_edit_form_is_prefilled_from_the_builder(ui):
    """A weekly expression opens as "Every week" on its day and time."""
    schedule_id = ui.schedule(cron_expression="0 18 * * 5", timezone="Europe/Paris", description="Weekly")
    html = ui.get(f"/schedules/{schedule_id}/edit").get_data(as_text=True)
    assert re.search(r'<input checked id="kind-2" name="kind" type="radio" value="weekly">', html)
    assert '<option selected value="FRI">' in html
    assert 'value="18:00"' in html
    assert 'value="Europe/Paris"' in html
    assert "disabled" in html.split('name="client_id"')[0][-200:] + html.split('name="client_id"')[1][:200]


def test_edit_changes_only_what_changed(ui):
    """Editing the description leaves the timing, and next_run_at, alone."""
    schedule_id = ui.schedule()
    before = ui.stored(schedule_id)
    page = ui.get(f"/schedules/{schedule_id}/edit").get_data(as_text=True)
    assert "weekdays" in re.search(r'<input checked[^>]*name="kind"[^>]*>', page).group(0)
    fields = form(kind="weekdays", at_time="09:30", timezone="Europe/Paris", input_data="{}", description="Renamed")
    fields.pop("client_id")
    response = ui.post(f"/schedules/{schedule_id}/edit", fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    after = ui.stored(schedule_id)
    assert after.description == "Renamed"
    assert after.next_run_at == before.next_run_at
    assert after.cron_expression == "30 9 * * 1-5"


def test_edit_timing_recomputes_next_run(ui):
    """Changing the time writes a new expression and a new next run."""
    schedule_id = ui.schedule()
    fields = form(kind="daily", at_time="23:45", timezone="Europe/Paris", input_data="{}")
    response = ui.post(f"/schedules/{schedule_id}/edit", fields)
    assert response.status_code == 302
    after = ui.stored(schedule_id)
    assert after.cron_expression == "45 23 * * *"
    assert after.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris")).strftime("%H:%M") == "23:45"


def test_edit_errors_show_beside_the_field(ui):
    """A bad edit answers 400 and leaves the schedule as it was."""
    schedule_id = ui.schedule()
    response = ui.post(f"/schedules/{schedule_id}/edit", form(kind="custom", cron_expression="* * * *"))
    assert response.status_code == 400
    assert field_error(response.get_data(as_text=True), "cron_expression")
    assert ui.stored(schedule_id).cron_expression == "30 9 * * 1-5"


def test_deleted_schedule_cannot_be_edited(ui):
    """The edit page of a deleted schedule sends the operator back with a reason."""
    schedule_id = ui.schedule()
    ui.post(f"/schedules/{schedule_id}/delete")
    response = ui.get(f"/schedules/{schedule_id}/edit")
    assert response.status_code == 302
    assert "cannot be changed" in ui.get(response.headers["Location"]).get_data(as_text=True)


def test_form_fields_are_escaped(ui):
    """Typed markup comes back as text in a refused form."""
    html = ui.post("/schedules/new", form(task_type="<b>bold</b>", timezone="<i>x</i>")).get_data(as_text=True)
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<i>x</i>" not in html


def test_agents_page_lists_agents_and_capabilities(ui):
    """Agents show with their capabilities and role; the page is never cached."""
    response = ui.get("/agents")
    html = response.get_data(as_text=True)
    assert "<code>client-1</code>" in html
    assert '<span class="tag">report-v1</span>' in html and '<span class="tag">email-v2</span>' in html
    assert response.headers["Cache-Control"] == "no-store"


def test_create_agent_shows_its_key_once(ui):
    """Registering an agent shows a working key this once; the list never shows it again."""
    response = ui.post("/agents", {"agent_id": "worker-7", "name": "Worker", "capabilities": "a, b c", "admin": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 201
    key = re.search(r'id="new-key" class="key mono" type="text" readonly value="([^"]+)"', html).group(1)
    with ui.app.app_context():
        agent = agent_for_key(key)
        assert agent.agent_id == "worker-7" and agent.is_admin and agent.capabilities == ["a", "b", "c"]
    assert key not in ui.get("/agents").get_data(as_text=True)


def test_create_agent_errors_show_beside_the_field(ui):
    """A duplicate id answers 409 beside the id; a bad id 400; nothing is created."""
    response = ui.post("/agents", {"agent_id": "client-1"})
    assert response.status_code == 409
    assert "already exists" in field_error(response.get_data(as_text=True), "agent_id")
    response = ui.post("/agents", {"agent_id": "has space"})
    assert response.status_code == 400
    assert "without spaces" in field_error(response.get_data(as_text=True), "agent_id")


def test_reopened_builder_expression_is_not_a_change(ui):
    """A weekly schedule stored as "0 18 * * 5" opens as Friday; saving it unchanged keeps the stored text."""
    schedule_id = ui.schedule(cron_expression="0 18 * * 5", timezone="Europe/Paris")
    fields = form(kind="weekly", at_time="18:00", weekday="FRI", timezone="Europe/Paris", input_data="{}")
    response = ui.post(f"/schedules/{schedule_id}/edit", {**fields, "description": "Only this"})
    assert response.status_code == 302
    stored = ui.stored(schedule_id)
    assert stored.cron_expression == "0 18 * * 5" and stored.description == "Only this"
