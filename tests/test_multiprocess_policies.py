"""Policies under real concurrency, on SQLite and PostgreSQL: overlap across dispatcher processes, racing backfills.

1. Three `scheduler run` processes and a `agents work` process serve SKIP and BUFFER_ONE
   schedules while the test keeps replaying occurrences (an operator's next_run_at, which fires
   for exactly that instant); sampled all along, no schedule ever has two runs going.
2. Two backfills of one range, in two processes started together, with a dispatcher running:
   each occurrence fires once.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests import test_multiprocess
from webapp import clock, create_app
from webapp.auth import Caller, create_agent
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import backfill, schedules

# The shared database (SQLite file or PostgreSQL) and the dispatcher launcher of the exactly-once tests.
shared_url, seeded, dispatchers = test_multiprocess.shared_url, test_multiprocess.seeded, test_multiprocess.dispatchers
ROOT = test_multiprocess.ROOT
CLIENT = Caller("client-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "0 0 1 1 *"}
GOING = "('PENDING', 'RUNNING')"


def _sample(app, buffered: set[str]) -> list[tuple]:
    """Return the schedules that have more than one run going, or more than one buffered, right now;
    remember the buffered executions seen."""
    with app.app_context():
        rows = db.session.execute(
            sa.text(
                "SELECT schedule_id, "
                f"SUM(CASE WHEN status IN {GOING} THEN 1 ELSE 0 END) AS going, "
                "SUM(CASE WHEN status = 'BUFFERED' THEN 1 ELSE 0 END) AS buffered "
                "FROM schedule_executions GROUP BY schedule_id"
            )
        ).all()
        waiting = db.session.scalars(
            sa.select(ScheduleExecution.execution_id).where(ScheduleExecution.status == "BUFFERED")
        )
        buffered.update(waiting)
        db.session.rollback()
    return [tuple(r) for r in rows if r.going > 1 or r.buffered > 1]


def _replay(app, ids: list[str], round_no: int) -> None:
    """Make every schedule due again at a fresh past instant (a distinct occurrence each round)."""
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=5, microseconds=round_no)
    with app.app_context():
        db.session.execute(
            sa.update(ScheduledTask).where(ScheduledTask.schedule_id.in_(ids)).values(next_run_at=at, status="ACTIVE")
        )
        db.session.commit()


def _worker(url: str, logs) -> subprocess.Popen:
    """Start the demo worker: each task takes 0.1 s."""
    environ = {**os.environ, "DATABASE_URL": url, "AUTO_UPGRADE": "0", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "agents", "work", "--capability", "report-v1"]
    command += ["--agent-id", "worker-1", "--poll-interval", "0.05", "--work-seconds", "0.1", "--limit", "5"]
    return subprocess.Popen(command, cwd=ROOT, env=environ, stdout=logs, stderr=subprocess.STDOUT)


def test_three_dispatchers_never_run_two_tasks_at_once_for_a_skip_or_buffer_one_schedule(
    seeded, dispatchers, shared_url, tmp_path
):
    with seeded.app_context():
        create_agent("worker-1", None, ["report-v1"])
        ids = [
            schedules.create_schedule(CLIENT, {**BODY, "overlap_policy": policy}).schedule_id
            for policy in ("SKIP", "BUFFER_ONE") * 10
        ]
    for _ in range(3):
        dispatchers.start(batch_size=4)
    with (tmp_path / "worker.log").open("w") as logs:
        worker = _worker(shared_url, logs)
    seen: list[tuple] = []
    buffered: set[str] = set()
    try:
        for round_no in range(25):
            _replay(seeded, ids, round_no)
            for _ in range(3):
                seen += _sample(seeded, buffered)
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _open_runs(seeded):
            seen += _sample(seeded, buffered)
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0, (tmp_path / "worker.log").read_text()
    dispatchers.stop_all()
    assert seen == []
    assert not _open_runs(seeded)
    with seeded.app_context():
        ledger = db.session.execute(sa.select(ScheduleExecution)).scalars().all()
    # Not vacuous: occurrences met a going run (skipped), buffered ones fired once it ended, all runs ended.
    assert sum(1 for e in ledger if e.reason == "OVERLAP") > 0
    assert sum(1 for e in ledger if e.status == "COMPLETED") > 20
    fired_later = [e for e in ledger if e.execution_id in buffered]
    assert fired_later and all(e.status == "COMPLETED" and e.task_id for e in fired_later)


def _open_runs(app) -> int:
    """Count executions still buffered, pending or running."""
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(ScheduleExecution)
        n = db.session.scalar(query.where(ScheduleExecution.status.in_(["BUFFERED", "PENDING", "RUNNING"])))
        db.session.rollback()
        return n


def _backfill_once(url: str, schedule_id: str, go, results) -> None:
    """A process that backfills the schedule's last two days when told to go; report how many it fired."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "AUTO_UPGRADE": False})
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        body = {"start": (end - timedelta(days=2)).isoformat(), "end": end.isoformat()}
        go.wait()
        fired, listed = backfill.backfill(CLIENT, schedule_id, body)
        results.put((fired, [item["scheduled_for"] for item in listed]))
        db.engine.dispose()


def test_two_concurrent_backfills_of_one_range_fire_each_occurrence_once(seeded, dispatchers, shared_url):
    with seeded.app_context():
        # Every 5 minutes: two days hold 576 occurrences; the schedule is also due now, for the dispatcher.
        sid = schedules.create_schedule(CLIENT, {**BODY, "cron_expression": "*/5 * * * *"}).schedule_id
        db.session.execute(
            sa.update(ScheduledTask).values(next_run_at=datetime.now(UTC) - timedelta(hours=3, minutes=1))
        )
        db.session.commit()
    ctx = mp.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_backfill_once, args=(shared_url, sid, go, results)) for _ in range(2)]
    for proc in procs:
        proc.start()
    dispatchers.start(batch_size=1)
    time.sleep(3)  # both connected and waiting
    go.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
        assert proc.exitcode == 0
    dispatchers.stop_all()
    with seeded.app_context():
        rows = db.session.execute(
            sa.select(ScheduleExecution.scheduled_for, ScheduleExecution.trigger, ScheduleExecution.task_id)
        ).all()
        tasks = db.session.scalar(sa.select(sa.func.count()).select_from(Task))
    occurrences = [r.scheduled_for for r in rows]
    assert len(occurrences) == len(set(occurrences))  # each once
    backfilled = [r for r in rows if r.trigger == "BACKFILL"]
    assert sum(fired for fired, _ in outcomes) == len(backfilled) > 0
    for _, listed in outcomes:  # every occurrence of each range has its one execution
        assert len(listed) == 576
        assert {clock.iso_z(at) for at in occurrences} >= set(listed)
    assert tasks == sum(1 for r in rows if r.task_id)
