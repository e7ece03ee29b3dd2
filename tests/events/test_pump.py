"""The delivery pool: dead receivers hold up neither the dispatcher nor other receivers."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.dispatch_helpers import wait_for
from tests.events_helpers import finish, new_schedule
from tests.receiver import Receiver, start
from webapp import faults
from webapp.auth import Caller
from webapp.clock import utcnow
from webapp.events import delivery
from webapp.events.pump import Pump
from webapp.extensions import db
from webapp.models import EventType, ScheduleExecution
from webapp.scheduling import schedules, timer


@pytest.fixture
def hanging():
    """A receiver that hangs for 15 s before it answers."""
    state = Receiver(hang_seconds=15)
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()


def test_a_dead_receiver_delays_neither_a_firing_nor_a_live_receiver(app, client, auth, hook, receiver, hanging):
    receiver.script = []
    hook(auth, events=[e.value for e in EventType], url=hanging.url)
    hook(auth, events=[e.value for e in EventType], url="http://127.0.0.1:9/refused")
    hook(auth, events=[e.value for e in EventType])
    sid = new_schedule(client, auth)
    for _ in range(4):
        finish(client, auth, sid, "fail")
    running = timer.start(app)
    try:
        # The live receiver gets all four while the hanging one holds its (capped) threads.
        wait_for(lambda: len(receiver.calls) == 4, 8)
        assert 1 <= len(hanging.calls) <= running.pump.per_webhook  # at most half the threads per webhook
        with app.app_context():
            run_at = utcnow() + timedelta(seconds=1)
            once = schedules.create_schedule(
                Caller("client-1", False),
                {"task_type": "r", "capability_required": "report-v1", "run_at": run_at.isoformat()},
            ).schedule_id

        def fired() -> bool:
            with app.app_context():
                found = db.session.scalar(sa.select(ScheduleExecution).where(ScheduleExecution.schedule_id == once))
                db.session.rollback()
                return found is not None

        wait_for(fired, 8)
    finally:
        running.stop()
    with app.app_context():
        execution = db.session.scalar(sa.select(ScheduleExecution).where(ScheduleExecution.schedule_id == once))
    lateness = (execution.executed_at - execution.scheduled_for).total_seconds()
    assert lateness < 1.0, f"fired {lateness:.2f} s late while receivers hung"
    assert len(hanging.calls) <= running.pump.per_webhook


def _locked() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))


@pytest.mark.parametrize(
    ("error", "level", "words", "traceback"),
    [
        (_locked(), logging.WARNING, "The database is busy", False),
        (ValueError("a bug"), logging.ERROR, "claiming the next webhook delivery failed", True),
    ],
)
def test_a_pool_thread_logs_a_database_fault_in_one_line_and_a_bug_in_full(
    app, monkeypatch, caplog, error, level, words, traceback
):
    def claim(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(delivery, "claim", claim)
    monkeypatch.setattr(faults, "_noted", {})
    pool = Pump(app, workers=2)
    try:
        with app.app_context(), caplog.at_level(logging.WARNING, logger="webapp.events.pump"):
            assert pool._next() is None
            assert pool._next() is None  # the same fault again within a minute: no second line
    finally:
        pool.stop()
    records = [r for r in caplog.records if r.name == "webapp.events.pump"]
    expected = 1 if not traceback else 2  # a bug is logged every time, in full
    assert len(records) == expected
    assert all(r.levelno == level and words in r.getMessage() for r in records)
    assert all((r.exc_info is not None) == traceback for r in records)
