"""The "every policy set" run of bench/fire.py: schedules with overlap SKIP, jitter, max_runs and a
catch-up window, half of them with a run still going, so half fire and half are skipped for overlap."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task, new_id
from webapp.scheduling import policies

JITTER = 4  # seconds: every jittered instant comes within the dispatcher's on-time lane (5 s)
WINDOW = 3600


def policy_fields(schedule_id: str, expression: str | None, due: datetime) -> dict:
    """Return the policy columns of one bench schedule, and its next_run_at (the occurrence plus its jitter)."""
    fields = {"overlap_policy": "SKIP", "catchup_window_seconds": WINDOW, "retry_policy": {"max_attempts": 3}}
    if expression is None:  # a one-time schedule refuses jitter and max_runs
        return {**fields, "next_run_at": due}
    offset = policies.jitter_offset(schedule_id, due, JITTER)
    return {**fields, "jitter_seconds": JITTER, "max_runs": 1000, "remaining_runs": 1000, "next_run_at": due + offset}


def seed_going_runs(app, due: datetime) -> int:
    """Give every other schedule a run still going (a PENDING task from yesterday); return how many."""
    with app.app_context():
        ids = list(db.session.scalars(sa.select(ScheduledTask.schedule_id).order_by(ScheduledTask.schedule_id)))[::2]
        tasks, executions = [], []
        for sid in ids:
            task_id = new_id("task")
            tasks.append(
                {
                    "task_id": task_id,
                    "client_id": "bench",
                    "task_type": "report",
                    "capability_required": "report-v1",
                    "input_data": {},
                    "priority": 5,
                    "status": "PENDING",
                    "attempts": 0,
                    "created_at": due - timedelta(days=1),
                    "updated_at": due - timedelta(days=1),
                }
            )
            executions.append(
                {
                    "execution_id": new_id("exec"),
                    "schedule_id": sid,
                    "task_id": task_id,
                    "scheduled_for": due - timedelta(days=1),
                    "executed_at": due - timedelta(days=1),
                    "status": "PENDING",
                }
            )
        for start in range(0, len(ids), 5000):
            db.session.execute(sa.insert(Task.__table__), tasks[start : start + 5000])
            db.session.execute(sa.insert(ScheduleExecution.__table__), executions[start : start + 5000])
        db.session.commit()
        return len(ids)


def verify_policies(app, count: int, going: int, now: datetime) -> str:
    """Check each schedule's occurrence was decided once: fired, or skipped for overlap where a run was going
    (`going` of them; 0 when overlap is allowed)."""
    with app.app_context():
        e = ScheduleExecution
        fresh = sa.select(e.task_id, e.reason).where(e.scheduled_for > now - timedelta(hours=1))
        rows = db.session.execute(fresh).all()
        fired = sum(1 for r in rows if r.task_id)
        skipped = sum(1 for r in rows if r.reason == "OVERLAP")
        dupes = db.session.scalar(
            sa.select(sa.func.count()).select_from(
                sa.select(e.schedule_id).group_by(e.schedule_id, e.scheduled_for).having(sa.func.count() > 1).subquery()
            )
        )
        due = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(ScheduledTask)
            .where(ScheduledTask.status == "ACTIVE", ScheduledTask.next_run_at <= now)
        )
    ok = (fired, skipped, dupes, due) == (count - going, going, 0, 0)
    assert ok, f"fired={fired} skipped={skipped} duplicates={dupes} still due={due}"
    return f"{fired:,} fired, {skipped:,} skipped for overlap, 0 duplicates, 0 still due"
