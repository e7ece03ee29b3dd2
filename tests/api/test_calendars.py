"""Holiday calendars through the API, and the DST policy and holiday rule of schedules, fired by the dispatcher.

Reference dates (2026): 2026-12-24 is a Thursday, 2026-12-25 a Friday, 2026-12-28 a Monday; New York is on EST
(UTC-5) in December, so 09:00 there is 14:00Z. New York falls back on 2026-11-01 (02:00 EDT -> 01:00 EST), so
01:30 happens at 05:30Z (EDT) and 06:30Z (EST) that day.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Calendar, ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import dispatcher

WEEKDAYS = {
    "task_type": "report",
    "capability_required": "report-v1",
    "cron_expression": "0 9 * * MON-FRI",
    "timezone": "America/New_York",
}
ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
    "BEGIN:VEVENT\r\nUID:1@test\r\nDTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261226\r\nSUMMARY:Christmas\r\n"
    "END:VEVENT\r\nBEGIN:VEVENT\r\nUID:2@test\r\nDTSTART;VALUE=DATE:20270101\r\nSUMMARY:New Year\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)


def utc(text: str) -> datetime:
    """Parse an ISO string with Z."""
    return datetime.fromisoformat(text).astimezone(UTC)


def rows(app, model) -> int:
    """Count the rows of a table."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def calendar(client, headers, **body) -> dict:
    """Create a calendar; assert 201; return it."""
    response = client.post("/aitp/calendars", json={"name": "Holidays", **body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def schedule(client, headers, **changes) -> dict:
    """Create a schedule from WEEKDAYS with changes; assert 201; return it."""
    response = client.post("/aitp/tasks/schedule", json={**WEEKDAYS, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def fire(app, now: datetime) -> int:
    """Run the dispatcher once at `now`."""
    with app.app_context():
        return dispatcher.fire_due(now)


def executions(app, schedule_id: str) -> list[tuple[str, str, bool, str | None]]:
    """Return (scheduled_for, status, has a task, note) of a schedule's executions, oldest first."""
    with app.app_context():
        found = db.session.scalars(
            sa.select(ScheduleExecution)
            .where(ScheduleExecution.schedule_id == schedule_id)
            .order_by(ScheduleExecution.scheduled_for)
        )
        return [(e.scheduled_for.isoformat(), e.status, e.task_id is not None, e.error_message) for e in found]


# --- the calendar API -----------------------------------------------------------------------------------------------


def test_it_creates_a_calendar_from_dates_sorted_and_without_repeats(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-01T00:00:00Z"))
    body = calendar(client, auth, dates=["2026-12-25", "2026-11-26", "2026-12-25"])
    assert body["calendar_id"].startswith("cal-")
    assert body["dates"] == ["2026-11-26", "2026-12-25"]
    assert body["client_id"] == "client-1" and body["created_at"] == "2026-12-01T00:00:00Z"
    assert client.get(f"/aitp/calendars/{body['calendar_id']}", headers=auth).get_json() == body
    assert client.get("/aitp/calendars", headers=auth).get_json()["calendars"] == [body]


def test_it_imports_the_all_day_events_of_an_ics_file(client, auth):
    assert calendar(client, auth, ics=ICS)["dates"] == ["2026-12-25", "2027-01-01"]


@pytest.mark.parametrize(
    "body,field,reason",
    [
        ({"name": "x", "dates": ["2026-02-30"]}, "dates", "not a date"),
        ({"name": "x", "dates": ["tomorrow"]}, "dates", "YYYY-MM-DD"),
        ({"name": "x", "dates": ["2026-01-01"] * 1001}, "dates", "at most 1,000"),
        ({"name": "x", "ics": "BEGIN:VCALENDAR\r\nnonsense\r\nEND:VCALENDAR"}, "ics", "not valid iCalendar"),
        ({"name": "x", "ics": "hello"}, "ics", "BEGIN:VCALENDAR"),
        ({"name": "x", "dates": [], "ics": ICS}, "ics", "not both"),
        ({"name": "x"}, "dates", "Give dates"),
        ({"dates": []}, "name", "Missing required field"),
    ],
)
def test_bad_calendars_are_refused_and_change_nothing(app, client, auth, body, field, reason):
    response = client.post("/aitp/calendars", json=body, headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["field"] == field and reason in error["message"]
    assert rows(app, Calendar) == 0


def test_a_thousand_and_one_distinct_dates_are_refused(app, client, auth):
    many = [(datetime(2026, 1, 1) + timedelta(days=i)).date().isoformat() for i in range(1001)]
    response = client.post("/aitp/calendars", json={"name": "x", "dates": many}, headers=auth)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "dates"
    assert rows(app, Calendar) == 0


def test_another_clients_calendar_is_absent(client, auth, make_agent):
    other = make_agent("client-2")
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    for method, body in (("GET", None), ("PUT", {"name": "mine"}), ("DELETE", None)):
        response = client.open(f"/aitp/calendars/{cid}", method=method, json=body, headers=other)
        assert response.status_code == 404, method
    assert client.get("/aitp/calendars", headers=other).get_json()["calendars"] == []
    assert client.get(f"/aitp/calendars/{cid}", headers=auth).get_json()["name"] == "Holidays"


def test_a_calendar_in_use_cannot_be_deleted_until_its_schedules_are(app, client, auth):
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="SKIP")["schedule_id"]
    refused = client.delete(f"/aitp/calendars/{cid}", headers=auth)
    assert refused.status_code == 409 and sid in refused.get_json()["error"]["message"]
    assert rows(app, Calendar) == 1
    assert client.delete(f"/aitp/tasks/schedule/{sid}", headers=auth).status_code == 200
    assert client.delete(f"/aitp/calendars/{cid}", headers=auth).get_json() == {"calendar_id": cid, "deleted": True}
    assert rows(app, Calendar) == 0
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["calendar_id"] is None


# --- schedules with a policy ----------------------------------------------------------------------------------------


def test_a_schedule_shows_its_policy_with_the_defaults(client, auth):
    body = schedule(client, auth)
    assert (body["dst_gap"], body["dst_repeat"], body["calendar_id"], body["holiday_rule"]) == (
        "SHIFT",
        "FIRST",
        None,
        None,
    )


@pytest.mark.parametrize(
    "changes,field,reason",
    [
        ({"cron_expression": "*/15 * * * *", "dst_gap": "SKIP"}, "dst_gap", "fixed-time schedules only"),
        ({"cron_expression": "0 * * * *", "dst_repeat": "BOTH"}, "dst_repeat", "follows real elapsed time"),
        ({"dst_repeat": "TWICE"}, "dst_repeat", "must be one of"),
        ({"holiday_rule": "SOMETIMES"}, "holiday_rule", "must be one of"),
        ({"calendar_id": "cal-" + "0" * 32, "holiday_rule": "SKIP"}, "calendar_id", "Unknown calendar_id"),
        ({"cron_expression": None, "run_at": "2099-01-01T00:00:00Z", "holiday_rule": "SKIP"}, "holiday_rule", "run_at"),
    ],
)
def test_a_policy_that_cannot_apply_is_refused(app, client, auth, changes, field, reason):
    body = {k: v for k, v in {**WEEKDAYS, **changes}.items() if v is not None}
    response = client.post("/aitp/tasks/schedule", json=body, headers=auth)
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert error["field"] == field and reason in error["message"]
    assert rows(app, ScheduledTask) == 0


def test_a_calendar_needs_a_rule_and_another_clients_calendar_is_unknown(app, client, auth, make_agent):
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    no_rule = client.post("/aitp/tasks/schedule", json={**WEEKDAYS, "calendar_id": cid}, headers=auth)
    assert no_rule.status_code == 400 and no_rule.get_json()["error"]["field"] == "holiday_rule"
    other = make_agent("client-2")
    theirs = client.post(
        "/aitp/tasks/schedule", json={**WEEKDAYS, "calendar_id": cid, "holiday_rule": "SKIP"}, headers=other
    )
    assert theirs.status_code == 400 and theirs.get_json()["error"]["field"] == "calendar_id"
    assert rows(app, ScheduledTask) == 0


def test_christmas_moves_to_monday_the_28th(client, auth, freeze_clock):
    """Weekdays at 09:00 New York, NEXT_BUSINESS_DAY, an imported holiday file: Friday's run moves to Monday."""
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, ics=ICS)["calendar_id"]
    body = schedule(client, auth, calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY")
    assert body["next_run_at"] == "2026-12-28T14:00:00Z"
    assert (body["calendar_id"], body["holiday_rule"]) == (cid, "NEXT_BUSINESS_DAY")


def test_editing_a_calendar_moves_the_next_run_of_its_schedules(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, dates=[])["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY")["schedule_id"]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-12-25T14:00:00Z"
    assert client.put(f"/aitp/calendars/{cid}", json={"dates": ["2026-12-25"]}, headers=auth).status_code == 200
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-12-28T14:00:00Z"
    assert client.put(f"/aitp/calendars/{cid}", json={"dates": []}, headers=auth).status_code == 200
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-12-25T14:00:00Z"


def test_a_put_of_the_rule_replans_the_next_run(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth)["schedule_id"]
    body = {"calendar_id": cid, "holiday_rule": "PREVIOUS_BUSINESS_DAY"}
    changed = client.put(f"/aitp/tasks/schedule/{sid}", json=body, headers=auth).get_json()
    assert changed["next_run_at"] == "2026-12-28T14:00:00Z"  # Friday's run moved to Thursday, which has passed
    body = {"holiday_rule": None, "calendar_id": None}
    assert client.put(f"/aitp/tasks/schedule/{sid}", json=body, headers=auth).get_json()["next_run_at"] == (
        "2026-12-25T14:00:00Z"
    )


def test_a_run_moved_back_into_the_past_is_recorded_skipped(app, client, auth, freeze_clock):
    # Friday 25 December, 10:00 New York: Monday 28 is a holiday, its run moves back to Friday 09:00, already past.
    freeze_clock(utc("2026-12-25T15:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-28"])["calendar_id"]
    sid = schedule(client, auth, cron_expression="0 9 * * MON", calendar_id=cid, holiday_rule="PREVIOUS_BUSINESS_DAY")[
        "schedule_id"
    ]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2027-01-04T14:00:00Z"
    [(at, status, has_task, note)] = executions(app, sid)
    assert (at, status, has_task) == ("2026-12-25T14:00:00+00:00", "SKIPPED", False)
    assert "Holiday" in note and "already passed" in note
    [recorded] = client.get(f"/aitp/tasks/schedule/{sid}/executions", headers=auth).get_json()["executions"]
    assert (recorded["reason"], recorded["trigger"]) == ("HOLIDAY", "SCHEDULE")


# --- the dispatcher -------------------------------------------------------------------------------------------------


def test_the_dispatcher_records_a_skipped_holiday_and_moves_on(app, client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="SKIP")["schedule_id"]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-12-25T14:00:00Z"
    assert fire(app, utc("2026-12-25T14:00:01Z")) == 0
    assert [e[:3] for e in executions(app, sid)] == [("2026-12-25T14:00:00+00:00", "SKIPPED", False)]
    assert rows(app, Task) == 0
    [skipped] = client.get(f"/aitp/tasks/schedule/{sid}/executions", headers=auth).get_json()["executions"]
    assert (skipped["status"], skipped["reason"], skipped["scheduled_for"]) == (
        "SKIPPED",
        "HOLIDAY",
        "2026-12-25T14:00:00Z",
    )
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-12-28T14:00:00Z"
    assert fire(app, utc("2026-12-28T14:00:01Z")) == 1
    assert executions(app, sid)[-1][:3] == ("2026-12-28T14:00:00+00:00", "PENDING", True)


def test_a_moved_run_fires_once_at_the_moved_instant(app, client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-24"])["calendar_id"]
    # Thursday 24 is a holiday; from Wednesday, its run moves back to Wednesday... already passed at 15:00Z on the
    # 24th, so start from Tuesday evening instead.
    freeze_clock(utc("2026-12-22T20:00:00Z"))
    body = schedule(client, auth, cron_expression="0 9 * * THU", calendar_id=cid, holiday_rule="PREVIOUS_BUSINESS_DAY")
    assert body["next_run_at"] == "2026-12-23T14:00:00Z"
    assert fire(app, utc("2026-12-23T14:00:00Z")) == 1
    assert fire(app, utc("2026-12-24T14:00:00Z")) == 0
    assert [e[:3] for e in executions(app, body["schedule_id"])] == [("2026-12-23T14:00:00+00:00", "PENDING", True)]
    after = client.get(f"/aitp/tasks/schedule/{body['schedule_id']}", headers=auth).get_json()
    assert after["next_run_at"] == "2026-12-31T14:00:00Z"


def test_dst_repeat_both_fires_at_both_readings(app, client, auth, freeze_clock):
    freeze_clock(utc("2026-10-31T12:00:00Z"))
    body = schedule(client, auth, cron_expression="30 1 * * *", dst_repeat="BOTH")
    sid = body["schedule_id"]
    assert body["next_run_at"] == "2026-11-01T05:30:00Z"
    assert fire(app, utc("2026-11-01T05:30:00Z")) == 1
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-11-01T06:30:00Z"
    assert fire(app, utc("2026-11-01T06:30:00Z")) == 1
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["next_run_at"] == "2026-11-02T06:30:00Z"


# --- the preview ----------------------------------------------------------------------------------------------------


def test_the_preview_marks_both_readings_and_moved_runs(client, auth):
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    body = {"cron_expression": "30 1 * * *", "timezone": "America/New_York", "start": "2026-10-31T12:00:00Z"}
    runs = client.post(
        "/aitp/tasks/schedule/preview", json={**body, "dst_repeat": "BOTH", "count": 3}, headers=auth
    ).get_json()["next_runs"]
    assert [(r["at"], r["note"]) for r in runs] == [
        ("2026-11-01T05:30:00Z", "first"),
        ("2026-11-01T06:30:00Z", "second"),
        ("2026-11-02T06:30:00Z", None),
    ]
    body = {**WEEKDAYS, "start": "2026-12-24T15:00:00Z", "count": 2, "calendar_id": cid, "holiday_rule": "SKIP"}
    body.pop("task_type"), body.pop("capability_required")
    runs = client.post("/aitp/tasks/schedule/preview", json=body, headers=auth).get_json()["next_runs"]
    assert [(r["at"], r["holiday"], r["fires"]) for r in runs] == [
        ("2026-12-25T14:00:00Z", "holiday", False),
        ("2026-12-28T14:00:00Z", None, True),
    ]


# --- the effect of a change, before it is saved ---------------------------------------------------------------------


def test_preview_change_shows_the_runs_before_and_after_and_saves_nothing(app, client, auth, freeze_clock):
    freeze_clock(utc("2026-12-21T20:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth)["schedule_id"]
    stored = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    body = {"calendar_id": cid, "holiday_rule": "NEXT_BUSINESS_DAY"}
    answer = client.post(f"/aitp/tasks/schedule/{sid}/preview-change", json=body, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    result = answer.get_json()
    assert len(result["before"]) == len(result["after"]) == 20
    assert [r["at"] for r in result["removed"]] == ["2026-12-25T14:00:00Z"]
    assert result["added"] == []  # Christmas folds into Monday's run, which was there already
    monday = next(r for r in result["after"] if r["at"] == "2026-12-28T14:00:00Z")
    assert (monday["holiday"], monday["nominal"]) == ("moved", "2026-12-25T14:00:00Z")
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json() == stored
    assert rows(app, ScheduleExecution) == 0


def test_preview_change_lists_runs_added_by_a_new_time(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-21T20:00:00Z"))
    sid = schedule(client, auth)["schedule_id"]
    body = {"cron_expression": "0 9,17 * * MON-FRI"}
    result = client.post(f"/aitp/tasks/schedule/{sid}/preview-change", json=body, headers=auth).get_json()
    assert result["removed"] == []
    assert [r["at"] for r in result["added"]][:2] == ["2026-12-21T22:00:00Z", "2026-12-22T22:00:00Z"]
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["cron_expression"] == "0 9 * * MON-FRI"


@pytest.mark.parametrize(
    "body,after,removed",
    [
        ({"start_at": "2026-12-28T00:00:00Z"}, "2026-12-28T14:00:00Z", 4),  # Tue 22nd to Fri 25th go
        (
            {"end_at": "2026-12-24T23:00:00Z"},
            ["2026-12-22T14:00:00Z", "2026-12-23T14:00:00Z", "2026-12-24T14:00:00Z"],
            17,
        ),
        ({"max_runs": 2}, ["2026-12-22T14:00:00Z", "2026-12-23T14:00:00Z"], 18),
    ],
)
def test_preview_change_keeps_the_new_bounds_and_run_limit(client, auth, freeze_clock, body, after, removed):
    freeze_clock(utc("2026-12-21T20:00:00Z"))
    sid = schedule(client, auth)["schedule_id"]
    stored = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    result = client.post(f"/aitp/tasks/schedule/{sid}/preview-change", json=body, headers=auth).get_json()
    listed = [r["at"] for r in result["after"]]
    assert (listed[0] == after) if isinstance(after, str) else (listed == after)
    assert len(result["removed"]) == removed and result["added"] == []
    assert [r["at"] for r in result["before"]][:2] == ["2026-12-22T14:00:00Z", "2026-12-23T14:00:00Z"]
    upcoming = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=20", headers=auth).get_json()["upcoming"]
    assert [r["scheduled_for"] for r in upcoming] == [r["at"] for r in result["before"]]  # the same runs
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json() == stored


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({"dst_gap": "SKIP", "cron_expression": "*/5 * * * *"}, 400, "dst_gap"),
        ({"bogus": 1}, 400, "bogus"),
        ({"calendar_id": "cal-" + "0" * 32, "holiday_rule": "SKIP"}, 400, "calendar_id"),
    ],
)
def test_preview_change_refuses_what_put_refuses(client, auth, body, status, field):
    sid = schedule(client, auth)["schedule_id"]
    answer = client.post(f"/aitp/tasks/schedule/{sid}/preview-change", json=body, headers=auth)
    assert answer.status_code == status and answer.get_json()["error"]["field"] == field
    assert client.put(f"/aitp/tasks/schedule/{sid}", json=body, headers=auth).status_code == status


def test_preview_change_of_a_pause_empties_the_after_list(client, auth):
    sid = schedule(client, auth)["schedule_id"]
    result = client.post(
        f"/aitp/tasks/schedule/{sid}/preview-change", json={"status": "PAUSED"}, headers=auth
    ).get_json()
    assert result["after"] == [] and len(result["removed"]) == 20
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["status"] == "ACTIVE"


# --- upcoming -------------------------------------------------------------------------------------------------------


def test_upcoming_shows_christmas_moved_to_the_28th(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, ics=ICS)["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY")["schedule_id"]
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=3", headers=auth).get_json()["upcoming"]
    assert [(r["scheduled_for"], r["local"], r["note"], r["nominal"]) for r in runs] == [
        ("2026-12-28T14:00:00Z", "2026-12-28T09:00:00-05:00", "moved", "2026-12-25T14:00:00Z"),
        ("2026-12-29T14:00:00Z", "2026-12-29T09:00:00-05:00", None, "2026-12-29T14:00:00Z"),
        ("2026-12-30T14:00:00Z", "2026-12-30T09:00:00-05:00", None, "2026-12-30T14:00:00Z"),
    ]


def test_upcoming_marks_holiday_skips_and_both_readings(client, auth, freeze_clock):
    freeze_clock(utc("2026-12-24T15:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="SKIP")["schedule_id"]
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=2", headers=auth).get_json()["upcoming"]
    assert [(r["scheduled_for"], r["note"], r["holiday"]) for r in runs] == [
        ("2026-12-25T14:00:00Z", "holiday", "holiday"),
        ("2026-12-28T14:00:00Z", None, None),
    ]
    freeze_clock(utc("2026-10-31T12:00:00Z"))
    sid = schedule(client, auth, cron_expression="30 1 * * *", dst_repeat="BOTH")["schedule_id"]
    runs = client.get(f"/aitp/tasks/schedule/{sid}/upcoming?count=3", headers=auth).get_json()["upcoming"]
    assert [(r["scheduled_for"], r["note"]) for r in runs] == [
        ("2026-11-01T05:30:00Z", "first"),
        ("2026-11-01T06:30:00Z", "second"),
        ("2026-11-02T06:30:00Z", None),
    ]


def test_backfill_fires_the_moved_runs_not_the_holidays(app, client, auth, freeze_clock):
    freeze_clock(utc("2026-12-20T12:00:00Z"))
    cid = calendar(client, auth, dates=["2026-12-25"])["calendar_id"]
    sid = schedule(client, auth, calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY")["schedule_id"]
    freeze_clock(utc("2027-01-02T12:00:00Z"))
    body = {"start": "2026-12-24T00:00:00Z", "end": "2026-12-30T00:00:00Z", "dry_run": True}
    answer = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=body, headers=auth).get_json()
    assert [o["scheduled_for"] for o in answer["occurrences"]] == [
        "2026-12-24T14:00:00Z",
        "2026-12-28T14:00:00Z",
        "2026-12-29T14:00:00Z",
    ]
