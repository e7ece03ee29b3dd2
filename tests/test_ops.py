"""GET /healthz and GET /metrics."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp import create_app, faults, ops
from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduleExecution
from webapp.scheduling import dispatcher, schedules


def metric(text: str, name: str, labels: str = "") -> float:
    """Return the value of one sample in Prometheus text."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not found"
    return float(match.group(1))


def test_healthz_answers_ok_without_a_key(client):
    response = client.get("/healthz")
    assert (response.status_code, response.get_json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "write": "ok"}},
    )


def test_the_write_probe_runs_at_most_once_per_interval(app, client, monkeypatch):
    probes = []
    monkeypatch.setattr(ops.WriteProbe, "_probe", staticmethod(lambda: probes.append(1)))
    clock = [1000.0]
    monkeypatch.setattr(ops.time, "monotonic", lambda: clock[0])
    for _ in range(20):
        assert client.get("/healthz").status_code == 200
    assert len(probes) == 1
    clock[0] += ops.PROBE_INTERVAL_OK
    client.get("/healthz")
    assert len(probes) == 2


def test_a_failing_write_probe_is_retried_every_second_so_recovery_shows(app, client, monkeypatch):
    outcome = [faults.FULL]
    monkeypatch.setattr(ops.WriteProbe, "_probe", staticmethod(lambda: outcome[0]))
    clock = [1000.0]
    monkeypatch.setattr(ops.time, "monotonic", lambda: clock[0])
    assert client.get("/healthz").status_code == 503
    outcome[0] = None
    assert client.get("/healthz").status_code == 503  # the failure is remembered for a moment
    clock[0] += ops.PROBE_INTERVAL_FAILED
    assert client.get("/healthz").status_code == 200


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    url = f"sqlite:///{tmp_path}/missing-dir/none.db"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()["status"]) == (503, "unavailable")
    with app.app_context():
        db.engine.dispose()


def test_metrics_count_firings_lateness_backlog_and_requests(app, client, auth):
    now = datetime.now(UTC)
    caller = Caller("client-1", False)
    body = {"task_type": "r", "capability_required": "report-v1", "cron_expression": "* * * * *"}
    with app.app_context():
        due = [schedules.create_schedule(caller, body, now=now - timedelta(minutes=3)) for _ in range(3)]
        late = due[0].next_run_at
        assert dispatcher.fire_due(late + timedelta(seconds=2)) == 3
    client.get("/aitp/tasks/schedule", headers=auth)
    client.get("/aitp/tasks/schedule")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    text = response.get_data(as_text=True)
    assert metric(text, "scheduler_firings_total") == 3
    assert metric(text, "scheduler_fire_lateness_seconds_count") == 3
    assert metric(text, "scheduler_fire_lateness_seconds_bucket", 'le="2.0"') == 3
    assert metric(text, "scheduler_fire_lateness_seconds_bucket", 'le="1.0"') == 0
    # Fired at late + 2 s, the schedules are due again (next minute) by the real clock now.
    assert metric(text, "scheduler_due_backlog") == 3
    assert metric(text, "scheduler_tasks", 'status="PENDING"') == 3
    assert (
        metric(
            text, "scheduler_api_requests_total", 'endpoint="api_schedules.list_schedules",method="GET",status="200"'
        )
        == 1
    )
    assert (
        metric(
            text, "scheduler_api_requests_total", 'endpoint="api_schedules.list_schedules",method="GET",status="401"'
        )
        == 1
    )


def every_minute(app, make_agent, start: datetime) -> str:
    """Create an every-minute schedule of client-1 as of `start`; return its id."""
    make_agent("client-1")
    body = {"task_type": "r", "capability_required": "report-v1", "cron_expression": "* * * * *"}
    with app.app_context():
        return schedules.create_schedule(Caller("client-1", False), body, now=start).schedule_id


def test_metrics_count_skipped_occurrences_and_task_outcomes(app, client, make_agent):
    start = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    sid = every_minute(app, make_agent, start)
    with app.app_context():
        dispatcher.fire_due(start + timedelta(minutes=5, seconds=1))  # 08:01-08:04 skipped, 08:05 fired
        dispatcher.run_now(Caller("client-1", False), sid, now=start)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "scheduler_skipped_occurrences_total") == 4
    assert metric(text, "scheduler_firings_total") == 2


def test_the_skipped_counter_counts_recorded_rows_not_the_estimate(app, client, make_agent):
    start = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    sid = every_minute(app, make_agent, start)
    with app.app_context():
        dispatcher.fire_due(start + timedelta(days=365, seconds=1))  # a year down: ~525,600 missed
        skipped = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ScheduleExecution)
            .where(ScheduleExecution.schedule_id == sid, ScheduleExecution.status == "SKIPPED")
        )
    text = client.get("/metrics").get_data(as_text=True)
    assert skipped == 100
    assert metric(text, "scheduler_skipped_occurrences_total") == skipped


def test_each_app_has_its_own_registry(app, database_url):
    other = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SCHEDULER_ENABLED": False})
    assert other.extensions["scheduler_metrics"].registry is not app.extensions["scheduler_metrics"].registry
    with other.app_context():
        db.engine.dispose()
