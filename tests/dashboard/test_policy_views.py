"""The detail page's policies in words, runs left and failures in a row, the paused-because banner, and the ledger."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard_helpers import HX, Dashboard
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, new_id


@pytest.fixture
def ui(frozen_ui) -> Dashboard:
    """Return the signed-in dashboard client, clock frozen (see conftest.py)."""
    return frozen_ui


def policy_text(html: str, name: str) -> str:
    """Return the words shown for one policy on the detail page."""
    match = re.search(rf'<li data-policy="{name}">.*?<span class="policy-text">(.*?)</span></li>', html, re.S)
    assert match, f"no {name} line"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip()


def store(app, schedule_id: str, rows: list[dict]) -> None:
    """Store executions an hour apart from 2025-11-01, oldest first, with the given columns."""
    start = datetime(2025, 11, 1, tzinfo=UTC)
    with app.app_context():
        for i, row in enumerate(rows):
            at = start + timedelta(hours=i)
            db.session.add(
                ScheduleExecution(
                    execution_id=new_id("exec"),
                    schedule_id=schedule_id,
                    scheduled_for=at,
                    executed_at=at,
                    **row,
                )
            )
        db.session.commit()


def test_detail_says_each_policy_in_words(ui):
    """Overlap, retries, limits and the rest read as sentences; the ones left alone say so."""
    schedule_id = ui.schedule(
        overlap_policy="SKIP",
        retry_policy={"max_attempts": 3},
        max_runs=10,
        jitter_seconds=30,
        catchup_window_seconds=3600,
        pause_after_failures=3,
        end_at="2026-06-01T00:00:00Z",
    )
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert policy_text(html, "overlap_policy") == "Skips a run while the previous one is still going"
    assert policy_text(html, "retry_policy") == "Retries twice, 10 s then 20 s apart, up to 1 h"
    assert policy_text(html, "max_runs") == "Completes after 10 runs; 10 left"
    assert policy_text(html, "jitter_seconds").startswith("Starts each run up to 30 s after its time")
    assert "Never starts a run more than 1 h late" in policy_text(html, "misfire_policy")
    assert policy_text(html, "pause_after_failures") == "Pauses itself after 3 failed runs in a row (0 now)"
    assert policy_text(html, "bounds") == "Until Mon 1 Jun 2026, 02:00 CEST, then completed"
    assert policy_text(html, "timeout_seconds") == "An attempt without a heartbeat for 5 min has failed (default)"
    assert 'href="/schedules/' + schedule_id + '/edit#advanced"' in html


def test_a_one_time_schedule_shows_no_rhythm_policies(ui):
    """Window, run limit and jitter apply to cron schedules only, so a one-time schedule does not list them."""
    schedule_id = ui.schedule(cron_expression=None, run_at="2025-12-24T18:00:00")
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert 'data-policy="overlap_policy"' in html
    for name in ("bounds", "max_runs", "jitter_seconds"):
        assert f'data-policy="{name}"' not in html, name
    assert policy_text(html, "retry_policy") == "Does not retry: a failed attempt fails the run (default)"


def test_detail_shows_runs_left_and_failures_in_a_row(ui, app):
    """Runs left under max_runs and the failure count beside the limit that pauses the schedule."""
    schedule_id = ui.schedule(max_runs=5, pause_after_failures=3)
    with app.app_context():
        row = db.session.get(ScheduledTask, schedule_id)
        row.remaining_runs, row.consecutive_failures = 2, 2
        db.session.commit()
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert "<dt>Runs left</dt><dd>2 of 5</dd>" in html
    assert re.search(r"<dt>Failures in a row</dt><dd><span[^>]*>2</span> <span[^>]*>\(pauses itself at 3\)", html)
    plain = ui.get(f"/schedules/{ui.schedule()}").get_data(as_text=True)
    assert '<dt>Runs left</dt><dd><span class="muted">No limit</span>' in plain


def pause_itself(app, schedule_id: str, failures: int = 3) -> None:
    """Put a schedule in the state auto-pause leaves it in."""
    with app.app_context():
        row = db.session.get(ScheduledTask, schedule_id)
        row.status, row.paused_reason = "PAUSED", f"Paused after {failures} consecutive failures"
        row.consecutive_failures, row.next_run_at = failures, None
        db.session.commit()


def test_paused_because_banner_with_resume(ui, app):
    """A schedule that paused itself says why, links to the failures, and resumes in place."""
    schedule_id = ui.schedule(pause_after_failures=3)
    pause_itself(app, schedule_id)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    banner = re.search(r'<div class="banner-paused".*?</div>', html, re.S).group(0)
    assert "Paused after 3 consecutive failures." in banner
    assert f'href="/schedules/{schedule_id}?status=FAILED#history"' in banner
    assert 'data-action="resume"' in banner

    panel = ui.post(f"/schedules/{schedule_id}/resume", {"view": "panel"}, htmx=True).get_data(as_text=True)
    assert "banner-paused" not in panel
    assert "Resumed. Next run" in panel
    stored = ui.stored(schedule_id)
    assert (stored.status, stored.paused_reason, stored.consecutive_failures) == ("ACTIVE", None, 0)


def test_a_pause_by_hand_shows_no_banner(ui):
    """Only a schedule that paused itself carries the banner."""
    schedule_id = ui.schedule()
    ui.post(f"/schedules/{schedule_id}/pause", {"view": "panel"})
    assert ui.stored(schedule_id).status == "PAUSED"
    assert "banner-paused" not in ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)


LEDGER = [
    {"status": "COMPLETED", "attempts": 1, "trigger": "SCHEDULE"},
    {"status": "SKIPPED", "reason": "OVERLAP"},
    {"status": "SKIPPED", "reason": "MISSED"},
    {"status": "CANCELLED", "reason": "REPLACED", "attempts": 0},
    {"status": "FAILED", "attempts": 3, "trigger": "BACKFILL", "error_message": "boom"},
    {"status": "SKIPPED", "reason": "OUTSIDE_CATCHUP_WINDOW"},
    {"status": "COMPLETED", "attempts": 2, "trigger": "RUN_NOW"},
]


def test_history_shows_trigger_reason_attempts_and_duration(ui, app):
    """Each row says what fired it, why it was skipped or cancelled, its attempts and how long it took."""
    schedule_id = ui.schedule()
    rows = [dict(r) for r in LEDGER]
    rows[6]["started_at"] = datetime(2025, 11, 1, 6, 0, 5, tzinfo=UTC)
    rows[6]["finished_at"] = datetime(2025, 11, 1, 6, 1, 35, tzinfo=UTC)
    store(app, schedule_id, rows)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    table = html[html.index('<table class="list history">') :]
    assert ">Trigger</th>" in table and ">Attempts</th>" in table and ">Duration</th>" in table
    first = re.search(r'<tr id="exec-[^"]+" class="exec-completed">.*?</tr>', table, re.S).group(0)
    assert '<span class="tag-trigger">Run now</span>' in first
    assert ">1 min 30 s</span>" in first
    assert re.search(r'data-label="Attempts" class="num">2</td>', first)
    assert '<span class="tag-trigger">Backfill</span>' in table
    assert '<span class="reason" data-reason="overlap">The previous run was still going</span>' in table
    assert '<span class="reason" data-reason="replaced">Replaced by a newer run</span>' in table
    assert "Found too late: outside the catch-up window" in table


def test_strip_marks_skipped_reasons_and_cancelled_runs_apart(ui, app):
    """Skipped bars carry their reason (colour and title), a cancelled run is crossed, and the legend names each."""
    schedule_id = ui.schedule()
    store(app, schedule_id, LEDGER)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    strip = html[html.index('<svg class="strip"') : html.index("</figure>")]
    assert 'class="bar bar-skipped" data-reason="overlap"' in strip
    assert "Skipped: the previous run was still going</title>" in strip
    assert "Skipped: found too late: outside the catch-up window</title>" in strip
    assert "Cancelled: replaced by a newer run</title>" in strip
    assert strip.count('class="mark-cancelled"') == 1
    assert "(backfill): boom</title>" in strip
    legend = re.sub(r"<[^>]+>", "", strip[strip.index('<figcaption class="legend">') :])
    for label in ("2 completed", "1 failed", "0 pending", "1 cancelled", "1 skipped: overlap", "1 skipped: missed"):
        assert label in legend, label
    assert "1 skipped: too late" in legend
    assert "2 completed, 1 failed, 0 pending, 3 skipped. 1 cancelled." in strip


def test_history_filters_by_status_and_trigger(ui, app):
    """The filter narrows the rows (the strip stays whole); pages and the partial keep the filter."""
    schedule_id = ui.schedule()
    store(app, schedule_id, LEDGER + [{"status": "FAILED", "error_message": f"e{i}"} for i in range(25)])
    html = ui.get(f"/schedules/{schedule_id}?status=FAILED").get_data(as_text=True)
    rows = re.findall(r'<tr id="exec-[^"]+" class="exec-(\w+)"', html)
    assert rows == ["failed"] * 20
    assert '<option value="FAILED" selected>Failed</option>' in html
    assert f'href="/schedules/{schedule_id}?status=FAILED&amp;offset=20"' in html
    assert f'hx-get="/schedules/{schedule_id}/history?status=FAILED&amp;offset=20"' in html
    assert html.count('class="bar ') == 32  # the strip shows every outcome

    partial = ui.get(f"/schedules/{schedule_id}/history?status=FAILED&trigger=BACKFILL", htmx=True)
    text = partial.get_data(as_text=True)
    assert text.lstrip().startswith('<section id="history"')
    assert re.findall(r'<tr id="exec-[^"]+" class="exec-(\w+)"', text) == ["failed"]
    assert '<option value="BACKFILL" selected>backfill</option>' in text

    none = ui.get(f"/schedules/{schedule_id}/history?status=BUFFERED", htmx=True).get_data(as_text=True)
    assert "No runs match." in none
    plain = ui.get(f"/schedules/{schedule_id}/history?status=FAILED&offset=20")
    assert plain.status_code == 302
    assert plain.headers["Location"].endswith(f"/schedules/{schedule_id}?offset=20&status=FAILED")


def test_history_refuses_an_unknown_status(ui, client):
    """A status the ledger does not have is a 400 that lists the ones it has."""
    schedule_id = ui.schedule()
    response = client.get(f"/schedules/{schedule_id}/history?status=LOST", headers=HX)
    assert response.status_code == 400
    assert "status must be one of BUFFERED" in response.get_data(as_text=True)
