"""task.unclaimed: once per task, after it waited claimable longer than the schedule's unclaimed_alert_seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.events_helpers import events, new_schedule
from webapp.auth import Caller
from webapp.events import alerts
from webapp.extensions import db
from webapp.models import ScheduledTask, Task
from webapp.scheduling import dispatcher

T0 = datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
CLIENT = Caller("client-1", False)


def check(app, now: datetime) -> int:
    """Run the unclaimed check at `now`."""
    with app.app_context():
        return alerts.check_unclaimed(now)


def test_a_task_waiting_too_long_is_reported_once(app, client, auth, hook):
    hook(auth, events=["task.unclaimed"])
    sid = new_schedule(client, auth, unclaimed_alert_seconds=60)
    with app.app_context():
        task_id = dispatcher.run_now(CLIENT, sid, now=T0).task_id
        quiet = dispatcher.run_now(CLIENT, new_schedule(client, auth), now=T0).task_id  # no alert set
    assert check(app, T0 + timedelta(seconds=60)) == 0  # not longer than 60 s yet
    assert check(app, T0 + timedelta(seconds=61)) == 1
    assert check(app, T0 + timedelta(hours=5)) == 0  # once per task
    [event] = events(app)
    assert (event.event, event.task_id, event.schedule_id) == ("task.unclaimed", task_id, sid)
    assert event.data["waited_seconds"] == 61 and event.data["unclaimed_alert_seconds"] == 60
    assert event.data["capability_required"] == "report-v1"
    with app.app_context():
        assert db.session.get(Task, task_id).unclaimed_alerted_at == T0 + timedelta(seconds=61)
        assert db.session.get(Task, quiet).unclaimed_alerted_at is None
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "scheduler_unclaimed_task_alerts_total 1.0" in metrics
    assert 'scheduler_queue_depth{capability="report-v1"} 2.0' in metrics


def test_a_task_waiting_for_its_retry_counts_its_wait_from_not_before(app, client, auth, hook):
    hook(auth, events=["task.unclaimed"])
    sid = new_schedule(client, auth, unclaimed_alert_seconds=60)
    retry_at = T0 + timedelta(minutes=10)
    with app.app_context():
        task_id = dispatcher.run_now(CLIENT, sid, now=T0).task_id
        task = db.session.get(Task, task_id)
        task.not_before = retry_at  # requeued at T0 for a retry that no claim may take before retry_at
        db.session.commit()
    assert check(app, T0 + timedelta(minutes=5)) == 0  # not claimable yet, so not waiting
    assert check(app, retry_at + timedelta(seconds=60)) == 0
    assert check(app, retry_at + timedelta(seconds=61)) == 1
    [event] = events(app)
    assert (event.event, event.task_id, event.data["waited_seconds"]) == ("task.unclaimed", task_id, 61)


def test_a_claimed_task_is_not_reported(app, client, auth, hook):
    hook(auth, events=["task.unclaimed"])
    sid = new_schedule(client, auth, unclaimed_alert_seconds=30)
    with app.app_context():
        dispatcher.run_now(CLIENT, sid, now=T0)
    client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=auth)
    assert check(app, T0 + timedelta(minutes=5)) == 0
    assert events(app) == []


@pytest.mark.parametrize("value", [0, 604801, -5, "60", 1.5, True])
def test_unclaimed_alert_seconds_is_validated(app, client, auth, value):
    response = client.post(
        "/aitp/tasks/schedule",
        json={
            "task_type": "r",
            "capability_required": "report-v1",
            "cron_expression": "* * * * *",
            "unclaimed_alert_seconds": value,
        },
        headers=auth,
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "unclaimed_alert_seconds"
    with app.app_context():
        assert db.session.query(ScheduledTask).count() == 0


def test_unclaimed_alert_seconds_is_shown_set_and_cleared(client, auth):
    sid = new_schedule(client, auth)
    url = f"/aitp/tasks/schedule/{sid}"
    assert client.get(url, headers=auth).get_json()["unclaimed_alert_seconds"] is None
    assert (
        client.put(url, json={"unclaimed_alert_seconds": 604800}, headers=auth).get_json()["unclaimed_alert_seconds"]
        == 604800
    )
    assert (
        client.put(url, json={"unclaimed_alert_seconds": None}, headers=auth).get_json()["unclaimed_alert_seconds"]
        is None
    )
