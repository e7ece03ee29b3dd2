"""Holiday calendars in the dashboard, the DST and holiday fields of the forms, and an edit's effect shown live.

Reference dates: 2026-12-25 is a Friday and 2026-12-28 a Monday; New York falls back on 2026-11-01, so 01:30
happens twice that night (EDT, then EST).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from tests.dashboard_helpers import Dashboard
from webapp.auth import OPERATOR
from webapp.extensions import db
from webapp.models import Calendar
from webapp.scheduling import calendar_store

ICS = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:1@test\r\n"
    "DTSTART;VALUE=DATE:20261225\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client with one agent."""
    dashboard = Dashboard(app, client).sign_in()
    dashboard.agent("client-1")
    return dashboard


def stored(app) -> list[Calendar]:
    """Return the stored calendars."""
    with app.app_context():
        return list(db.session.scalars(sa.select(Calendar)))


def make_calendar(app, dates: list[str]) -> str:
    """Create a calendar for client-1 through the service; return its id."""
    with app.app_context():
        return calendar_store.create_calendar(
            OPERATOR, {"client_id": "client-1", "name": "Holidays", "dates": dates}
        ).calendar_id


def test_an_operator_creates_a_calendar_from_typed_dates(app, ui):
    page = ui.get("/calendars").get_data(as_text=True)
    assert 'name="dates"' in page and 'name="ics_file"' in page and "Calendars</a>" in page
    data = {"client_id": "client-1", "name": "Office", "dates": "2026-12-25, 2026-12-24\n2027-01-01"}
    response = ui.post("/calendars", data)
    assert response.status_code == 302
    [created] = stored(app)
    assert created.dates == ["2026-12-24", "2026-12-25", "2027-01-01"] and created.name == "Office"
    detail = ui.get(response.headers["Location"]).get_data(as_text=True)
    assert detail.count('class="holiday') == 3  # two dates in the 2026 view, one in 2027
    assert 'title="2026-12-25: holiday"' in detail and '<h3 id="year-2027">2027' in detail


def test_an_operator_imports_an_ics_file(app, ui):
    data = {"client_id": "client-1", "name": "Imported", "dates": "", "ics_file": (io.BytesIO(ICS.encode()), "h.ics")}
    response = ui.post("/calendars", data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert stored(app)[0].dates == ["2026-12-25"]


@pytest.mark.parametrize(
    "data,reason",
    [
        ({"dates": "2026-02-30"}, "not a date"),
        ({"dates": "", "ics_file": (io.BytesIO(b"not a calendar"), "x.ics")}, "BEGIN:VCALENDAR"),
    ],
)
def test_bad_dates_or_files_show_the_reason_and_save_nothing(app, ui, data, reason):
    response = ui.post(
        "/calendars", {"client_id": "client-1", "name": "Bad", **data}, content_type="multipart/form-data"
    )
    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)
    assert stored(app) == []


def test_an_operator_edits_the_dates_and_the_schedules_plan_again(app, ui, freeze_clock):
    freeze_clock(datetime(2026, 12, 24, 15, tzinfo=UTC))
    cid = make_calendar(app, [])
    sid = ui.schedule(
        cron_expression="0 9 * * 1-5", timezone="America/New_York", calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY"
    )
    assert ui.stored(sid).next_run_at == datetime(2026, 12, 25, 14, tzinfo=UTC)
    response = ui.post(f"/calendars/{cid}", {"name": "Holidays", "dates": "2026-12-25"})
    assert response.status_code == 302
    assert ui.stored(sid).next_run_at == datetime(2026, 12, 28, 14, tzinfo=UTC)
    page = ui.get(f"/calendars/{cid}").get_data(as_text=True)
    assert sid in page and "disabled" in page.split("Delete calendar")[0][-200:]


def test_a_calendar_in_use_is_not_deleted(app, ui):
    cid = make_calendar(app, ["2026-12-25"])
    ui.schedule(calendar_id=cid, holiday_rule="SKIP")
    response = ui.post(f"/calendars/{cid}/delete", follow_redirects=True)
    assert "is used by 1 schedule" in response.get_data(as_text=True)
    assert len(stored(app)) == 1
    free = make_calendar(app, [])
    assert ui.post(f"/calendars/{free}/delete").status_code == 302
    assert [c.calendar_id for c in stored(app)] == [cid]


def test_the_preview_page_marks_both_readings_of_a_repeated_time(ui):
    args = {
        "cron_expression": "30 1 * * *",
        "timezone": "America/New_York",
        "start": "2026-10-31T12:00",
        "dst_repeat": "BOTH",
        "count": "3",
    }
    html = ui.get("/preview?" + urlencode(args), htmx=True).get_data(as_text=True)
    assert 'class="dst dst-first"' in html and 'class="dst dst-second"' in html
    assert "Sun 1 Nov 2026, 01:30 EDT" in html and "Sun 1 Nov 2026, 01:30 EST" in html


def test_the_preview_page_marks_a_moved_run(app, ui):
    cid = make_calendar(app, ["2026-12-25"])
    args = {
        "cron_expression": "0 9 * * 1-5",
        "timezone": "America/New_York",
        "start": "2026-12-24T10:00",
        "count": "2",
        "calendar_id": cid,
        "holiday_rule": "NEXT_BUSINESS_DAY",
    }
    html = ui.get("/preview?" + urlencode(args), htmx=True).get_data(as_text=True)
    assert "moved from Fri 25 Dec 2026, 09:00 EST" in html
    assert '<span class="tag tag-moved"' in html


def test_the_schedule_form_saves_the_policy_fields(app, ui):
    cid = make_calendar(app, ["2026-12-25"])
    page = ui.get("/schedules/new").get_data(as_text=True)
    for name in ("dst_gap", "dst_repeat", "holiday_rule", "calendar_id"):
        assert f'name="{name}"' in page, name
    data = {
        "client_id": "client-1",
        "task_type": "report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "daily",
        "at_time": "01:30",
        "weekday": "MON",
        "monthday": "1",
        "timezone": "America/New_York",
        "input_data": "{}",
        "dst_gap": "SKIP",
        "dst_repeat": "BOTH",
        "holiday_rule": "SKIP",
        "calendar_id": cid,
    }
    response = ui.post("/schedules/new", data)
    assert response.status_code == 302, response.get_data(as_text=True)
    sid = response.headers["Location"].rsplit("/", 1)[1]
    saved = ui.stored(sid)
    assert (saved.dst_gap, saved.dst_repeat, saved.holiday_rule, saved.calendar_id) == ("SKIP", "BOTH", "SKIP", cid)
    edit = ui.get(f"/schedules/{sid}/edit").get_data(as_text=True)
    assert '<option selected value="BOTH">' in edit and f'<option selected value="{cid}">' in edit


def test_an_interval_schedule_refuses_a_dst_policy_beside_the_field(app, ui):
    data = {
        "client_id": "client-1",
        "task_type": "report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "custom",
        "cron_expression": "*/15 * * * *",
        "timezone": "UTC",
        "input_data": "{}",
        "dst_repeat": "BOTH",
    }
    response = ui.post("/schedules/new", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert re.search(r'id="dst_repeat-error">[^<]*fixed-time schedules only', html)


def test_the_edit_form_shows_what_a_change_adds_and_removes(app, ui, freeze_clock):
    freeze_clock(datetime(2026, 12, 21, 20, tzinfo=UTC))
    cid = make_calendar(app, ["2026-12-25"])
    sid = ui.schedule(cron_expression="0 9 * * 1-5", timezone="America/New_York")
    page = ui.get(f"/schedules/{sid}/edit").get_data(as_text=True)
    assert f'hx-post="/schedules/{sid}/effect"' in page
    data = {
        "task_type": "generate-report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "weekdays",
        "at_time": "09:00",
        "weekday": "MON",
        "monthday": "1",
        "timezone": "America/New_York",
        "input_data": "{}",
        "dst_gap": "SHIFT",
        "dst_repeat": "FIRST",
        "holiday_rule": "SKIP",
        "calendar_id": cid,
    }
    html = ui.post(f"/schedules/{sid}/effect", data, htmx=True).get_data(as_text=True)
    assert "0 runs added, 1 removed" in html
    assert '<li class="removed">' in html and "Fri 25 Dec 2026, 09:00 EST" in html
    assert ui.stored(sid).holiday_rule is None  # nothing was saved
    unchanged = ui.post(f"/schedules/{sid}/effect", {**data, "holiday_rule": "", "calendar_id": ""}, htmx=True)
    assert "Nothing changed yet" in unchanged.get_data(as_text=True)


def test_the_detail_page_says_what_daylight_saving_and_holidays_do(app, ui):
    cid = make_calendar(app, ["2026-12-25"])
    sid = ui.schedule(
        cron_expression="30 1 * * *", dst_repeat="BOTH", calendar_id=cid, holiday_rule="NEXT_BUSINESS_DAY"
    )
    html = ui.get(f"/schedules/{sid}").get_data(as_text=True)
    assert "a time the autumn change repeats runs at both (BOTH)" in html
    assert "Moves its runs to the next business day from Saturdays and Sundays and the 1 date of Holidays" in html
    assert f"/calendars/{cid}" in html and "dst_repeat=BOTH" in html
    interval = ui.schedule(cron_expression="*/15 * * * *")
    html = ui.get(f"/schedules/{interval}").get_data(as_text=True)
    assert "Follows real elapsed time" in html and "Runs on any day" in html
