"""Upcoming runs and backfill through the API, with a frozen clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from webapp import clock
from webapp.extensions import db
from webapp.models import ScheduleExecution, Task
from webapp.scheduling import dispatcher, policies

NOW = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
BODY = {"task_type": "report", "capability_required": "report-v1"}
YESTERDAY = {"start": "2025-03-01T00:00:00Z", "end": "2025-03-02T00:00:00Z"}


@pytest.fixture(autouse=True)
def frozen(freeze_clock):
    """Freeze the service clock at NOW."""
    freeze_clock(NOW)


def _create(client, auth, **fields) -> str:
    """Create a schedule; return its id."""
    response = client.post("/aitp/tasks/schedule", json={**BODY, **fields}, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["schedule_id"]


def _rows(app) -> tuple[int, int]:
    """Count executions and tasks."""
    with app.app_context():
        count = sa.select(sa.func.count())
        return (
            db.session.scalar(count.select_from(ScheduleExecution)),
            db.session.scalar(count.select_from(Task)),
        )


def test_upcoming_lists_the_runs_with_bounds_limits_and_jitter(client, auth):
    sid = _create(client, auth, cron_expression="0 9 * * *", timezone="Europe/Paris", jitter_seconds=600, max_runs=3)
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=5", headers=auth).get_json()["upcoming"]
    assert [r["scheduled_for"] for r in runs] == [
        "2025-03-03T08:00:00Z",
        "2025-03-04T08:00:00Z",
        "2025-03-05T08:00:00Z",
    ]
    assert [r["local"] for r in runs][0] == "2025-03-03T09:00:00+01:00"
    for run in runs:
        at = datetime.fromisoformat(run["scheduled_for"].replace("Z", "+00:00"))
        assert run["fire_at"] == clock.iso_z(at + policies.jitter_offset(sid, at, 600))  # the dispatcher's instant
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert detail["next_run_at"] == runs[0]["fire_at"]


def test_upcoming_stops_at_end_at_and_is_empty_unless_active(client, auth):
    sid = _create(client, auth, cron_expression="0 9 * * *", end_at="2025-03-04T09:00:00Z")
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming", headers=auth).get_json()["upcoming"]
    assert [r["scheduled_for"] for r in runs] == ["2025-03-03T09:00:00Z", "2025-03-04T09:00:00Z"]
    client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "PAUSED"}, headers=auth)
    assert client.get(f"/aitp/tasks/schedule/{sid}/upcoming", headers=auth).get_json() == {"upcoming": []}


def test_a_one_time_run_is_listed_in_the_same_shape_as_a_cron_run(client, auth):
    sid = _create(client, auth, run_at="2025-03-02T18:30:00+01:00", timezone="Europe/Paris")
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=3", headers=auth).get_json()["upcoming"]
    assert runs == [
        {
            "scheduled_for": "2025-03-02T17:30:00Z",
            "fire_at": "2025-03-02T17:30:00Z",
            "local": "2025-03-02T18:30:00+01:00",
            "note": None,
            "holiday": None,
            "nominal": "2025-03-02T17:30:00Z",
        }
    ]
    cron = _create(client, auth, cron_expression="0 9 * * *")
    [first] = client.get(f"/aitp/tasks/schedule/{cron}/upcoming?count=1", headers=auth).get_json()["upcoming"]
    assert first.keys() == runs[0].keys()


@pytest.mark.parametrize("count", ["0", "101", "ten"])
def test_upcoming_refuses_a_bad_count(client, auth, count):
    sid = _create(client, auth, cron_expression="0 9 * * *")
    response = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count={count}", headers=auth)
    assert (response.status_code, response.get_json()["error"]["field"]) == (400, "count")


def test_backfill_yesterday_with_a_dry_run_first(app, client, auth):
    sid = _create(client, auth, cron_expression="0 */6 * * *")
    dry = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json={**YESTERDAY, "dry_run": True}, headers=auth)
    assert dry.status_code == 200
    expected = [f"2025-03-01T{h:02d}:00:00Z" for h in (0, 6, 12, 18)]
    assert dry.get_json() == {"fired": 0, "occurrences": [{"scheduled_for": at, "action": "FIRE"} for at in expected]}
    assert _rows(app) == (0, 0)
    done = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=YESTERDAY, headers=auth)
    assert (done.status_code, done.get_json()["fired"]) == (201, 4)
    history = client.get(f"/aitp/tasks/schedule/{sid}/executions?trigger=BACKFILL", headers=auth).get_json()
    assert sorted(e["scheduled_for"] for e in history["executions"]) == expected
    assert all(e["status"] == "PENDING" and e["task_id"] for e in history["executions"])
    again = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=YESTERDAY, headers=auth).get_json()
    assert again == {"fired": 0, "occurrences": [{"scheduled_for": at, "action": "EXISTS"} for at in expected]}
    assert _rows(app) == (4, 4)
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["total_runs"] == 4


@pytest.mark.parametrize(
    ("body", "status", "field", "words"),
    [
        ({"start": "2025-03-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, 400, "end", "end must be after start"),
        ({"start": "2025-03-01T00:00:00Z", "end": "2025-03-03T00:00:00Z"}, 400, "end", "in the future"),
        ({"start": "2025-01-01T00:00:00Z", "end": "2025-03-01T00:00:00Z"}, 400, "end", "holds 1,416 occurrences"),
        ({"start": "yesterday", "end": "2025-03-01T00:00:00Z"}, 400, "start", "Invalid date-time"),
        ({"start": "2025-03-01T00:00:00Z"}, 400, "end", "Missing required field: end"),
        ({**YESTERDAY, "dry_run": "yes"}, 400, "dry_run", "dry_run must be true or false"),
        ({**YESTERDAY, "force": True}, 400, "force", "Unknown field: force"),
    ],
)
def test_a_bad_backfill_is_refused_and_changes_nothing(app, client, auth, body, status, field, words):
    sid = _create(client, auth, cron_expression="0 * * * *")
    response = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=body, headers=auth)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and words in error["message"], error
    assert _rows(app) == (0, 0)


def test_backfill_of_a_one_time_or_deleted_schedule_is_a_conflict(client, auth):
    once = _create(client, auth, run_at="2025-03-05T00:00:00Z")
    assert client.post(f"/aitp/tasks/schedule/{once}/backfill", json=YESTERDAY, headers=auth).status_code == 409
    gone = _create(client, auth, cron_expression="0 * * * *")
    client.delete(f"/aitp/tasks/schedule/{gone}", headers=auth)
    assert client.post(f"/aitp/tasks/schedule/{gone}/backfill", json=YESTERDAY, headers=auth).status_code == 409


def test_max_runs_is_reached_by_a_mix_of_firings_and_backfill(app, client, auth):
    sid = _create(client, auth, cron_expression="0 */6 * * *", max_runs=5)
    with app.app_context():
        assert dispatcher.fire_due(datetime(2025, 3, 2, 18, 0, tzinfo=UTC)) == 1  # 18:00 today
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["remaining_runs"] == 4
    too_many = {"start": "2025-02-28T00:00:00Z", "end": "2025-03-02T00:00:00Z"}  # 8 occurrences
    refused = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=too_many, headers=auth)
    assert (refused.status_code, refused.get_json()["error"]["field"]) == (409, "max_runs")
    assert client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=YESTERDAY, headers=auth).get_json()["fired"] == 4
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert (detail["status"], detail["remaining_runs"], detail["total_runs"], detail["next_run_at"]) == (
        "COMPLETED",
        0,
        5,
        None,
    )
    assert detail["last_error"] == "Completed: reached max_runs (5 firings)"


def test_the_dispatcher_does_not_fire_again_what_a_backfill_fired(app, client, auth):
    sid = _create(client, auth, cron_expression="0 */6 * * *")  # next run 2025-03-02T18:00
    with app.app_context():
        db.session.execute(  # as if the service had been down since yesterday noon
            sa.text("UPDATE scheduled_tasks SET next_run_at = :at"), {"at": datetime(2025, 3, 1, 12, 0)}
        )
        db.session.commit()
    client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=YESTERDAY, headers=auth)
    with app.app_context():
        dispatcher.fire_due(NOW)  # 2025-03-01 12:00, 18:00, 03-02 00:00, 06:00 and 12:00 are due; the newest fires
    history = client.get(f"/aitp/tasks/schedule/{sid}/executions?limit=100", headers=auth).get_json()["executions"]
    occurrences = [e["scheduled_for"] for e in history]
    assert len(occurrences) == len(set(occurrences))
    assert [e["trigger"] for e in history if e["scheduled_for"] == "2025-03-02T12:00:00Z"] == ["SCHEDULE"]
    assert [e["trigger"] for e in history if e["scheduled_for"] == "2025-03-01T18:00:00Z"] == ["BACKFILL"]
