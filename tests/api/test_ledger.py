"""The occurrence ledger through the API: trigger, reason, timing, filters, and a one-time run's outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp import clock
from webapp.scheduling import dispatcher

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
BODY = {"task_type": "report", "capability_required": "report-v1"}


@pytest.fixture
def now(freeze_clock):
    """Freeze the service clock at T0; return a setter to move it."""
    freeze_clock(T0)
    return freeze_clock


def _fired_one_time(app, client, auth, now) -> str:
    """Create a one-time schedule for 09:00 and fire it a second later; return its id."""
    body = {**BODY, "run_at": "2025-03-01T09:00:00Z"}
    sid = client.post("/aitp/tasks/schedule", json=body, headers=auth).get_json()["schedule_id"]
    now(datetime(2025, 3, 1, 9, 0, 1, tzinfo=UTC))
    with app.app_context():
        assert dispatcher.fire_due(clock.utcnow()) == 1
    return sid


@pytest.fixture
def worker(make_agent):
    """Return the bearer headers of a worker agent."""
    return make_agent("worker-1", capabilities=["report-v1"])


def _history(client, auth, sid: str, query: str = "") -> list[dict]:
    """Return a schedule's executions (newest first)."""
    response = client.get(f"/aitp/tasks/schedule/{sid}/executions{query}", headers=auth)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["executions"]


def _claim_and(client, worker, action: str, body: dict) -> dict:
    """Claim one task and complete or fail it; return the answer."""
    [task] = client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=worker).get_json()["tasks"]
    response = client.post(f"/aitp/tasks/{task['task_id']}/{action}", json=body, headers=worker)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_every_execution_carries_trigger_reason_and_timing(app, client, auth, worker, now):
    sid = client.post(
        "/aitp/tasks/schedule", json={**BODY, "cron_expression": "*/10 * * * *"}, headers=auth
    ).get_json()["schedule_id"]
    now(T0 + timedelta(minutes=35))  # 08:10, 08:20 and 08:30 are due: the newest fires
    with app.app_context():
        assert dispatcher.fire_due(clock.utcnow()) == 1
    client.post(f"/aitp/tasks/schedule/{sid}/run", headers=auth)
    rows = _history(client, auth, sid)
    assert [(e["trigger"], e["status"], e["reason"]) for e in rows] == [
        ("RUN_NOW", "PENDING", None),
        ("SCHEDULE", "PENDING", None),
        ("SCHEDULE", "SKIPPED", "MISSED"),
        ("SCHEDULE", "SKIPPED", "MISSED"),
    ]
    assert all(
        (e["attempts"], e["started_at"], e["finished_at"], e["duration_seconds"]) == (0, None, None, None) for e in rows
    )
    assert _history(client, auth, sid, "?status=SKIPPED") == rows[2:]
    assert _history(client, auth, sid, "?trigger=RUN_NOW") == rows[:1]
    assert _history(client, auth, sid, "?trigger=SCHEDULE&status=PENDING") == rows[1:2]
    assert _history(client, auth, sid, "?trigger=BACKFILL") == []


@pytest.mark.parametrize(
    ("query", "field"), [("?status=DONE", "status"), ("?trigger=CRON", "trigger"), ("?status=pending", "status")]
)
def test_a_bad_history_filter_is_a_400_that_names_it(client, auth, now, query, field):
    sid = client.post("/aitp/tasks/schedule", json={**BODY, "cron_expression": "0 9 * * *"}, headers=auth).get_json()[
        "schedule_id"
    ]
    response = client.get(f"/aitp/tasks/schedule/{sid}/executions{query}", headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and "must be one of" in error["message"]


def test_an_execution_is_running_while_claimed_and_says_when_it_ended(app, client, auth, worker, now):
    sid = _fired_one_time(app, client, auth, now)
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert detail["status"] == "COMPLETED" and detail["last_run"]["status"] == "PENDING"
    now(datetime(2025, 3, 1, 9, 0, 5, tzinfo=UTC))
    [task] = client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=worker).get_json()["tasks"]
    assert (task["execution"]["status"], task["execution"]["attempts"], task["started_at"]) == (
        "RUNNING",
        1,
        "2025-03-01T09:00:05Z",
    )
    assert task["execution"]["started_at"] == "2025-03-01T09:00:05Z"
    now(datetime(2025, 3, 1, 9, 1, 35, 500000, tzinfo=UTC))
    done = client.post(f"/aitp/tasks/{task['task_id']}/complete", json={"result_data": {"ok": 1}}, headers=worker)
    answer = done.get_json()
    assert (answer["finished_at"], answer["duration_seconds"]) == ("2025-03-01T09:01:35.500000Z", 90.5)
    assert (answer["execution"]["finished_at"], answer["execution"]["duration_seconds"]) == (
        "2025-03-01T09:01:35.500000Z",
        90.5,
    )
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert detail["last_run"] == {
        "execution_id": answer["execution"]["execution_id"],
        "scheduled_for": "2025-03-01T09:00:00Z",
        "status": "COMPLETED",
        "finished_at": "2025-03-01T09:01:35.500000Z",
        "error_message": None,
    }


def test_a_one_time_schedule_says_its_run_failed(app, client, auth, worker, now):
    sid = _fired_one_time(app, client, auth, now)
    _claim_and(client, worker, "fail", {"error_message": "disk full"})
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert (detail["status"], detail["last_run"]["status"], detail["last_run"]["error_message"]) == (
        "COMPLETED",
        "FAILED",
        "disk full",
    )
    [item] = client.get("/aitp/tasks/schedule?status=COMPLETED", headers=auth).get_json()["schedules"]
    assert item["last_run"]["status"] == "FAILED"
