"""Daily use of the dashboard: search and sort, last results, unserved capabilities, keys, live history, words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from tests.dashboard_helpers import Dashboard, store_executions
from webapp import auth
from webapp.dashboard.edit import cheat_sheet, next_clock_change
from webapp.dashboard.timefmt import duration_text, plural, relative
from webapp.extensions import db
from webapp.models import Agent, ScheduledTask, ScheduleExecution
from webapp.scheduling import capabilities, dispatcher, schedules, tasks


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client with one agent, client-1, offering report-v1."""
    ui = Dashboard(app, client).sign_in()
    ui.agent("client-1")
    return ui


def row_ids(html: str) -> list[str]:
    """Return the schedule ids of the list's rows, in order."""
    return re.findall(r'<tr id="row-(sched-[0-9a-f]+)"', html)


def listing(ui: Dashboard, **args) -> str:
    """Return the list's table for these query arguments."""
    response = ui.get("/schedules?" + urlencode(args), htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


def test_search_finds_text_in_the_description_the_task_type_or_the_id(ui):
    sales = ui.schedule(description="Nightly SALES export", task_type="export-csv")
    audit = ui.schedule(description="Weekly audit", task_type="audit-trail")
    bare = ui.schedule(description=None, task_type="cleanup-sales")
    assert set(row_ids(listing(ui, q="sales"))) == {sales, bare}  # case does not matter
    assert row_ids(listing(ui, q="audit-tr")) == [audit]
    assert row_ids(listing(ui, q=audit[-10:])) == [audit]
    html = listing(ui, q="100%_")  # LIKE wildcards are searched for literally
    assert row_ids(html) == [] and "No schedules match" in html and "mentions “100%_”" in html


def test_sort_by_next_run_name_client_and_failures(ui):
    ui.agent("another")
    late = ui.schedule(description="b late", cron_expression="0 23 * * *", timezone="UTC")
    soon = ui.schedule(description="C soon", cron_expression="* * * * *", timezone="UTC", client_id="another")
    paused = ui.schedule(description="a paused")
    with ui.app.app_context():
        schedules.set_status(auth.OPERATOR, paused, "PAUSED")  # it will not fire: it sorts last
        stored = db.session.get(ScheduledTask, late)
        stored.failed_runs = 4
        db.session.commit()
    assert row_ids(listing(ui, sort="next_run")) == [soon, late, paused]
    assert row_ids(listing(ui, sort="name")) == [paused, late, soon]
    assert row_ids(listing(ui, sort="client"))[0] == soon
    assert row_ids(listing(ui, sort="failures"))[0] == late
    assert ui.get("/schedules?sort=colour").status_code == 400


def test_the_pager_keeps_the_search_and_the_order(ui):
    for i in range(22):
        ui.schedule(description=f"report {i:02d}")
    html = listing(ui, q="report", sort="name")
    assert re.search(r'href="/schedules\?[^"]*q=report[^"]*sort=name[^"]*offset=20"', html.replace("&amp;", "&"))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, 23),  # every schedule but the deleted one
        ({"client_id": "client-2"}, 2),
        ({"status": "PAUSED"}, 1),
        ({"status": "DELETED"}, 1),
        ({"client_id": "client-1", "status": "ACTIVE"}, 20),
        ({"q": "weekly"}, 3),  # a search is counted over the rows it matches
        ({"q": "weekly", "client_id": "client-2"}, 1),
    ],
)
def test_the_pager_counts_what_the_filters_and_the_search_match(ui, args, expected):
    ui.agent("client-2")
    ids = [ui.schedule(description=f"daily {i:02d}") for i in range(20)]
    ids += [ui.schedule(description=f"weekly {i}") for i in range(2)]
    ids += [ui.schedule(client_id="client-2", description=name) for name in ("weekly 2", "monthly")]
    with ui.app.app_context():
        schedules.set_status(auth.OPERATOR, ids[0], "PAUSED")
        schedules.delete_schedule(auth.OPERATOR, ids[1])
    total = "of " + str(expected) + "</span>"
    assert total in listing(ui, **args)


def test_last_result_column_shows_the_outcome_and_the_error_on_hover(ui):
    done = ui.schedule(description="done")
    broken = ui.schedule(description="broken")
    fresh = ui.schedule(description="fresh")
    store_executions(ui.app, done, ["FAILED", "COMPLETED", "SKIPPED"])
    store_executions(ui.app, broken, ["COMPLETED", "FAILED", "PENDING"])
    html = listing(ui)
    rows = {sid: html[html.index(f'id="row-{sid}"') :].split("</tr>")[0] for sid in (done, broken, fresh)}
    assert 'data-label="Last result"><span class="last-result"><span class="badge badge-completed">' in rows[done]
    assert 'title="boom"' in rows[broken] and "badge-failed" in rows[broken]
    assert "No result yet" in rows[fresh]


def test_a_schedule_whose_capability_nobody_offers_carries_a_warning(ui):
    served = ui.schedule(description="served", capability_required="report-v1")
    orphan = ui.schedule(description="orphan", capability_required="gpu-v9")
    html = listing(ui)
    assert "No worker offers <code>gpu-v9</code>" in html.split(f'id="row-{orphan}"')[1].split("</tr>")[0]
    assert "No worker offers" not in html.split(f'id="row-{served}"')[1].split("</tr>")[0]
    ui.agent("gpu-box", ["gpu-v9"])
    assert "No worker offers" not in listing(ui)


def test_unserved_counts_only_agents_whose_key_is_live(ui):
    ui.agent("gpu-box", ["gpu-v9"])
    with ui.app.app_context():
        assert capabilities.unserved(["gpu-v9", "report-v1", "nobody-v1"]) == {"nobody-v1"}
        auth.revoke_key("gpu-box")
        assert capabilities.unserved(["gpu-v9", "report-v1"]) == {"gpu-v9"}
        assert capabilities.is_served("report-v1") and not capabilities.is_served("gpu-v9")
        assert capabilities.unserved([]) == set()


def test_history_polls_every_two_seconds_only_while_a_run_is_going(ui):
    sid = ui.schedule()
    store_executions(ui.app, sid, ["COMPLETED", "PENDING"])
    tag = re.search(r'<section id="history"[^>]*>', ui.get(f"/schedules/{sid}").get_data(as_text=True)).group(0)
    assert 'hx-trigger="every 2s"' in tag
    store_executions(ui.app, sid, [])
    with ui.app.app_context():
        db.session.query(ScheduleExecution).filter_by(status="PENDING").update({"status": "COMPLETED"})
        db.session.commit()
    html = ui.get(f"/schedules/{sid}/history", htmx=True).get_data(as_text=True)
    assert "hx-trigger" not in re.search(r'<section id="history"[^>]*>', html).group(0)


def test_the_history_poll_brings_the_panel_counts_up_to_date(ui):
    sid = ui.schedule(pause_after_failures=3)
    worker = auth.Caller("client-1", False)
    with ui.app.app_context():
        dispatcher.run_now(auth.OPERATOR, sid)
        [task] = tasks.claim(worker, {"capabilities": ["report-v1"]})
    page = ui.get(f"/schedules/{sid}").get_data(as_text=True)
    assert "1 total, none failed" in page and 'hx-swap-oob="true"' not in fields_of(page)
    with ui.app.app_context():
        tasks.fail(worker, task.task_id, {"error_message": "boom", "retry": False})
    polled = ui.get(f"/schedules/{sid}/history", htmx=True).get_data(as_text=True)
    fields = fields_of(polled)
    assert 'hx-swap-oob="true"' in fields  # swapped into the panel beside the history
    assert '1 total, <span class="failed-count">1 failed</span>' in fields
    assert "(pauses itself at 3)" in fields and '<span class="failed-count">1</span>' in fields


def fields_of(html: str) -> str:
    """Return the schedule's field list of a page or a partial."""
    return html[html.index('<dl class="fields" id="schedule-fields"') :].split("</dl>")[0]


def test_counts_are_written_in_the_right_number(ui):
    sid = ui.schedule()
    store_executions(ui.app, sid, ["COMPLETED"])
    html = ui.get(f"/schedules/{sid}").get_data(as_text=True)
    assert "last 1 run," in html and "last 1 runs" not in html
    assert plural(1, "run") == "1 run" and plural(2, "run") == "2 runs" and plural(1_000, "day") == "1,000 days"


@pytest.mark.parametrize(
    ("ago", "text"),
    [
        (timedelta(days=1), "24 h ago"),
        (timedelta(days=30), "30 days ago"),
        (timedelta(days=75), "2 months ago"),
        (timedelta(days=400), "1 year ago"),
        (timedelta(days=4 * 365), "4 years ago"),
    ],
)
def test_relative_times_use_years_past_a_year(ago, text):
    now = datetime(2026, 6, 1, tzinfo=UTC)
    assert relative(now - ago, now) == text
    assert relative(now + ago, now) == "in " + text.removesuffix(" ago")


def test_a_past_one_time_instant_says_this_time_has_passed(ui):
    html = ui.get("/preview?" + urlencode({"kind": "once", "run_at": "2001-01-01T10:00"}), htmx=True)
    text = html.get_data(as_text=True)
    assert "This time has passed." in text and "Cannot preview" not in text


def test_the_preview_table_names_utc_once_when_the_zone_is_utc(ui):
    utc = ui.get("/preview?cron_expression=0+9+*+*+*&timezone=UTC", htmx=True).get_data(as_text=True)
    assert '<th scope="col">UTC</th>' not in utc and 'class="utc"' not in utc
    paris = ui.get("/preview?cron_expression=0+9+*+*+*&timezone=Europe/Paris", htmx=True).get_data(as_text=True)
    assert '<th scope="col">UTC</th>' in paris and paris.count('class="utc"') == 8


def test_cheat_sheet_examples_start_just_before_the_next_clock_change():
    now = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    assert next_clock_change("America/New_York", 3, now).isoformat() == "2027-03-14"
    assert next_clock_change("America/New_York", 11, now).isoformat() == "2027-11-07"
    starts = {e["cron_expression"]: e["start"] for e in cheat_sheet(now)}
    assert starts["30 2 * * *"] == "2027-03-12T00:00" and starts["30 1 * * *"] == "2027-11-05T00:00"
    assert starts["@hourly"] is None


def test_the_preview_page_links_examples_in_the_future(ui):
    html = ui.get("/preview").get_data(as_text=True)
    starts = re.findall(r"start=(\d{4}-\d\d-\d\d)T", html)
    assert len(starts) == 2 and all(s > datetime.now(UTC).date().isoformat() for s in starts)


def test_rotate_shows_the_new_key_once_and_the_old_one_stops_working(ui):
    old = ui.agent("worker-9")
    response = ui.post("/agents/rotate", {"agent_id": "worker-9"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = re.search(r'id="new-key"[^>]*value="(sk_[^"]+)"', html).group(1)
    assert "New API key" in html and "The old key no longer works" in html
    api = ui.app.test_client()
    assert api.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert api.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {new}"}).status_code == 200
    assert new not in ui.get("/agents").get_data(as_text=True)  # shown once


def test_revoke_asks_first_and_stops_the_key(ui):
    key = ui.agent("worker-9")
    page = ui.get("/agents").get_data(as_text=True)
    assert 'data-confirm="Revoke the key of worker-9?' in page and 'data-confirm="Rotate the key of worker-9?' in page
    response = ui.post("/agents/revoke", {"agent_id": "worker-9"}, follow_redirects=True)
    assert "Revoked the API key of worker-9" in response.get_data(as_text=True)
    with ui.app.app_context():
        assert db.session.get(Agent, "worker-9").api_key_hash is None
    api = ui.app.test_client()
    assert api.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert "Issue key" in ui.get("/agents").get_data(as_text=True)


def test_key_actions_on_an_unknown_agent_change_nothing(ui):
    response = ui.post("/agents/rotate", {"agent_id": "ghost"}, follow_redirects=True)
    assert "Agent ghost not found" in response.get_data(as_text=True)
    with ui.app.app_context():
        assert db.session.get(Agent, "ghost") is None


def test_agent_times_carry_utc_on_hover_and_are_marked_for_the_viewers_zone(ui):
    html = ui.get("/agents").get_data(as_text=True)
    assert re.search(r'<time datetime="[^"]+Z" title="[^"]+ UTC" data-zone="viewer">', html)


def test_history_says_when_a_run_finished_and_how_long_it_took(ui):
    sid = ui.schedule()
    store_executions(ui.app, sid, ["COMPLETED", "PENDING"])
    with ui.app.app_context():
        done = db.session.query(ScheduleExecution).filter_by(status="COMPLETED").one()
        done.started_at = done.executed_at + timedelta(seconds=1)
        done.finished_at = done.executed_at + timedelta(minutes=3, seconds=6)
        db.session.commit()
    html = ui.get(f"/schedules/{sid}").get_data(as_text=True)
    row = html.split(f'id="exec-{done.execution_id}"')[1].split("</tr>")[0]
    assert "finished <time" in row and "01:03:06</time> · took 3 min 5 s" in row  # Paris is UTC+1 in January
    pending = html.split('class="exec-pending"')[1].split("</tr>")[0]
    assert "finished <time" not in pending


@pytest.mark.parametrize(("seconds", "text"), [(0.42, "0.4 s"), (12, "12 s"), (185, "3 min 5 s"), (7860, "2 h 11 min")])
def test_durations_are_written_in_their_largest_units(seconds, text):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert duration_text(start, start + timedelta(seconds=seconds)) == text
    assert duration_text(None, start) == ""
