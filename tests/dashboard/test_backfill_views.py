"""The detail page's upcoming runs (with jitter) and the Backfill card: dry run first, then confirm."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.dashboard_helpers import Dashboard
from webapp.auth import OPERATOR
from webapp.extensions import db
from webapp.models import ScheduleExecution
from webapp.scheduling import backfill


@pytest.fixture
def ui(frozen_ui) -> Dashboard:
    """Return the signed-in dashboard client, clock frozen (see conftest.py)."""
    return frozen_ui


def executions(app, schedule_id: str) -> list[tuple]:
    """Return the schedule's executions as (scheduled_for, trigger), oldest first."""
    with app.app_context():
        rows = db.session.query(ScheduleExecution).filter_by(schedule_id=schedule_id)
        return sorted((e.scheduled_for, e.trigger) for e in rows)


def actions(html: str) -> list[str]:
    """Return the FIRE / EXISTS column of a dry run's list."""
    return re.findall(r'<span class="action-\w+">(FIRE|EXISTS)</span>', html)


def test_upcoming_runs_come_from_the_service_with_jitter(ui, app):
    """The card lists the upcoming service's runs: occurrence, the jittered instant and its offset."""
    schedule_id = ui.schedule(cron_expression="0 * * * *", timezone="UTC", jitter_seconds=600, max_runs=3)
    with app.app_context():
        expected = backfill.upcoming(OPERATOR, schedule_id, 5)
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    card = html[html.index('<section id="upcoming"') : html.index("</section>", html.index('<section id="upcoming"'))]
    assert len(expected) == 3  # the run limit ends the list
    for run in expected:
        assert f'<time datetime="{run["scheduled_for"]}">' in card
        assert f'<time datetime="{run["fire_at"]}"' in card
        offset = int(
            (
                datetime.fromisoformat(run["fire_at"][:-1]) - datetime.fromisoformat(run["scheduled_for"][:-1])
            ).total_seconds()
        )
        assert f"+{offset} s jitter" in card
    assert "the schedule then completes (run limit)" in card


def test_upcoming_is_empty_while_paused(ui):
    """A paused schedule has no upcoming runs, and says so."""
    schedule_id = ui.schedule()
    ui.post(f"/schedules/{schedule_id}/pause", {"view": "panel"})
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert "None while paused." in html


def test_backfill_card_offers_yesterday(ui):
    """The card is filled with yesterday, midnight to midnight in the schedule's zone."""
    schedule_id = ui.schedule(cron_expression="0 * * * *", timezone="Europe/Paris")
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert 'name="start" type="datetime-local" value="2025-11-27T00:00"' in html
    assert 'name="end" type="datetime-local" value="2025-11-28T00:00"' in html


def test_dry_run_lists_fire_and_exists_and_changes_nothing(ui, app):
    """A dry run shows each occurrence with FIRE or EXISTS and a confirm button; nothing is stored."""
    schedule_id = ui.schedule(cron_expression="0 */6 * * *", timezone="UTC")
    ui.post(
        f"/schedules/{schedule_id}/backfill",
        {"start": "2025-11-27T06:00", "end": "2025-11-27T12:00", "step": "confirm"},
    )
    before = executions(app, schedule_id)
    assert len(before) == 1

    response = ui.post(
        f"/schedules/{schedule_id}/backfill", {"start": "2025-11-27T00:00", "end": "2025-11-28T00:00"}, htmx=True
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<section id="backfill"')
    assert actions(html) == ["FIRE", "EXISTS", "FIRE", "FIRE"]
    assert "3 occurrences to fire</strong>, 1 already ran (dry run: nothing has changed)" in html
    assert (
        '<button type="submit" class="btn btn-primary" name="step" value="confirm">Fire 3 occurrences</button>' in html
    )
    assert executions(app, schedule_id) == before


def test_confirm_fires_each_missing_occurrence_once(ui, app):
    """Confirm fires the listed occurrences as BACKFILL and sends the page back to the history."""
    schedule_id = ui.schedule(cron_expression="0 */6 * * *", timezone="UTC")
    body = {"start": "2025-11-27T00:00", "end": "2025-11-28T00:00", "step": "confirm"}
    response = ui.post(f"/schedules/{schedule_id}/backfill", body, htmx=True)
    assert response.status_code == 200
    assert response.headers["HX-Refresh"] == "true"
    fired = executions(app, schedule_id)
    assert [t for _, t in fired] == ["BACKFILL"] * 4
    assert [at.hour for at, _ in fired] == [0, 6, 12, 18]

    again = ui.post(f"/schedules/{schedule_id}/backfill", body)  # a plain form, twice: nothing more fires
    assert again.status_code == 302
    assert executions(app, schedule_id) == fired
    page = ui.get(again.headers["Location"]).get_data(as_text=True)
    assert "Nothing to fire: every occurrence in the range has already run." in page
    assert page.count('<span class="tag-trigger">Backfill</span>') == 4


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"start": "2025-11-28T00:00", "end": "2025-11-27T00:00"}, "end", "end must be after start"),
        ({"start": "2025-11-27T00:00", "end": "2025-12-01T00:00"}, "end", "end is in the future"),
        ({"start": "2025-01-01T00:00", "end": "2025-11-01T00:00"}, "end", "a backfill covers at most 1,000"),
        ({"start": "", "end": "2025-11-27T00:00"}, "start", ""),
    ],
)
def test_a_refused_range_shows_why_beside_the_field(ui, app, body, field, message):
    """The service's refusal appears beside the input it names; nothing is fired."""
    schedule_id = ui.schedule(cron_expression="0 * * * *", timezone="UTC")
    html = ui.post(f"/schedules/{schedule_id}/backfill", body, htmx=True).get_data(as_text=True)
    shown = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert shown, html
    assert message in shown.group(1)
    assert executions(app, schedule_id) == []


def test_one_time_schedule_has_no_backfill(ui):
    """A one-time schedule's card explains there is nothing to backfill; a forced post is refused."""
    schedule_id = ui.schedule(cron_expression=None, run_at="2025-12-24T18:00:00")
    html = ui.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert "A one-time schedule has no occurrences to backfill" in html
    response = ui.post(f"/schedules/{schedule_id}/backfill", {"start": "2025-11-27T00:00", "end": "2025-11-28T00:00"})
    assert response.status_code == 409
    assert "A one-time schedule has no occurrences to backfill" in response.get_data(as_text=True)
