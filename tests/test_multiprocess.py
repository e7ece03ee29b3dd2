"""Dispatchers as real OS processes and threads: exactly once, kill -9, clean stops, the timer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from tests.dispatch_helpers import due_count, gunicorn, wait_for
from webapp import create_app
from webapp.auth import Caller, create_agent
from webapp.clock import iso_z
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import calendar_store, cron, schedules

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
CLIENT = Caller("client-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_url(request, tmp_path) -> str:
    """Return a migrated, empty database that several processes can share."""
    if request.param == "postgresql":
        if not PG_URL:
            pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL=postgresql+psycopg://... to run")
        return request.getfixturevalue("database_url")
    if not PG_URL:
        return request.getfixturevalue("database_url")
    url = f"sqlite:///{tmp_path}/shared.db"  # the suite runs on PostgreSQL; this test needs a SQLite file too
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def seeded(shared_url):
    """Return an app on the shared database with client-1 registered; dispose of it afterwards."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": shared_url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        create_agent("client-1", None, ["report-v1"])
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


class Dispatchers:
    """`flask --app wsgi scheduler run` subprocesses on one database."""

    def __init__(self, url: str, logs: Path) -> None:
        """Remember the database and where the output goes."""
        self.url, self.logs, self.procs = url, logs, []

    def start(self, batch_size: int = 20, **env: str) -> subprocess.Popen:
        """Start one dispatcher and wait until it runs."""
        n = len(self.procs)
        out, err = self.logs / f"d{n}.out", self.logs / f"d{n}.err"
        environ = {**os.environ, "DATABASE_URL": self.url, "AUTO_UPGRADE": "0", "PYTHONUNBUFFERED": "1", **env}
        command = [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run", "--batch-size", str(batch_size)]
        with out.open("w") as stdout, err.open("w") as stderr:
            proc = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=stdout, stderr=stderr)
        proc.out, proc.err = out, err
        self.procs.append(proc)
        wait_for(lambda: "Dispatcher running" in out.read_text() or proc.poll() is not None, 30)
        assert proc.poll() is None, err.read_text()
        return proc

    def stop_all(self) -> None:
        """SIGTERM every live dispatcher; each must stop cleanly."""
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            assert proc.wait(30) == 0, proc.err.read_text()
            assert "Dispatcher stopped." in proc.out.read_text()

    def kill_all(self) -> None:
        """Make sure nothing outlives the test."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def dispatchers(shared_url, tmp_path):
    """Yield a Dispatchers launcher; kill leftovers at the end."""
    launcher = Dispatchers(shared_url, tmp_path)
    yield launcher
    launcher.kill_all()


def seed(app, one_time: int, minutely: int, run_at: datetime) -> dict[str, datetime]:
    """Create due schedules (one-time at run_at, every-minute ones up to 5 minutes behind); return first runs."""
    first = {}
    now = datetime.now(UTC)
    with app.app_context():
        for _ in range(one_time):
            s = schedules.create_schedule(CLIENT, {**BODY, "run_at": run_at.isoformat()}, now=run_at - timedelta(1))
            first[s.schedule_id] = s.next_run_at
        for i in range(minutely):
            s = schedules.create_schedule(
                CLIENT, {**BODY, "cron_expression": "* * * * *"}, now=now - timedelta(minutes=1 + i % 5)
            )
            first[s.schedule_id] = s.next_run_at
    return first


def assert_exactly_once(app, first: dict[str, datetime]) -> None:
    """Every occurrence up to each schedule's last run has one execution; every task one firing."""
    with app.app_context():
        task_ids = set(db.session.scalars(sa.select(Task.task_id)))
        rows = defaultdict(list)
        for e in db.session.scalars(sa.select(ScheduleExecution).order_by(ScheduleExecution.scheduled_for)):
            rows[e.schedule_id].append(e)
        fired = [e.task_id for runs in rows.values() for e in runs if e.task_id]
        assert len(fired) == len(set(fired)) and set(fired) == task_ids  # no orphan task, no half-written firing
        for s in db.session.scalars(sa.select(ScheduledTask)):
            runs = rows[s.schedule_id]
            assert [e.status for e in runs if not e.task_id] == ["SKIPPED"] * sum(1 for e in runs if not e.task_id)
            assert sum(1 for e in runs if e.task_id) == s.total_runs
            if s.cron_expression is None:
                assert (s.status, [e.scheduled_for for e in runs]) == ("COMPLETED", [first[s.schedule_id]])
                continue
            expected = [
                first[s.schedule_id],
                *cron.iter_between("* * * * *", "UTC", first[s.schedule_id], s.last_run_at),
            ]
            assert [e.scheduled_for for e in runs] == expected  # none missing, none twice
            assert runs[-1].task_id and s.next_run_at == cron.next_after("* * * * *", "UTC", s.last_run_at)


def test_three_dispatcher_processes_fire_each_occurrence_exactly_once(seeded, dispatchers):
    for _ in range(3):
        dispatchers.start(batch_size=20)
    run_at = datetime.now(UTC) + timedelta(seconds=3)  # all three wake for the same instant
    first = seed(seeded, one_time=300, minutely=200, run_at=run_at)
    horizon = max(first.values())
    wait_for(lambda: due_count(seeded, horizon) == 0, 45)
    dispatchers.stop_all()
    assert_exactly_once(seeded, first)


def test_a_dispatcher_killed_mid_batch_leaves_nothing_half_written(seeded, dispatchers):
    past = datetime.now(UTC) - timedelta(minutes=1)
    first = seed(seeded, one_time=150, minutely=50, run_at=past)
    holder = dispatchers.start(batch_size=50, SCHEDULER_TEST_HOLD_SECONDS="120")
    wait_for(lambda: "holding a batch" in holder.err.read_text(), 30)
    dispatchers.start(batch_size=20)
    dispatchers.start(batch_size=20)
    holder.send_signal(signal.SIGKILL)
    assert holder.wait(10) == -signal.SIGKILL
    wait_for(lambda: due_count(seeded, datetime.now(UTC) - timedelta(seconds=2)) == 0, 45)
    dispatchers.stop_all()
    assert_exactly_once(seeded, first)


def test_scheduler_run_fires_and_stops_cleanly_on_sigterm(seeded, dispatchers):
    proc = dispatchers.start()
    first = seed(seeded, one_time=1, minutely=0, run_at=datetime.now(UTC) + timedelta(seconds=1))
    wait_for(lambda: due_count(seeded, max(first.values())) == 0, 20)
    dispatchers.stop_all()
    assert "Stopping" in proc.out.read_text()
    assert_exactly_once(seeded, first)


def test_scheduler_run_stops_cleanly_on_sigint(seeded, dispatchers):
    proc = dispatchers.start()
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == 0, proc.err.read_text()
    assert "Dispatcher stopped." in proc.out.read_text()


def test_gunicorn_workers_each_run_a_dispatcher_and_fire_once(seeded, shared_url, tmp_path):
    with gunicorn(shared_url, f"unix:{tmp_path}/g.sock", tmp_path / "gunicorn.err"):
        first = seed(seeded, one_time=100, minutely=50, run_at=datetime.now(UTC) + timedelta(seconds=2))
        wait_for(lambda: due_count(seeded, max(first.values())) == 0, 30)
    assert_exactly_once(seeded, first)


# --- holidays: runs moved to an earlier business day --------------------------------------------------------------

# Three processes each call fire_due at one fixed instant, after waiting for a common start, so that they compete for
# the same due schedules (a fixed clock: business days depend on the date, which the real clock would decide).
FIRE_AT = """
import sys, time
from datetime import datetime
from webapp import create_app
from webapp.scheduling import dispatcher
url, now, start = sys.argv[1], datetime.fromisoformat(sys.argv[2]), float(sys.argv[3])
app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False})
with app.app_context():
    time.sleep(max(0.0, start - time.time()))
    print(sum(dispatcher.fire_due(now, batch_size=7) for _ in range(3)))
"""

# Reference dates: 2026-12-22 is a Tuesday; the calendar makes Thursday 24, Friday 25 and Monday 28 holidays, so
# PREVIOUS_BUSINESS_DAY moves every run from Thursday to Monday back to Wednesday 23 (New York, EST: 09:00 is 14:00Z).
HOLIDAY_SCHEDULES = {
    "0 9 * * *": ("2026-12-23T14:00:00Z", "2026-12-29T14:00:00Z"),  # Wed's own run, merged with Thu-Mon's
    "0 9 * * MON": ("2026-12-23T14:00:00Z", "2027-01-04T14:00:00Z"),  # Monday 28 moved back to Wednesday
    "0 10 * * FRI": ("2026-12-23T15:00:00Z", "2027-01-01T15:00:00Z"),  # Friday 25 moved back; 1 Jan is no holiday
}


def fire_together(url: str, now: str) -> int:
    """Run three fire_due processes at one instant, all at once; return how many they fired in all."""
    start = datetime.now(UTC).timestamp() + 4
    command = [sys.executable, "-c", FIRE_AT, url, now, str(start)]
    procs = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)
    ]
    outputs = [proc.communicate(timeout=90) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], [err for _, err in outputs]
    return sum(int(out.strip().splitlines()[-1]) for out, _ in outputs)


def test_runs_moved_to_the_previous_business_day_fire_once_with_three_dispatchers(seeded, shared_url):
    created = datetime(2026, 12, 22, 20, tzinfo=UTC)
    with seeded.app_context():
        holidays = {"name": "Holidays", "dates": ["2026-12-24", "2026-12-25", "2026-12-28"]}
        cid = calendar_store.create_calendar(CLIENT, holidays, now=created).calendar_id
        ids = {expression: [] for expression in HOLIDAY_SCHEDULES}
        for expression in HOLIDAY_SCHEDULES:
            for _ in range(40):
                body = {
                    **BODY,
                    "cron_expression": expression,
                    "timezone": "America/New_York",
                    "calendar_id": cid,
                    "holiday_rule": "PREVIOUS_BUSINESS_DAY",
                }
                ids[expression].append(schedules.create_schedule(CLIENT, body, now=created).schedule_id)
    assert fire_together(shared_url, "2026-12-23T15:00:30+00:00") == 120
    with seeded.app_context():
        for expression, (moved, following) in HOLIDAY_SCHEDULES.items():
            for schedule_id in ids[expression]:
                runs = db.session.scalars(
                    sa.select(ScheduleExecution).where(ScheduleExecution.schedule_id == schedule_id)
                ).all()
                assert [(iso_z(e.scheduled_for), e.status, bool(e.task_id)) for e in runs] == [(moved, "PENDING", True)]
                s = db.session.get(ScheduledTask, schedule_id)
                assert (iso_z(s.next_run_at), s.total_runs) == (following, 1)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 120
        db.session.rollback()
    # The holidays themselves pass without a second firing.
    assert fire_together(shared_url, "2026-12-28T23:00:00+00:00") == 0
