"""A stalled writer cannot freeze the API: writes answer within 5 s with 2xx or 503, never 500.

A dispatcher thread stalls inside its firing transaction (the test hook SCHEDULER_TEST_HOLD_SECONDS
holds it after its claim), as a SIGSTOPped process would. Meanwhile the API is asked to write: on
SQLite every writer needs the one write lock (a request waits DATABASE_LOCK_TIMEOUT, 2 s, then
answers 503); on PostgreSQL only the held rows are locked (lock_timeout, 2 s per lock), so other writes go
through. When the stall ends, the held firing commits once and a refused request changed nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.dispatch_helpers import wait_for
from webapp import clock, create_app, faults
from webapp.extensions import db, discard_session
from webapp.models import ScheduledTask, ScheduleExecution
from webapp.scheduling import dispatcher

HOLD = 6.0


class _Holding(logging.Handler):
    """Sets an event when the dispatcher says it holds its batch."""

    def __init__(self) -> None:
        """Start unset."""
        super().__init__()
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        """Watch for the hold message."""
        if "test hold" in record.getMessage():
            self.event.set()


def test_api_writes_answer_within_5_s_while_a_dispatcher_stalls_in_its_transaction(app, client, make_agent):
    headers = make_agent("client-1")
    body = {"task_type": "report", "capability_required": "report-v1"}
    run_at = clock.utcnow() + timedelta(seconds=0.3)
    held = client.post("/aitp/tasks/schedule", json={**body, "run_at": run_at.isoformat()}, headers=headers)
    other = client.post("/aitp/tasks/schedule", json={**body, "cron_expression": "*/5 * * * *"}, headers=headers)
    held, other = held.get_json()["schedule_id"], other.get_json()["schedule_id"]
    wait_for(lambda: clock.utcnow() > run_at, 5)

    app.config["DISPATCH_HOLD_SECONDS"] = HOLD
    watcher = _Holding()
    logging.getLogger(dispatcher.__name__).addHandler(watcher)

    def stall() -> None:
        """Fire what is due, stalling inside the transaction."""
        with app.app_context():
            dispatcher.fire_due()

    stalled = threading.Thread(target=stall)
    stalled.start()
    try:
        assert watcher.event.wait(10), "the dispatcher never reached its hold"
        requests = {
            "create": ("POST", "/aitp/tasks/schedule", {**body, "cron_expression": "0 9 * * *"}),
            "edit held": ("PUT", f"/aitp/tasks/schedule/{held}", {"priority": 9}),
            "run held": ("POST", f"/aitp/tasks/schedule/{held}/run", None),
            "edit other": ("PUT", f"/aitp/tasks/schedule/{other}", {"priority": 8}),
            "claim": ("POST", "/aitp/tasks/claim", {"capabilities": ["report-v1"]}),
        }
        answers = {}

        def send(name: str) -> None:
            """Send one write with its own client, timing it."""
            method, url, json = requests[name]
            started = time.monotonic()
            response = app.test_client().open(url, method=method, json=json, headers=headers)
            answers[name] = (response, time.monotonic() - started)

        senders = [threading.Thread(target=send, args=(name,)) for name in requests]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
    finally:
        stalled.join(30)
        logging.getLogger(dispatcher.__name__).removeHandler(watcher)
    print(", ".join(f"{name}: {r.status_code} in {took:.2f} s" for name, (r, took) in answers.items()))
    assert set(answers) == set(requests)
    for name, (response, took) in answers.items():
        assert took < 5, f"{name} took {took:.1f} s"
        assert response.status_code == 503 or 200 <= response.status_code < 300, (name, response.get_json())
        if response.status_code == 503:
            assert response.get_json()["error"]["code"] == "unavailable" and response.headers["Retry-After"]
    refused = {name for name, (response, _) in answers.items() if response.status_code == 503}
    if db_is_postgres(app):
        assert refused == {"edit held", "run held"}  # only the held row is locked
    else:
        assert refused == set(requests)  # SQLite's one write lock is held
    with app.app_context():
        executions = db.session.scalars(sa.select(ScheduleExecution).where(ScheduleExecution.schedule_id == held)).all()
        schedule = db.session.get(ScheduledTask, held)
        assert [e.scheduled_for for e in executions] == [schedule.run_at]
        assert schedule.priority == 5 and schedule.status == "COMPLETED"
        assert db.session.get(ScheduledTask, other).priority == (5 if "edit other" in refused else 8)
        assert len(executions) == 1  # the refused run-now left nothing behind


def db_is_postgres(app) -> bool:
    """Tell whether the app runs on PostgreSQL."""
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def test_a_stalled_postgresql_session_loses_its_row_locks(database_url, make_agent, client):
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no sessions to end (its stall test is above)")
    headers = make_agent("client-1")
    body = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}
    sid = client.post("/aitp/tasks/schedule", json=body, headers=headers).get_json()["schedule_id"]
    stalled = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SCHEDULER_ENABLED": False,
            "DATABASE_IDLE_TRANSACTION_TIMEOUT": 1,
        }
    )
    with stalled.app_context():
        assert db.session.scalar(sa.text("SHOW idle_in_transaction_session_timeout")) == "1s"
        assert db.session.scalar(sa.text("SHOW lock_timeout")) == "2s"
        assert db.session.scalar(sa.text("SHOW statement_timeout")) == "30s"
        db.session.execute(sa.select(ScheduledTask).where(ScheduledTask.schedule_id == sid).with_for_update())
        time.sleep(1.5)  # stalled inside its transaction, holding the row
        started = time.monotonic()
        response = client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 9}, headers=headers)
        took = time.monotonic() - started
        with pytest.raises(sa.exc.DBAPIError) as ended:  # the server ended the stalled session
            db.session.execute(sa.text("SELECT 1"))
        assert faults.classify(ended.value) is not None
        discard_session()
        db.session.remove()
        db.engine.dispose()
    assert (response.status_code, response.get_json()["priority"]) == (200, 9)
    assert took < 1.0  # no wait: the row was free again
