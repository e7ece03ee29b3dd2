"""Schedule policy fields through the API: defaults, create, PUT, detail, list, and every refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ScheduledTask

FROZEN = datetime(2025, 11, 28, 2, 45, tzinfo=UTC)
BODY = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "0 9 * * *"}
DEFAULTS = {
    "overlap_policy": "ALLOW",
    "misfire_policy": "FIRE_LATEST",
    "catchup_window_seconds": None,
    "start_at": None,
    "end_at": None,
    "max_runs": None,
    "remaining_runs": None,
    "jitter_seconds": 0,
    "retry_policy": {
        "max_attempts": 1,
        "initial_interval_seconds": 10,
        "backoff_coefficient": 2.0,
        "max_interval_seconds": 3600,
    },
    "timeout_seconds": 300,
    "pause_after_failures": None,
    "consecutive_failures": 0,
    "paused_reason": None,
}
EVERY_POLICY = {
    "overlap_policy": "SKIP",
    "misfire_policy": "FIRE_ALL",
    "catchup_window_seconds": 3600,
    "start_at": "2025-12-01T00:00:00Z",
    "end_at": "2026-01-01T00:00:00Z",
    "max_runs": 10,
    "jitter_seconds": 60,
    "retry_policy": {"max_attempts": 3, "initial_interval_seconds": 30},
    "timeout_seconds": 120,
    "pause_after_failures": 3,
}


@pytest.fixture(autouse=True)
def frozen(freeze_clock):
    """Freeze the service clock at FROZEN."""
    freeze_clock(FROZEN)


def _schedules(app) -> list[tuple]:
    """Return every schedule row's policy columns, to check a refused request changed nothing."""
    with app.app_context():
        columns = [getattr(ScheduledTask, name) for name in ("schedule_id", "next_run_at", *DEFAULTS)]
        rows = db.session.execute(sa.select(*columns).order_by(ScheduledTask.schedule_id)).all()
        return [tuple(r) for r in rows]


def _create(client, auth, **fields) -> dict:
    """Create a schedule; assert 201; return the answer."""
    response = client.post("/aitp/tasks/schedule", json={**BODY, **fields}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_schedule_without_policies_shows_every_default(client, auth):
    created = _create(client, auth)
    assert {k: created[k] for k in DEFAULTS} == DEFAULTS
    detail = client.get(f"/aitp/tasks/schedule/{created['schedule_id']}", headers=auth).get_json()
    assert {k: detail[k] for k in DEFAULTS} == DEFAULTS
    assert detail["last_run"] is None
    [item] = client.get("/aitp/tasks/schedule", headers=auth).get_json()["schedules"]
    assert {k: item[k] for k in DEFAULTS} == DEFAULTS


def test_it_stores_and_shows_every_policy(client, auth, app):
    created = _create(client, auth, **EVERY_POLICY)
    expected = {
        **EVERY_POLICY,
        "remaining_runs": 10,
        "retry_policy": {**DEFAULTS["retry_policy"], "max_attempts": 3, "initial_interval_seconds": 30},
        "consecutive_failures": 0,
        "paused_reason": None,
    }
    assert {k: created[k] for k in DEFAULTS} == expected
    # Never before start_at; with jitter, next_run_at is the first occurrence plus its stable offset.
    assert "2025-12-01T09:00:00Z" <= created["next_run_at"] < "2025-12-01T09:01:00Z"
    [item] = client.get("/aitp/tasks/schedule", headers=auth).get_json()["schedules"]
    assert {k: item[k] for k in DEFAULTS} == expected
    with app.app_context():
        row = db.session.get(ScheduledTask, created["schedule_id"])
        assert (row.overlap_policy, row.max_runs, row.remaining_runs, row.retry_policy["max_attempts"]) == (
            "SKIP",
            10,
            10,
            3,
        )


def test_put_changes_policies_and_a_new_max_runs_starts_the_count_afresh(client, auth, app):
    sid = _create(client, auth, max_runs=5)["schedule_id"]
    with app.app_context():
        db.session.execute(sa.update(ScheduledTask).values(remaining_runs=2))
        db.session.commit()
    body = {"overlap_policy": "BUFFER_ONE", "max_runs": 7, "retry_policy": {"max_attempts": 2}, "timeout_seconds": 60}
    response = client.put(f"/aitp/tasks/schedule/{sid}", json=body, headers=auth)
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert (answer["overlap_policy"], answer["max_runs"], answer["remaining_runs"], answer["timeout_seconds"]) == (
        "BUFFER_ONE",
        7,
        7,
        60,
    )
    assert answer["retry_policy"]["max_attempts"] == 2
    # An unrelated edit keeps the count where it is; null lifts the limit.
    assert (
        client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 9}, headers=auth).get_json()["remaining_runs"] == 7
    )
    lifted = client.put(f"/aitp/tasks/schedule/{sid}", json={"max_runs": None}, headers=auth).get_json()
    assert (lifted["max_runs"], lifted["remaining_runs"]) == (None, None)


def test_put_of_jitter_moves_next_run_within_the_jitter(client, auth):
    sid = _create(client, auth)["schedule_id"]
    answer = client.put(f"/aitp/tasks/schedule/{sid}", json={"jitter_seconds": 600}, headers=auth).get_json()
    assert "2025-11-28T09:00:00Z" <= answer["next_run_at"] < "2025-11-28T09:10:00Z"
    again = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert again["next_run_at"] == answer["next_run_at"]


BAD_VALUES = [
    ({"overlap_policy": "NEVER"}, "overlap_policy", "overlap_policy must be one of ALLOW, SKIP, BUFFER_ONE, REPLACE"),
    ({"misfire_policy": "LATER"}, "misfire_policy", "misfire_policy must be one of FIRE_LATEST, FIRE_ALL, SKIP"),
    (
        {"catchup_window_seconds": 0},
        "catchup_window_seconds",
        "catchup_window_seconds must be between 1 and 31,536,000",
    ),
    ({"catchup_window_seconds": 31536001}, "catchup_window_seconds", "between 1 and 31,536,000"),
    ({"catchup_window_seconds": "60"}, "catchup_window_seconds", "catchup_window_seconds must be an integer"),
    ({"max_runs": 0}, "max_runs", "max_runs must be between 1 and 1,000,000"),
    ({"max_runs": 1000001}, "max_runs", "max_runs must be between 1 and 1,000,000"),
    ({"jitter_seconds": -1}, "jitter_seconds", "jitter_seconds must be between 0 and 3,600"),
    ({"jitter_seconds": 3601}, "jitter_seconds", "jitter_seconds must be between 0 and 3,600"),
    ({"jitter_seconds": None}, "jitter_seconds", "jitter_seconds must be an integer"),
    ({"timeout_seconds": 0}, "timeout_seconds", "timeout_seconds must be between 1 and 604,800"),
    ({"timeout_seconds": 604801}, "timeout_seconds", "timeout_seconds must be between 1 and 604,800"),
    ({"pause_after_failures": 0}, "pause_after_failures", "pause_after_failures must be between 1 and 1,000"),
    ({"pause_after_failures": 1001}, "pause_after_failures", "pause_after_failures must be between 1 and 1,000"),
    ({"start_at": "tomorrow"}, "start_at", "Invalid date-time; use ISO 8601"),
    ({"end_at": 5}, "end_at", "end_at must be a string"),
    ({"retry_policy": []}, "retry_policy", "retry_policy must be an object"),
    ({"retry_policy": {"tries": 3}}, "retry_policy", "Unknown field: retry_policy.tries"),
    ({"retry_policy": {"max_attempts": 0}}, "retry_policy", "retry_policy.max_attempts must be between 1 and 20"),
    ({"retry_policy": {"max_attempts": 21}}, "retry_policy", "retry_policy.max_attempts must be between 1 and 20"),
    (
        {"retry_policy": {"initial_interval_seconds": 86401}},
        "retry_policy",
        "retry_policy.initial_interval_seconds must be between 1 and 86,400",
    ),
    (
        {"retry_policy": {"backoff_coefficient": 0.5}},
        "retry_policy",
        "retry_policy.backoff_coefficient must be between 1.0 and 10.0",
    ),
    (
        {"retry_policy": {"backoff_coefficient": "x"}},
        "retry_policy",
        "retry_policy.backoff_coefficient must be a number",
    ),
    (
        {"retry_policy": {"max_interval_seconds": 0}},
        "retry_policy",
        "retry_policy.max_interval_seconds must be between 1 and 86,400",
    ),
]

FORBIDDEN = [
    ({"run_at": "2025-12-01T00:00:00Z", "cron_expression": None, "jitter_seconds": 5}, "jitter_seconds"),
    ({"run_at": "2025-12-01T00:00:00Z", "cron_expression": None, "start_at": "2025-11-29T00:00:00Z"}, "start_at"),
    ({"run_at": "2025-12-01T00:00:00Z", "cron_expression": None, "end_at": "2025-12-02T00:00:00Z"}, "end_at"),
    ({"run_at": "2025-12-01T00:00:00Z", "cron_expression": None, "max_runs": 3}, "max_runs"),
    ({"start_at": "2025-12-02T00:00:00Z", "end_at": "2025-12-02T00:00:00Z"}, "end_at"),
    ({"start_at": "2025-12-03T00:00:00Z", "end_at": "2025-12-02T00:00:00Z"}, "end_at"),
    ({"end_at": "2025-11-28T02:00:00Z"}, "end_at"),
    ({"start_at": "2025-12-02T10:00:00Z", "end_at": "2025-12-03T08:00:00Z"}, "end_at"),  # no 09:00 in between
    ({"cron_expression": "*/5 * * * *", "jitter_seconds": 300}, "jitter_seconds"),
    ({"cron_expression": "0 9,10 * * *", "jitter_seconds": 3600}, "jitter_seconds"),
]
MESSAGES = {
    "jitter_seconds": ("applies to cron schedules only", "must be smaller than the shortest gap between runs"),
    "start_at": ("applies to cron schedules only",),
    "max_runs": ("applies to cron schedules only",),
    "end_at": ("applies to cron schedules only", "end_at must be after start_at", "in the past", "no occurrence"),
}


@pytest.mark.parametrize(("fields", "field", "message"), BAD_VALUES)
def test_create_refuses_each_bad_value_and_changes_nothing(client, auth, app, fields, field, message):
    response = client.post("/aitp/tasks/schedule", json={**BODY, **fields}, headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", field)
    assert message in error["message"]
    assert _schedules(app) == []


@pytest.mark.parametrize(("fields", "field", "message"), BAD_VALUES)
def test_put_refuses_each_bad_value_and_changes_nothing(client, auth, app, fields, field, message):
    sid = _create(client, auth)["schedule_id"]
    before = _schedules(app)
    response = client.put(f"/aitp/tasks/schedule/{sid}", json=fields, headers=auth)
    assert response.status_code == 400
    assert (response.get_json()["error"]["field"], message in response.get_json()["error"]["message"]) == (field, True)
    assert _schedules(app) == before


@pytest.mark.parametrize(("fields", "field"), FORBIDDEN)
def test_create_refuses_each_forbidden_combination(client, auth, app, fields, field):
    body = {k: v for k, v in {**BODY, **fields}.items() if v is not None}
    response = client.post("/aitp/tasks/schedule", json=body, headers=auth)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field
    assert any(text in error["message"] for text in MESSAGES[field]), error["message"]
    assert _schedules(app) == []


def test_put_refuses_switching_to_run_at_while_cron_only_policies_are_set(client, auth, app):
    sid = _create(client, auth, jitter_seconds=30, max_runs=4)["schedule_id"]
    before = _schedules(app)
    response = client.put(f"/aitp/tasks/schedule/{sid}", json={"run_at": "2025-12-01T00:00:00Z"}, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "max_runs"
    assert _schedules(app) == before
    cleared = {"run_at": "2025-12-01T00:00:00Z", "jitter_seconds": 0, "max_runs": None}
    answer = client.put(f"/aitp/tasks/schedule/{sid}", json=cleared, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["cron_expression"], answer.get_json()["next_run_at"]) == (None, "2025-12-01T00:00:00Z")


def test_put_keeps_an_old_end_at_that_has_passed_out_of_an_unrelated_edit(client, auth, app):
    sid = _create(client, auth, end_at="2025-12-01T00:00:00Z")["schedule_id"]
    with app.app_context():
        db.session.execute(
            sa.update(ScheduledTask).values(end_at=datetime(2025, 11, 28, 0, 0, tzinfo=UTC), status="COMPLETED")
        )
        db.session.commit()
    response = client.put(f"/aitp/tasks/schedule/{sid}", json={"description": "still readable"}, headers=auth)
    assert response.status_code == 200, response.get_json()
    # A new end_at revives the schedule that completed by its bound.
    revived = client.put(f"/aitp/tasks/schedule/{sid}", json={"end_at": "2025-12-31T00:00:00Z"}, headers=auth)
    assert (revived.get_json()["status"], revived.get_json()["next_run_at"]) == ("ACTIVE", "2025-11-28T09:00:00Z")


def test_a_naive_start_at_is_read_in_the_schedule_timezone(client, auth):
    created = _create(client, auth, timezone="America/New_York", start_at="2025-12-05T00:00:00")
    assert created["start_at"] == "2025-12-05T05:00:00Z"
    assert created["next_run_at"] == "2025-12-05T14:00:00Z"
