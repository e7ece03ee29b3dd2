"""The /aitp schedule endpoints: shapes of the original design, paging, ownership, state rules."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, new_id
from webapp.scheduling import counts, dispatcher

# The original design's example: created 2025-11-28T02:45Z, 9 AM New York = 14:00Z the next day.
FROZEN = datetime(2025, 11, 28, 2, 45, tzinfo=UTC)

DAILY_REPORT = {
    "client_id": "client-1",
    "task_type": "daily-report",
    "capability_required": "report-v1",
    "input_data": {"report_type": "sales"},
    "priority": 7,
    "cron_expression": "0 9 * * *",
    "description": "Daily sales report at 9 AM every day",
    "timezone": "America/New_York",
}


@pytest.fixture
def frozen(freeze_clock):
    """Freeze the service clock at FROZEN; return a setter to move it."""
    freeze_clock(FROZEN)
    return freeze_clock


def _create(client, headers, **changes) -> dict:
    """Create a schedule from DAILY_REPORT with changes; assert 201; return the body."""
    body = {**DAILY_REPORT, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/aitp/tasks/schedule", json=body, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _count(app, model=ScheduledTask) -> int:
    """Return the number of rows of a table."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_it_creates_a_schedule_with_the_design_response(client, auth, frozen, app):
    body = _create(client, auth)
    assert body["schedule_id"].startswith("sched-") and len(body["schedule_id"]) == len("sched-") + 32
    assert body["status"] == "ACTIVE"
    assert body["cron_expression"] == "0 9 * * *"
    assert body["next_run_at"] == "2025-11-28T14:00:00Z"
    assert body["description"] == "Daily sales report at 9 AM every day"
    assert body["created_at"] == "2025-11-28T02:45:00Z"
    assert body["timezone"] == "America/New_York"
    assert body["run_at"] is None
    with app.app_context():
        row = db.session.get(ScheduledTask, body["schedule_id"])
        assert row.client_id == "client-1" and row.priority == 7 and row.input_data == {"report_type": "sales"}


def test_it_defaults_client_id_to_the_caller(client, auth, frozen):
    body = _create(client, auth, client_id=None, priority=None, timezone=None)
    detail = client.get(f"/aitp/tasks/schedule/{body['schedule_id']}", headers=auth).get_json()
    assert detail["client_id"] == "client-1"
    assert detail["priority"] == 5
    assert detail["timezone"] == "UTC"
    assert detail["next_run_at"] == "2025-11-28T09:00:00Z"


def test_it_reads_a_naive_run_at_in_the_schedule_timezone(client, auth, frozen):
    body = _create(client, auth, cron_expression=None, run_at="2025-12-01T09:30:00")
    assert body["run_at"] == "2025-12-01T14:30:00Z"
    assert body["next_run_at"] == "2025-12-01T14:30:00Z"
    assert body["cron_expression"] is None


LONG_JSON = {"blob": "x" * (64 * 1024)}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"task_type": None}, "task_type"),
        ({"capability_required": None}, "capability_required"),
        ({"colour": "red"}, "colour"),
        ({"priority": "high"}, "priority"),
        ({"priority": 0}, "priority"),
        ({"priority": 11}, "priority"),
        ({"priority": True}, "priority"),
        ({"priority": 5.5}, "priority"),
        ({"task_type": 5}, "task_type"),
        ({"input_data": ["a"]}, "input_data"),
        ({"input_data": "text"}, "input_data"),
        ({"input_data": LONG_JSON}, "input_data"),
        ({"cron_expression": "61 * * * *"}, "cron_expression"),
        ({"cron_expression": "0 9 * *"}, "cron_expression"),
        ({"cron_expression": "not a cron"}, "cron_expression"),
        ({"cron_expression": ""}, "cron_expression"),
        ({"cron_expression": 5}, "cron_expression"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"run_at": "2025-11-27T09:00:00Z", "cron_expression": None}, "run_at"),
        ({"run_at": "tomorrow", "cron_expression": None}, "run_at"),
        ({"run_at": "2025-12-01T09:00:00Z"}, "cron_expression"),
        ({"cron_expression": None}, "cron_expression"),
        ({"client_id": "client-2"}, "client_id"),
        ({"description": 12}, "description"),
    ],
)
def test_it_refuses_a_bad_create_and_stores_nothing(client, auth, frozen, app, make_agent, changes, field):
    make_agent("client-2")
    body = {**DAILY_REPORT, **changes}
    body = {k: v for k, v in body.items() if v is not None or k not in changes}
    for key, value in changes.items():
        if value is None and key in ("task_type", "capability_required", "cron_expression"):
            body.pop(key, None)
    response = client.post("/aitp/tasks/schedule", json=body, headers=auth)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert error["message"]
    assert _count(app) == 0


def test_it_refuses_malformed_json(client, auth, app):
    response = client.post("/aitp/tasks/schedule", data='{"task_type": ', content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_json"
    assert _count(app) == 0


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null"])
def test_it_refuses_json_that_is_not_an_object(client, auth, app, body):
    response = client.post("/aitp/tasks/schedule", data=body, content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert _count(app) == 0


def test_it_refuses_a_body_that_is_not_json(client, auth, app):
    response = client.post("/aitp/tasks/schedule", data={"task_type": "x"}, headers=auth)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"
    assert _count(app) == 0


def test_it_refuses_a_body_over_one_mebibyte(client, auth, app):
    payload = '{"task_type": "' + "x" * (1024 * 1024 + 10) + '"}'
    response = client.post("/aitp/tasks/schedule", data=payload, content_type="application/json", headers=auth)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _count(app) == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
def test_it_answers_401_without_a_valid_key(client, app, headers):
    response = client.post("/aitp/tasks/schedule", json=DAILY_REPORT, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert client.get("/aitp/tasks/schedule", headers=headers).status_code == 401
    assert _count(app) == 0


def test_another_agents_schedule_is_absent(client, auth, make_agent, frozen, app):
    other = make_agent("client-2")
    sid = _create(client, auth)["schedule_id"]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=other).status_code == 404
    assert client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 1}, headers=other).status_code == 404
    assert client.delete(f"/aitp/tasks/schedule/{sid}", headers=other).status_code == 404
    assert client.get(f"/aitp/tasks/schedule/{sid}/executions", headers=other).status_code == 404
    listing = client.get("/aitp/tasks/schedule", headers=other).get_json()
    assert listing["total"] == 0 and listing["schedules"] == []
    listing = client.get("/aitp/tasks/schedule?client_id=client-1", headers=other).get_json()
    assert listing["total"] == 0
    with app.app_context():
        row = db.session.get(ScheduledTask, sid)
        assert row.priority == 7 and row.status == "ACTIVE"


def test_an_admin_sees_and_creates_for_every_client(client, auth, make_agent, frozen):
    admin = make_agent("ops", admin=True)
    sid = _create(client, auth)["schedule_id"]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=admin).status_code == 200
    created = _create(client, admin, client_id="client-1")
    assert client.get(f"/aitp/tasks/schedule/{created['schedule_id']}", headers=auth).status_code == 200
    response = client.post("/aitp/tasks/schedule", json={**DAILY_REPORT, "client_id": "ghost"}, headers=admin)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "client_id"


def test_it_lists_newest_first_with_paging_and_filters(client, auth, frozen):
    ids = []
    for minute in range(5):
        frozen(FROZEN + timedelta(minutes=minute))
        ids.append(_create(client, auth, description=f"n{minute}")["schedule_id"])
    page = client.get("/aitp/tasks/schedule?limit=2&offset=1", headers=auth).get_json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [s["schedule_id"] for s in page["schedules"]] == [ids[3], ids[2]]
    first = page["schedules"][0]
    for key in ("task_type", "status", "cron_expression", "next_run_at", "last_run_at", "total_runs", "failed_runs"):
        assert key in first
    client.put(f"/aitp/tasks/schedule/{ids[0]}", json={"status": "PAUSED"}, headers=auth)
    client.delete(f"/aitp/tasks/schedule/{ids[1]}", headers=auth)
    paused = client.get("/aitp/tasks/schedule?status=PAUSED", headers=auth).get_json()
    assert [s["schedule_id"] for s in paused["schedules"]] == [ids[0]]
    everything = client.get("/aitp/tasks/schedule", headers=auth).get_json()
    assert everything["total"] == 4 and ids[1] not in [s["schedule_id"] for s in everything["schedules"]]
    deleted = client.get("/aitp/tasks/schedule?status=DELETED", headers=auth).get_json()
    assert [s["schedule_id"] for s in deleted["schedules"]] == [ids[1]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("status=BOGUS", "status"),
    ],
)
def test_it_refuses_bad_list_parameters(client, auth, query, field):
    response = client.get(f"/aitp/tasks/schedule?{query}", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_get_returns_every_field(client, auth, frozen):
    sid = _create(client, auth)["schedule_id"]
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    expected = {
        "schedule_id": sid,
        "client_id": "client-1",
        "task_type": "daily-report",
        "capability_required": "report-v1",
        "input_data": {"report_type": "sales"},
        "priority": 7,
        "cron_expression": "0 9 * * *",
        "status": "ACTIVE",
        "next_run_at": "2025-11-28T14:00:00Z",
        "last_run_at": None,
        "total_runs": 0,
        "failed_runs": 0,
        "description": "Daily sales report at 9 AM every day",
        "created_at": "2025-11-28T02:45:00Z",
        "updated_at": "2025-11-28T02:45:00Z",
        "timezone": "America/New_York",
        "run_at": None,
    }
    assert {k: detail[k] for k in expected} == expected
    assert client.get("/aitp/tasks/schedule/sched-missing", headers=auth).status_code == 404


def test_update_changes_editable_fields_and_recomputes_next_run(client, auth, frozen, app):
    sid = _create(client, auth)["schedule_id"]
    response = client.put(
        f"/aitp/tasks/schedule/{sid}", json={"cron_expression": "0 10 * * *", "priority": 8}, headers=auth
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["cron_expression"] == "0 10 * * *" and body["priority"] == 8
    assert body["next_run_at"] == "2025-11-28T15:00:00Z"
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"timezone": "Europe/London"}, headers=auth).get_json()
    assert body["next_run_at"] == "2025-11-28T10:00:00Z"
    body = client.put(
        f"/aitp/tasks/schedule/{sid}", json={"run_at": "2025-12-24T18:00:00+01:00"}, headers=auth
    ).get_json()
    assert body["cron_expression"] is None and body["run_at"] == "2025-12-24T17:00:00Z"
    assert body["next_run_at"] == "2025-12-24T17:00:00Z"
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"cron_expression": "@hourly"}, headers=auth).get_json()
    assert body["run_at"] is None and body["next_run_at"] == "2025-11-28T03:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"client_id": "client-9"}, "client_id"),
        ({"total_runs": 100}, "total_runs"),
        ({"next_run_at": "2030-01-01T00:00:00Z"}, "next_run_at"),
        ({"status": "DELETED"}, "status"),
        ({"status": "COMPLETED"}, "status"),
        ({"cron_expression": "61 * * * *"}, "cron_expression"),
        ({"timezone": "Nowhere/Land"}, "timezone"),
        ({"priority": 42}, "priority"),
        ({"cron_expression": "0 9 * * *", "run_at": "2026-01-01T00:00:00Z"}, "cron_expression"),
        ({}, None),
    ],
)
def test_update_refuses_other_fields_and_changes_nothing(client, auth, frozen, app, body, field):
    sid = _create(client, auth)["schedule_id"]
    response = client.put(f"/aitp/tasks/schedule/{sid}", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    with app.app_context():
        row = db.session.get(ScheduledTask, sid)
        assert (row.cron_expression, row.priority, row.timezone, row.status, row.total_runs) == (
            "0 9 * * *",
            7,
            "America/New_York",
            "ACTIVE",
            0,
        )
        assert row.next_run_at == datetime(2025, 11, 28, 14, 0, tzinfo=UTC)


def test_pause_then_resume_computes_from_now(client, auth, frozen):
    sid = _create(client, auth)["schedule_id"]
    paused = client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "PAUSED"}, headers=auth).get_json()
    assert paused["status"] == "PAUSED"
    frozen(datetime(2025, 12, 5, 20, 0, tzinfo=UTC))
    resumed = client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "ACTIVE"}, headers=auth).get_json()
    assert resumed["status"] == "ACTIVE"
    # 9 AM New York after 2025-12-05 15:00 local is the next morning.
    assert resumed["next_run_at"] == "2025-12-06T14:00:00Z"


def test_resuming_a_one_time_schedule_whose_instant_passed_is_a_conflict(client, auth, frozen):
    sid = _create(client, auth, cron_expression=None, run_at="2025-11-29T00:00:00Z")["schedule_id"]
    client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "PAUSED"}, headers=auth)
    frozen(datetime(2025, 11, 30, tzinfo=UTC))
    response = client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "ACTIVE"}, headers=auth)
    assert response.status_code == 409
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["status"] == "PAUSED"


def test_delete_is_soft_and_keeps_history(client, auth, frozen, app):
    sid = _create(client, auth)["schedule_id"]
    response = client.delete(f"/aitp/tasks/schedule/{sid}", headers=auth)
    assert response.status_code == 200
    assert response.get_json() == {
        "schedule_id": sid,
        "status": "DELETED",
        "message": "Schedule cancelled successfully",
    }
    detail = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert detail["status"] == "DELETED" and detail["next_run_at"] is None
    assert client.delete(f"/aitp/tasks/schedule/{sid}", headers=auth).status_code == 409
    response = client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 3}, headers=auth)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"
    assert client.get(f"/aitp/tasks/schedule/{sid}/executions", headers=auth).status_code == 200
    assert _count(app) == 1


def test_execution_history_pages_newest_first(client, auth, frozen, app):
    sid = _create(client, auth)["schedule_id"]
    with app.app_context():
        for day in range(7):
            db.session.add(
                ScheduleExecution(
                    execution_id=new_id("exec"),
                    schedule_id=sid,
                    task_id=None,
                    status="SKIPPED",
                    scheduled_for=datetime(2025, 12, 1 + day, 14, tzinfo=UTC),
                    executed_at=FROZEN,
                )
            )
        db.session.commit()
    page = client.get(f"/aitp/tasks/schedule/{sid}/executions?limit=3&offset=2", headers=auth).get_json()
    assert page["total"] == 7
    assert [e["scheduled_for"] for e in page["executions"]] == [
        "2025-12-05T14:00:00Z",
        "2025-12-04T14:00:00Z",
        "2025-12-03T14:00:00Z",
    ]
    keys = {"execution_id", "task_id", "scheduled_for", "executed_at", "status", "result_data", "error_message"}
    assert keys <= set(page["executions"][0])
    assert client.get(f"/aitp/tasks/schedule/{sid}/executions?limit=0", headers=auth).status_code == 400


def test_preview_describes_and_lists_runs_across_spring_forward(client, auth):
    response = client.post(
        "/aitp/tasks/schedule/preview",
        json={
            "cron_expression": "30 2 * * *",
            "timezone": "America/New_York",
            "start": "2025-03-08T00:00:00",
            "count": 3,
        },
        headers=auth,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert "02:30" in body["description"]
    assert [r["at"] for r in body["next_runs"]] == [
        "2025-03-08T07:30:00Z",
        "2025-03-09T07:00:00Z",
        "2025-03-10T06:30:00Z",
    ]
    assert body["next_runs"][1]["local"] == "2025-03-09T03:00:00-04:00"
    assert body["next_runs"][1]["note"] == "shifted"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cron_expression": "61 * * * *"}, "cron_expression"),
        ({"cron_expression": "* * *"}, "cron_expression"),
        ({"cron_expression": "0 9 * * *", "timezone": "Atlantis/Capital"}, "timezone"),
        ({"cron_expression": "0 9 * * *", "count": 51}, "count"),
        ({"cron_expression": "0 9 * * *", "count": 0}, "count"),
        ({"cron_expression": "0 9 * * *", "start": "soon"}, "start"),
        ({"timezone": "UTC"}, "cron_expression"),
    ],
)
def test_preview_refuses_bad_input(client, auth, body, field):
    response = client.post("/aitp/tasks/schedule/preview", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_a_cursor_continues_the_listing_where_the_last_page_ended(client, auth, frozen):
    ids = []
    for second in range(7):
        frozen(FROZEN + timedelta(seconds=second))
        ids.append(_create(client, auth)["schedule_id"])
    seen, cursor = [], None
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/aitp/tasks/schedule?{query}", headers=auth).get_json()
        assert page["total"] == 7
        seen += [s["schedule_id"] for s in page["schedules"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    response = client.get("/aitp/tasks/schedule?cursor=!!garbage!!", headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "cursor"


def test_totals_stay_exact_as_counts_are_folded(client, auth, make_agent, frozen, app, monkeypatch):
    monkeypatch.setattr(counts, "FOLD_THRESHOLD", 2)
    admin = make_agent("ops", admin=True)
    make_agent("client-2")
    ids = [_create(client, auth)["schedule_id"] for _ in range(4)]
    _create(client, admin, client_id="client-2")
    client.put(f"/aitp/tasks/schedule/{ids[0]}", json={"status": "PAUSED"}, headers=auth)
    client.delete(f"/aitp/tasks/schedule/{ids[1]}", headers=auth)

    def pending() -> int:
        """Count the deltas not yet folded."""
        with app.app_context():
            return db.session.scalar(sa.text("SELECT COUNT(*) FROM schedule_count_deltas"))

    waiting = pending()
    assert waiting > counts.FOLD_THRESHOLD
    for folded in (False, True):  # exact from the pending deltas, then from the folded counts
        assert client.get("/aitp/tasks/schedule", headers=auth).get_json()["total"] == 3
        assert client.get("/aitp/tasks/schedule?status=PAUSED", headers=auth).get_json()["total"] == 1
        assert client.get("/aitp/tasks/schedule?status=DELETED", headers=auth).get_json()["total"] == 1
        assert client.get("/aitp/tasks/schedule", headers=admin).get_json()["total"] == 4
        assert client.get("/aitp/tasks/schedule?client_id=client-2", headers=admin).get_json()["total"] == 1
        if not folded:
            assert pending() == waiting  # a GET never folds (it never writes)
            with app.app_context():
                dispatcher.tick(FROZEN)  # the tick's housekeeping folds them
            assert pending() == 0
    with app.app_context():
        real = db.session.scalar(sa.text("SELECT COUNT(*) FROM scheduled_tasks WHERE status = 'ACTIVE'"))
        folded = db.session.scalar(sa.text("SELECT SUM(n) FROM schedule_counts WHERE status = 'ACTIVE'"))
        assert real == folded == 3


def _set_status(app, sid: str, status: str) -> None:
    """Put a schedule in a state directly, as the dispatcher would."""
    with app.app_context():
        db.session.get(ScheduledTask, sid).status = status
        db.session.commit()


def test_a_completed_one_time_schedule_needs_a_new_instant(client, auth, frozen, app):
    sid = _create(client, auth, cron_expression=None, run_at="2025-11-29T00:00:00Z")["schedule_id"]
    _set_status(app, sid, "COMPLETED")
    for status in ("ACTIVE", "PAUSED"):
        response = client.put(f"/aitp/tasks/schedule/{sid}", json={"status": status}, headers=auth)
        assert response.status_code == 409
    # A timezone alone does not move an instant, nor revive the schedule.
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"timezone": "Asia/Tokyo"}, headers=auth).get_json()
    assert body["status"] == "COMPLETED" and body["run_at"] == "2025-11-29T00:00:00Z"
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"run_at": "2025-12-01T09:00:00"}, headers=auth).get_json()
    assert body["status"] == "ACTIVE"
    assert body["next_run_at"] == body["run_at"] == "2025-12-01T00:00:00Z"


def test_a_timezone_change_moves_a_cron_schedule_but_not_a_run_at(client, auth, frozen):
    sid = _create(client, auth, cron_expression=None, run_at="2025-12-01T12:00:00Z")["schedule_id"]
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"timezone": "Europe/Paris"}, headers=auth).get_json()
    assert body["next_run_at"] == "2025-12-01T12:00:00Z" and body["timezone"] == "Europe/Paris"
    sid = _create(client, auth, timezone="UTC")["schedule_id"]
    body = client.put(f"/aitp/tasks/schedule/{sid}", json={"timezone": "Asia/Kolkata"}, headers=auth).get_json()
    assert body["next_run_at"] == "2025-11-28T03:30:00Z"


def test_resume_with_a_new_timezone_computes_in_that_zone(client, auth, frozen):
    sid = _create(client, auth)["schedule_id"]
    client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "PAUSED"}, headers=auth)
    body = client.put(
        f"/aitp/tasks/schedule/{sid}", json={"status": "ACTIVE", "timezone": "Europe/London"}, headers=auth
    ).get_json()
    assert body["status"] == "ACTIVE" and body["next_run_at"] == "2025-11-28T09:00:00Z"


def test_pending_count_deltas_fold_once_past_the_threshold(client, auth, frozen, app, monkeypatch):
    monkeypatch.setattr(counts, "FOLD_THRESHOLD", 3)
    for _ in range(3):
        _create(client, auth)
    with app.app_context():
        assert counts.fold_if_due(db.session()) is False
    _create(client, auth)
    with app.app_context():
        assert counts.fold_if_due(db.session()) is True
        assert db.session.scalar(sa.text("SELECT COUNT(*) FROM schedule_count_deltas")) == 0
        assert counts.total(db.session(), "client-1", ["ACTIVE"]) == 4


def _chunked_post(client, headers, payload: bytes):
    """POST a body of unknown length, as a chunked upload reaches the app."""
    return client.post(
        "/aitp/tasks/schedule",
        input_stream=io.BytesIO(payload),
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_one_mebibyte_is_refused_not_truncated(client, auth, frozen, app):
    body = b'{"task_type": "t", "capability_required": "c", "cron_expression": "0 9 * * *"}'
    padded = body + b" " * (1024 * 1024 + 100)
    response = _chunked_post(client, auth, padded)
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"
    assert _count(app) == 0
    assert _chunked_post(client, auth, body).status_code == 201
    assert _count(app) == 1
