"""The timer: where it starts, that it fires on its own, and that a new schedule wakes it early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest
from flask import Flask

from tests.dispatch_helpers import due_count, wait_for
from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduledTask
from webapp.scheduling import schedules, timer

CLIENT = Caller("client-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}


class FakeTimer:
    """Records the wake-ups a commit asks for."""

    def __init__(self) -> None:
        """Start with none."""
        self.calls: list[datetime] = []

    def wake(self, at: datetime) -> None:
        """Record one wake-up."""
        self.calls.append(at)


def test_a_committed_schedule_wakes_the_timer_of_its_process(app, make_agent):
    make_agent("client-1")
    fake = app.extensions["scheduler_timer"] = FakeTimer()
    now = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    with app.app_context():
        schedules.create_schedule(CLIENT, {**BODY, "cron_expression": "*/5 * * * *"}, now=now)
        paused = schedules.create_schedule(CLIENT, {**BODY, "run_at": "2025-03-01T08:01:00Z"}, now=now)
        schedules.set_status(CLIENT, paused.schedule_id, "PAUSED", now=now)
    assert fake.calls == [datetime(2025, 3, 1, 8, 5, tzinfo=UTC), datetime(2025, 3, 1, 8, 1, tzinfo=UTC)]


def test_the_in_process_timer_fires_a_schedule_created_after_it_started(app, make_agent):
    make_agent("client-1")
    running = timer.start(app)
    try:
        with app.app_context():
            run_at = datetime.now(UTC) + timedelta(seconds=0.5)
            s = schedules.create_schedule(CLIENT, {**BODY, "run_at": run_at.isoformat()})
        wait_for(lambda: due_count(app, run_at) == 0, 15)
    finally:
        running.stop()
    assert not running.scheduler.running
    with app.app_context():
        assert db.session.get(ScheduledTask, s.schedule_id).status == "COMPLETED"


def _contexts(path: list[str], params: dict) -> list[click.Context]:
    """Build nested click contexts for a command path such as ["flask", "scheduler", "run"]."""
    contexts: list[click.Context] = []
    for name in path:
        parent = contexts[-1] if contexts else None
        contexts.append(click.Context(click.Command(name), parent=parent, info_name=name))
    contexts[-1].params = params
    return contexts


@pytest.mark.parametrize(
    ("config", "path", "params", "run_main", "expected"),
    [
        ({}, None, {}, None, True),  # gunicorn: no click context
        ({"SCHEDULER_ENABLED": False}, None, {}, None, False),
        ({"TESTING": True}, None, {}, None, False),
        ({}, ["flask", "run"], {"reload": False}, None, True),
        ({}, ["flask", "run"], {"reload": True}, None, False),  # the reloader's watcher parent
        ({}, ["flask", "run"], {"reload": True}, "true", True),  # the reloader's child
        ({}, ["flask", "db", "upgrade"], {}, None, False),
        ({}, ["flask", "scheduler", "run"], {}, None, False),  # runs its own timer in the foreground
        ({}, ["flask", "shell"], {}, None, False),
    ],
)
def test_the_timer_starts_only_where_it_should(monkeypatch, config, path, params, run_main, expected):
    app = Flask("probe")
    app.config.update({"SCHEDULER_ENABLED": True, "TESTING": False, **config})
    if run_main:
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", run_main)
    else:
        monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    if path is None:
        assert timer.should_start(app) is expected
        return
    contexts = _contexts(path, params)
    with contexts[-1]:
        assert timer.should_start(app) is expected
