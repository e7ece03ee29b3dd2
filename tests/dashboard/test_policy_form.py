"""The form's Advanced section: every policy, the service's errors beside their inputs, edits that send only changes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest

from tests.dashboard.test_forms import field_error, form
from tests.dashboard_helpers import Dashboard
from webapp.dashboard.forms import ScheduleForm, in_words

RETRY_INPUTS = {
    "retry_max_attempts": "3",
    "retry_initial_interval_seconds": "10",
    "retry_backoff_coefficient": "2",
    "retry_max_interval_seconds": "3600",
}
EVERY_POLICY = {
    "overlap_policy": "SKIP",
    "misfire_policy": "FIRE_ALL",
    "catchup_window_seconds": "3600",
    "start_at": "2025-12-01T09:00",
    "end_at": "2026-01-01T09:00",
    "max_runs": "10",
    "jitter_seconds": "60",
    **RETRY_INPUTS,
    "retry_initial_interval_seconds": "30",
    "timeout_seconds": "120",
    "pause_after_failures": "3",
}


@pytest.fixture
def ui(frozen_ui) -> Dashboard:
    """Return the signed-in dashboard client, clock frozen (see conftest.py)."""
    return frozen_ui


def created(ui: Dashboard, response) -> str:
    """Return the id of the schedule a create redirected to."""
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    return response.headers["Location"].rsplit("/", 1)[1]


def field_errors(html: str) -> list[str]:
    """Return every error shown beside a field, to explain a failed expectation."""
    return re.findall(r'<p class="field-error" id="([\w-]+)">(.*?)</p>', html, re.S)


def advanced_section(html: str) -> str:
    """Return the opening tag of the Advanced section."""
    match = re.search(r'<details class="card advanced" id="advanced"[^>]*>', html)
    assert match, "the form has no Advanced section"
    return match.group(0)


def test_advanced_section_is_collapsed_with_every_policy_and_its_default(ui):
    """A new form keeps Advanced closed; inside, each policy has an input and help that names its default."""
    html = ui.get("/schedules/new").get_data(as_text=True)
    assert " open" not in advanced_section(html)
    assert "all defaults" in html
    for name in (*EVERY_POLICY, "retry_max_interval_seconds"):
        assert f'name="{name}"' in html, name
        assert f'id="{name}-hint"' in html, f"{name} has no help"
    for default in (
        "Default: start it anyway (ALLOW)",
        "(FIRE_LATEST)",
        "Empty: no limit (the default)",
        "Default: 300 (5 min)",
        "Default: 1 (no retry)",
        "Default: 10.",
        "Default: 2.0.",
        "Default: 3600 (1 h)",
        "Empty: never (the default)",
    ):
        assert default in html, default
    assert '<option selected value="ALLOW">' in html and '<option selected value="FIRE_LATEST">' in html
    assert 'name="timeout_seconds" type="number" value="300"' in html


def test_create_with_every_policy_stores_them_as_the_api_would(ui):
    """Every Advanced input reaches the service; the API's detail answer shows the same policies."""
    schedule_id = created(ui, ui.post("/schedules/new", form(kind="daily", at_time="09:30", **EVERY_POLICY)))
    stored = ui.stored(schedule_id)
    assert (stored.overlap_policy, stored.misfire_policy) == ("SKIP", "FIRE_ALL")
    assert (stored.catchup_window_seconds, stored.max_runs, stored.remaining_runs) == (3600, 10, 10)
    assert (stored.jitter_seconds, stored.timeout_seconds, stored.pause_after_failures) == (60, 120, 3)
    assert stored.retry_policy == {
        "max_attempts": 3,
        "initial_interval_seconds": 30,
        "backoff_coefficient": 2.0,
        "max_interval_seconds": 3600,
    }
    # Bounds are local wall time in the schedule's zone (America/New_York: UTC-5 in winter).
    assert stored.start_at == datetime(2025, 12, 1, 14, 0, tzinfo=UTC)
    assert stored.end_at == datetime(2026, 1, 1, 14, 0, tzinfo=UTC)
    assert stored.next_run_at >= stored.start_at


def test_create_with_the_defaults_leaves_every_policy_unset(ui):
    """An untouched Advanced section stores the defaults: no retry policy, no limits, no bounds."""
    stored = ui.stored(created(ui, ui.post("/schedules/new", form())))
    assert (stored.overlap_policy, stored.misfire_policy, stored.jitter_seconds, stored.timeout_seconds) == (
        "ALLOW",
        "FIRE_LATEST",
        0,
        300,
    )
    assert stored.retry_policy is None
    assert None is stored.catchup_window_seconds is stored.max_runs is stored.pause_after_failures
    assert None is stored.start_at is stored.end_at


# Each bad Advanced input, the equivalent API body, the input that shows the error, and the message.
REFUSALS = [
    ({"catchup_window_seconds": "0"}, {"catchup_window_seconds": 0}, "catchup_window_seconds", "between 1 and"),
    ({"max_runs": "1.5"}, {"max_runs": 1.5}, "max_runs", "Run limit must be an integer"),
    ({"timeout_seconds": "soon"}, {"timeout_seconds": "soon"}, "timeout_seconds", "must be an integer"),
    ({"pause_after_failures": "0"}, {"pause_after_failures": 0}, "pause_after_failures", "between 1 and 1,000"),
    ({"jitter_seconds": "3601"}, {"jitter_seconds": 3601}, "jitter_seconds", "between 0 and 3,600"),
    (
        {"kind": "custom", "cron_expression": "*/5 * * * *", "jitter_seconds": "600"},
        {"cron_expression": "*/5 * * * *", "jitter_seconds": 600},
        "jitter_seconds",
        "smaller than the shortest gap between runs (300 s)",
    ),
    (
        {"start_at": "2026-02-01T00:00", "end_at": "2026-01-01T00:00"},
        {"start_at": "2026-02-01T00:00", "end_at": "2026-01-01T00:00"},
        "end_at",
        "End must be after start",
    ),
    ({"end_at": "2025-01-01T00:00"}, {"end_at": "2025-01-01T00:00"}, "end_at", "End is in the past"),
    ({"start_at": "tomorrow"}, {"start_at": "tomorrow"}, "start_at", "Invalid date-time"),
    (
        {"kind": "once", "run_at": "2025-12-24T18:00", "max_runs": "2"},
        {"cron_expression": None, "run_at": "2025-12-24T18:00", "max_runs": 2},
        "max_runs",
        "Run limit applies to cron schedules only",
    ),
    (
        {"retry_max_attempts": "21"},
        {"retry_policy": {"max_attempts": 21}},
        "retry_max_attempts",
        "Attempts must be between 1 and 20",
    ),
    (
        {"retry_backoff_coefficient": "0.5"},
        {"retry_policy": {"backoff_coefficient": 0.5}},
        "retry_backoff_coefficient",
        "Growth factor must be between 1.0 and 10.0",
    ),
    (
        {"retry_max_interval_seconds": "0"},
        {"retry_policy": {"max_interval_seconds": 0}},
        "retry_max_interval_seconds",
        "Longest wait must be between 1 and 86,400",
    ),
]


@pytest.mark.parametrize("inputs, api_body, field, message", REFUSALS)
def test_refused_policy_shows_the_api_error_beside_its_input(
    ui, app, client, make_agent, inputs, api_body, field, message
):
    """A bad policy is a 400 with the API's own message beside its input, Advanced open, nothing stored."""
    response = ui.post("/schedules/new", form(**inputs))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    shown = unescape(field_error(html, field))
    assert message in shown, field_errors(html)
    assert " open" in advanced_section(html)
    assert "1 to fix" in html
    assert ui.count() == 0

    # The API refuses the same body with the same words (the form names its inputs by their labels).
    body = {
        "client_id": "client-1",
        "task_type": "generate-report",
        "capability_required": "report-v1",
        "cron_expression": "30 9 * * *",
        "timezone": "America/New_York",
        **api_body,
    }
    body = {k: v for k, v in body.items() if v is not None}
    answer = client.post("/aitp/tasks/schedule", json=body, headers=make_agent("ops", admin=True))
    assert answer.status_code == 400
    with app.test_request_context():
        assert in_words(ScheduleForm(meta={"csrf": False}), answer.get_json()["error"]["message"]) == shown
    assert ui.count() == 0


def test_edit_form_opens_with_the_stored_policies(ui):
    """The edit form shows each stored policy in its input, the bounds in the schedule's zone."""
    schedule_id = created(ui, ui.post("/schedules/new", form(**EVERY_POLICY)))
    html = ui.get(f"/schedules/{schedule_id}/edit").get_data(as_text=True)
    assert '<option selected value="SKIP">' in html and '<option selected value="FIRE_ALL">' in html
    for name, value in EVERY_POLICY.items():
        if name not in ("overlap_policy", "misfire_policy", "retry_backoff_coefficient"):
            assert re.search(rf'name="{name}" [^>]*value="{re.escape(value)}"', html), name
    assert re.search(r'name="retry_backoff_coefficient" [^>]*value="2.0"', html)
    assert "changed from the defaults" in html


def test_saving_an_untouched_edit_form_changes_nothing(ui):
    """The stored policies come back from the form as they were: nothing is sent, next_run_at stays."""
    schedule_id = created(ui, ui.post("/schedules/new", form(**EVERY_POLICY)))
    before = ui.stored(schedule_id)
    response = ui.post(f"/schedules/{schedule_id}/edit", form(**EVERY_POLICY), follow_redirects=True)
    assert "Nothing changed." in response.get_data(as_text=True)
    after = ui.stored(schedule_id)
    assert (after.updated_at, after.next_run_at, after.remaining_runs) == (
        before.updated_at,
        before.next_run_at,
        before.remaining_runs,
    )


def test_edit_sets_overlap_and_retries_and_leaves_the_rest(ui):
    """Changing overlap and retries in the edit form stores exactly those two."""
    schedule_id = ui.schedule(cron_expression="30 9 * * *", timezone="America/New_York", description="Report")
    before = ui.stored(schedule_id)
    inputs = form(overlap_policy="BUFFER_ONE", **RETRY_INPUTS)
    response = ui.post(f"/schedules/{schedule_id}/edit", inputs)
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    after = ui.stored(schedule_id)
    assert after.overlap_policy == "BUFFER_ONE"
    assert after.retry_policy["max_attempts"] == 3
    assert after.next_run_at == before.next_run_at  # nothing about the timing was sent
    assert after.max_runs is None and after.jitter_seconds == 0


def test_edit_back_to_default_retries_and_no_limits(ui):
    """Putting the inputs back to their defaults (and emptying the limits) stores the defaults again."""
    schedule_id = created(ui, ui.post("/schedules/new", form(**EVERY_POLICY)))
    plain = {
        "retry_max_attempts": "1",
        "retry_initial_interval_seconds": "10",
        "retry_backoff_coefficient": "2.0",
        "retry_max_interval_seconds": "3600",
    }
    inputs = {**EVERY_POLICY, **plain, "max_runs": "", "pause_after_failures": "", "end_at": "", "start_at": ""}
    response = ui.post(f"/schedules/{schedule_id}/edit", form(**inputs))
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    after = ui.stored(schedule_id)
    assert after.retry_policy["max_attempts"] == 1
    assert None is after.max_runs is after.remaining_runs is after.pause_after_failures
    assert None is after.start_at is after.end_at


def test_edit_refusal_changes_nothing(ui):
    """An edit the service refuses shows why beside the input and stores nothing."""
    schedule_id = created(ui, ui.post("/schedules/new", form(**EVERY_POLICY)))
    before = ui.stored(schedule_id)
    response = ui.post(f"/schedules/{schedule_id}/edit", form(**{**EVERY_POLICY, "end_at": "2025-11-30T00:00"}))
    assert response.status_code == 400
    assert "End must be after start" in field_error(response.get_data(as_text=True), "end_at")
    after = ui.stored(schedule_id)
    assert (after.end_at, after.updated_at) == (before.end_at, before.updated_at)
