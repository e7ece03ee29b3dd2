"""Schedule list, detail, history and the in-place actions."""

from __future__ import annotations

import re

import pytest

from tests.dashboard_helpers import Dashboard, store_executions
from webapp.clock import utcnow
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client with one agent, client-1."""
    ui = Dashboard(app, client).sign_in()
    ui.agent("client-1")
    return ui


def add_executions(ui: Dashboard, schedule_id: str, statuses: list[str]) -> None:
    """Store executions an hour apart, oldest first, without tasks (as skipped ones are)."""
    store_executions(ui.app, schedule_id, statuses)


def test_empty_list_tells_a_new_operator_what_to_do(app, client):
    """With nothing registered the list explains the first steps."""
    ui = Dashboard(app, client).sign_in()
    html = ui.get("/schedules").get_data(as_text=True)
    assert "No schedules yet" in html
    assert "Register an agent" in html
    assert 'href="/schedules/new"' in html
    assert 'href="/preview"' in html


def test_list_shows_status_next_run_and_counts(ui):
    """A row has the badge, the next run in its zone with UTC on hover, the relative time and the counts."""
    schedule_id = ui.schedule(description="Nightly export")
    with ui.app.app_context():
        schedule = db.session.get(ScheduledTask, schedule_id)
        schedule.total_runs, schedule.failed_runs = 12, 3
        next_run = schedule.next_run_at
        db.session.commit()
    html = ui.get("/schedules").get_data(as_text=True)
    assert "Nightly export" in html
    assert '<span class="badge badge-active">Active</span>' in html
    iso = next_run.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f'<time datetime="{iso}" title="{next_run:%Y-%m-%d %H:%M:%S} UTC">' in html
    local = next_run.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Paris"))
    assert f"{local:%H:%M} {local.tzname()}" in html
    assert re.search(r'<span class="rel">in \d+ (s|min|h|days)</span>', html)
    assert "At 09:30, Monday through Friday" in html
    assert "12" in html and "3 failed" in html


def test_list_filters_by_client_and_status(ui):
    """Filters narrow the list; DELETED shows only when asked for."""
    ui.agent("client-2")
    mine = ui.schedule(description="first-client")
    theirs = ui.schedule(client_id="client-2", description="second-client")
    ui.post(f"/schedules/{theirs}/pause")
    gone = ui.schedule(description="gone-one")
    ui.post(f"/schedules/{gone}/delete")

    html = ui.get("/schedules?client_id=client-2").get_data(as_text=True)
    assert "second-client" in html and "first-client" not in html
    html = ui.get("/schedules?status=PAUSED").get_data(as_text=True)
    assert "second-client" in html and "first-client" not in html
    html = ui.get("/schedules").get_data(as_text=True)
    assert "gone-one" not in html and mine in html
    html = ui.get("/schedules?status=DELETED").get_data(as_text=True)
    assert "gone-one" in html
    html = ui.get("/schedules?status=COMPLETED").get_data(as_text=True)
    assert "No schedules match" in html and "Clear the filters" in html


def test_list_refuses_an_unknown_status(ui):
    """A bad filter value is a 400 page with the service's message."""
    response = ui.get("/schedules?status=BOGUS")
    assert response.status_code == 400
    assert "status must be one of" in response.get_data(as_text=True)


def test_list_pages(ui):
    """Twenty per page, newest first, with links that keep the filters."""
    for i in range(23):
        ui.schedule(description=f"job-{i:02d}")
    html = ui.get("/schedules?client_id=client-1").get_data(as_text=True)
    assert "1–20 of 23" in html
    assert html.count('<tr id="row-') == 20
    assert 'href="/schedules?client_id=client-1&amp;offset=20"' in html
    html = ui.get("/schedules?client_id=client-1&offset=20").get_data(as_text=True)
    assert "21–23 of 23" in html
    assert html.count('<tr id="row-') == 3
    assert "job-00" in html


def test_list_answers_the_table_alone_to_htmx(ui):
    """Full page normally; only the table partial for HX-Request; the whole page for a history restore."""
    ui.schedule()
    full = ui.get("/schedules")
    assert "<html" in full.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    partial = ui.get("/schedules", htmx=True).get_data(as_text=True)
    assert "<html" not in partial
    assert partial.lstrip().startswith('<div id="schedule-table"')
    restore = ui.client.get("/schedules", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.get_data(as_text=True)


def test_detail_shows_every_field(ui):
    """The detail page shows each field of the schedule."""
    schedule_id = ui.schedule(description="Sales report", input_data={"region": "EU"}, priority=8)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    for text in (
        schedule_id,
        "Sales report",
        "30 9 * * 1-5",
        "Europe/Paris",
        "client-1",
        "generate-report",
        "report-v1",
        "Priority</dt><dd>8",
        '"region": "EU"',
        "Execution history",
        "No runs yet",
    ):
        assert text in html, text


def test_detail_of_unknown_schedule_is_404(ui):
    """An unknown id is a 404 page, not a stack trace."""
    response = ui.get("/schedules/sched-nope")
    assert response.status_code == 404
    assert "Schedule not found" in response.get_data(as_text=True)


def test_detail_draws_the_last_runs(ui):
    """The strip has one bar per recent run, coloured by status, each with a tooltip."""
    schedule_id = ui.schedule()
    add_executions(ui, schedule_id, ["COMPLETED"] * 3 + ["FAILED", "SKIPPED", "PENDING"])
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert '<svg class="strip"' in html and 'role="img"' in html
    assert html.count('class="bar bar-completed"') == 3
    assert html.count('class="bar bar-failed"') == 1
    assert html.count('class="bar bar-skipped"') == 1
    assert html.count('class="bar bar-pending"') == 1
    assert "3 completed, 1 failed, 1 pending, 1 skipped." in html
    assert "Failed: boom</title>" in html
    # History rows, newest first: the pending one leads.
    rows = re.findall(r'<tr id="exec-[^"]+" class="exec-(\w+)"', html)
    assert rows == ["pending", "skipped", "failed", "completed", "completed", "completed"]
    assert "boom" in html and '<code>{"rows": 0}</code>' in html


def test_history_pages(ui):
    """History shows twenty runs a page; the next page comes as a partial for HTMX."""
    schedule_id = ui.schedule()
    add_executions(ui, schedule_id, ["COMPLETED"] * 60)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert "1–20 of 60" in html
    assert html.count('class="bar bar-completed"') == 50  # the strip stops at fifty
    assert f'hx-get="/schedules/{schedule_id}/history?offset=20"' in html
    partial = ui.get(f"/schedules/{schedule_id}/history?offset=40", htmx=True).get_data(as_text=True)
    assert partial.lstrip().startswith('<section id="history"')
    assert "41–60 of 60" in partial and "<html" not in partial
    plain = ui.get(f"/schedules/{schedule_id}/history?offset=40")
    assert plain.status_code == 302
    assert plain.headers["Location"] == f"/schedules/{schedule_id}?offset=40"
    assert "41–60 of 60" in ui.get(f"/schedules/{schedule_id}?offset=40").get_data(as_text=True)


def test_pause_and_resume_answer_the_row(ui):
    """Pause and resume re-render the row in place and change the database."""
    schedule_id = ui.schedule()
    response = ui.post(f"/schedules/{schedule_id}/pause", {"view": "row", "next": "/schedules"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="row-{schedule_id}"')
    assert "badge-paused" in html and 'data-action="resume"' in html
    assert 'hx-swap-oob="innerHTML"' in html and "Paused." in html
    assert ui.stored(schedule_id).status == "PAUSED"

    before = utcnow()
    response = ui.post(f"/schedules/{schedule_id}/resume", {"view": "row"}, htmx=True)
    assert "badge-active" in response.get_data(as_text=True)
    stored = ui.stored(schedule_id)
    assert stored.status == "ACTIVE" and stored.next_run_at > before


def test_actions_answer_the_panel_on_the_detail_page(ui):
    """From the detail page the same actions answer the panel."""
    schedule_id = ui.schedule()
    html = ui.post(f"/schedules/{schedule_id}/pause", {"view": "panel"}, htmx=True).get_data(as_text=True)
    assert html.lstrip().startswith('<section id="schedule-panel"')
    assert "badge-paused" in html


def test_delete_answers_a_deleted_row(ui):
    """Delete marks the schedule DELETED; the row stays, greyed, without actions."""
    schedule_id = ui.schedule()
    html = ui.post(f"/schedules/{schedule_id}/delete", {"view": "row"}, htmx=True).get_data(as_text=True)
    assert "badge-deleted" in html and "data-action" not in html
    stored = ui.stored(schedule_id)
    assert stored.status == "DELETED" and stored.next_run_at is None


def test_delete_asks_for_confirmation(ui):
    """The delete button carries hx-confirm naming the schedule."""
    ui.schedule(description="Payroll")
    html = ui.get("/schedules").get_data(as_text=True)
    assert 'hx-confirm="Delete the schedule “Payroll”?' in html


def test_run_now_answers_the_panel_and_the_history(ui):
    """Run now fires once: a task and an execution, the counters move, history comes out of band."""
    pytest.importorskip("webapp.scheduling.dispatcher").run_now  # noqa: B018
    schedule_id = ui.schedule()
    ui.post(f"/schedules/{schedule_id}/pause")
    response = ui.post(f"/schedules/{schedule_id}/run", {"view": "panel"}, htmx=True)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html
    with ui.app.app_context():
        execution = db.session.query(ScheduleExecution).filter_by(schedule_id=schedule_id).one()
    assert f'<tr id="exec-{execution.execution_id}" class="exec-pending"' in html
    history_tag = re.search(r'<section id="history"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in history_tag
    assert 'hx-trigger="every 2s"' in history_tag  # a pending run: the history polls until it finishes
    assert "Fired now" in html
    stored = ui.stored(schedule_id)
    assert stored.total_runs == 1 and stored.status == "PAUSED"


def test_run_now_from_a_row(ui):
    """Run now from the list answers the row with the new count."""
    pytest.importorskip("webapp.scheduling.dispatcher").run_now  # noqa: B018
    schedule_id = ui.schedule()
    html = ui.post(f"/schedules/{schedule_id}/run", {"view": "row"}, htmx=True).get_data(as_text=True)
    assert re.search(r'data-label="Runs" class="num">\s*1\s*</td>', html)


def test_plain_form_actions_redirect_back(ui):
    """Without JavaScript the buttons are forms: the answer is a redirect and a flash."""
    schedule_id = ui.schedule()
    response = ui.post(f"/schedules/{schedule_id}/pause", {"view": "row", "next": "/schedules?status=ACTIVE"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/schedules?status=ACTIVE"
    assert ui.stored(schedule_id).status == "PAUSED"
    assert "Paused." in ui.get("/schedules").get_data(as_text=True)
    response = ui.post(f"/schedules/{schedule_id}/delete", {"next": "https://evil.example/"})
    assert response.headers["Location"] == "/schedules"


def test_refused_action_goes_to_the_notice_region(ui):
    """A conflict answers 409 with the reason, aimed at the notice region; the plain form flashes it."""
    schedule_id = ui.schedule()
    ui.post(f"/schedules/{schedule_id}/delete")
    response = ui.post(f"/schedules/{schedule_id}/delete", {"view": "row"}, htmx=True)
    assert response.status_code == 409
    assert response.headers["HX-Retarget"] == "#notice"
    assert "already deleted" in response.get_data(as_text=True)
    response = ui.post(f"/schedules/{schedule_id}/resume", {"next": f"/schedules/{schedule_id}"})
    assert response.status_code == 302
    assert "cannot be changed" in ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert ui.stored(schedule_id).status == "DELETED"


def test_unknown_action_is_404(ui):
    """Only the four actions exist."""
    schedule_id = ui.schedule()
    assert ui.post(f"/schedules/{schedule_id}/explode").status_code == 404


@pytest.mark.parametrize("where", ["list", "detail", "row", "panel"])
def test_html_in_fields_is_escaped(ui, where):
    """Description, task type and input data are shown as text, never as markup."""
    schedule_id = ui.schedule(description=HOSTILE, task_type=HOSTILE, input_data={"x": HOSTILE})
    if where == "list":
        html = ui.get("/schedules").get_data(as_text=True)
    elif where == "detail":
        html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    else:
        html = ui.post(f"/schedules/{schedule_id}/pause", {"view": where}, htmx=True).get_data(as_text=True)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(" in html
