"""Load without loss: API writers from several threads while two dispatchers drain a backlog.

A backlog of daily schedules three days overdue is drained by two fire_due loops at once,
while writer threads create and edit schedules through the API (some of them the very
schedules being fired). No client may see a 5xx or "database is locked"; every overdue
schedule fires exactly once, for its newest occurrence, with each older one SKIPPED once.
Runs on SQLite, and on PostgreSQL when TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from webapp.auth import OPERATOR
from webapp.extensions import db, write_transaction
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import schedules
from webapp.scheduling.dispatcher import fire_due

BACKLOG = 300
WRITERS = 4
WRITES_PER_WRITER = 40
DISPATCHERS = 2
TIME_LIMIT = 30.0
DAILY = "0 3 * * *"


def _daily_occurrences(after: datetime, now: datetime) -> list[datetime]:
    """Return the 03:00 UTC instants from `after` (included) up to `now` (included)."""
    out, at = [], after
    while at <= now:
        out.append(at)
        at += timedelta(days=1)
    return out


def _backlog(app, now: datetime) -> tuple[list[str], datetime]:
    """Create the overdue schedules; return their ids and their (shared) overdue next_run_at."""
    first = now.replace(hour=3, minute=0, second=0, microsecond=0) - timedelta(days=3)
    body = {"client_id": "backlog", "task_type": "t", "capability_required": "c", "cron_expression": DAILY}
    with app.app_context():
        ids = [schedules.create_schedule(OPERATOR, body).schedule_id for _ in range(BACKLOG)]
        with write_transaction() as session:
            session.execute(
                sa.update(ScheduledTask).where(ScheduledTask.client_id == "backlog").values(next_run_at=first)
            )
    return ids, first


def _timed(answers: list, send, *args, **kwargs):
    """Send one request; keep its answer with the span of time it was in flight."""
    began = time.monotonic()
    response = send(*args, **kwargs)
    response.span = (began, time.monotonic())
    answers.append(response)
    return response


def _writer(app, headers: dict, backlog: list[str], index: int, answers: list) -> None:
    """Create a schedule, pause and resume it, and edit a backlog schedule, over and over."""
    client = app.test_client()
    for i in range(WRITES_PER_WRITER // 4):
        body = {"task_type": f"w{index}", "capability_required": "c", "cron_expression": "0 4 1 1 *"}
        created = _timed(answers, client.post, "/aitp/tasks/schedule", json=body, headers=headers)
        sid = created.get_json().get("schedule_id") if created.status_code == 201 else None
        if sid:
            for status in ("PAUSED", "ACTIVE"):
                _timed(answers, client.put, f"/aitp/tasks/schedule/{sid}", json={"status": status}, headers=headers)
        # Edit a schedule the dispatchers are firing right now: neither may undo the other.
        target = backlog[(index * 97 + i * 31) % len(backlog)]
        _timed(answers, client.put, f"/aitp/tasks/schedule/{target}", json={"priority": 1 + i % 10}, headers=headers)


def _dispatcher(app, now: datetime, writers_done: threading.Event, fired: list, errors: list) -> None:
    """Call fire_due until the writers are done and nothing more is due."""
    try:
        while True:
            began = time.monotonic()
            with app.app_context():
                count = fire_due(now, batch_size=50)
            fired.append((began, time.monotonic(), count))
            if writers_done.is_set() and count == 0:
                return
    except Exception as err:  # reported by the test, with its type
        errors.append(err)


def test_writers_and_dispatchers_together_lose_and_double_nothing(app, make_agent):
    admin = make_agent("admin", admin=True)
    make_agent("backlog")
    now = datetime.now(UTC).replace(microsecond=0)
    backlog, first = _backlog(app, now)
    started = time.monotonic()
    answers: list = []
    fired: list[tuple[float, float, int]] = []
    errors: list[Exception] = []
    writers_done = threading.Event()
    dispatchers = [
        threading.Thread(target=_dispatcher, args=(app, now, writers_done, fired, errors)) for _ in range(DISPATCHERS)
    ]
    writers = [threading.Thread(target=_writer, args=(app, admin, backlog, i, answers)) for i in range(WRITERS)]
    for thread in dispatchers + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=TIME_LIMIT)
    writers_done.set()
    for thread in dispatchers:
        thread.join(timeout=TIME_LIMIT)
    elapsed = time.monotonic() - started
    total = sum(count for _, _, count in fired)
    print(f"load: {len(answers)} API writes, {total} firings by {DISPATCHERS} dispatchers in {elapsed:.1f} s")

    assert not any(t.is_alive() for t in dispatchers + writers), "a thread is stuck"
    assert errors == [], f"a dispatcher failed: {errors!r}"
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 201}, statuses
    assert not [r for r in answers if b"locked" in r.get_data()]
    assert len(answers) == WRITERS * WRITES_PER_WRITER
    assert total == BACKLOG
    # The writes really met the firings: some request was in flight while a fire_due call was firing.
    firing = [(began, ended) for began, ended, count in fired if count]
    assert any(r.span[0] < ended and began < r.span[1] for began, ended in firing for r in answers), "no overlap"
    assert elapsed < TIME_LIMIT

    expected = _daily_occurrences(first, now)
    with app.app_context():
        rows = db.session.execute(
            sa.select(ScheduleExecution.schedule_id, ScheduleExecution.scheduled_for, ScheduleExecution.status)
        ).all()
        runs = dict(db.session.execute(sa.select(ScheduledTask.schedule_id, ScheduledTask.total_runs)).all())
        tasks = db.session.scalar(sa.select(sa.func.count()).select_from(Task))
        created = db.session.scalar(
            sa.select(sa.func.count()).select_from(ScheduledTask).where(ScheduledTask.client_id == "admin")
        )
    assert created == statuses[201]
    assert tasks == BACKLOG
    by_schedule: dict[str, list] = {}
    for schedule_id, at, status in rows:
        by_schedule.setdefault(schedule_id, []).append((at, status))
    assert set(by_schedule) == set(backlog), "a firing went to a schedule that was not due, or one was lost"
    for schedule_id in backlog:
        got = sorted(by_schedule[schedule_id])
        want = [(at, "SKIPPED") for at in expected[:-1]] + [(expected[-1], "PENDING")]
        assert got == want, schedule_id
        assert runs[schedule_id] == 1
