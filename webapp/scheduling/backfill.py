"""Upcoming runs and backfill: a schedule's occurrences ahead of it, and firing the ones behind it.

upcoming() lists the next occurrences exactly as the dispatcher will fire them: from its
next_run_at, within end_at, no more than remaining_runs, each with its jitter.

backfill() fires the occurrences of [start, end) that have no execution yet, oldest first,
each exactly once: it holds the schedule row (FOR UPDATE on PostgreSQL, the write lock on
SQLite) while it reads which occurrences exist and inserts the rest, so a second backfill of
the same range waits and then finds them all; a dispatcher skips the locked row, and the
UNIQUE(schedule_id, scheduled_for) key refuses whatever would still slip through.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import islice

import sqlalchemy as sa

from .. import clock
from ..api.limits import BACKFILL_MAX, UPCOMING_MAX
from ..api.schemas import BACKFILL
from ..api.validation import range_message, validate
from ..auth import Caller
from ..clock import iso_z
from ..errors import conflict, invalid
from ..events import audit
from ..events.outbox import emit
from ..extensions import db, write_transaction
from ..models import EventType, ExecutionTrigger, ScheduledTask, ScheduleExecution, ScheduleStatus
from . import calendars, catchup, cron, planning, policies
from .bulkwrite import INSERT_EXECUTION, INSERT_TASK, Form, executemany, execution_row, task_rows_of
from .schedules import schedule_or_404

_MICRO = timedelta(microseconds=1)
_CHUNK = 500


def parse_count(raw: str | None, default: int = 10) -> int:
    """Read upcoming's count (1..UPCOMING_MAX); refuse a bad one with a 400."""
    try:
        count = default if raw is None else int(raw)
    except ValueError:
        raise invalid("count must be an integer", "count") from None
    if not 1 <= count <= UPCOMING_MAX:
        raise invalid(range_message("count", 1, UPCOMING_MAX), "count")
    return count


def upcoming(caller: Caller, schedule_id: str, count: int) -> list[dict]:
    """Return the schedule's next `count` runs: {scheduled_for, fire_at, local, note}; none unless ACTIVE."""
    schedule = schedule_or_404(caller, schedule_id)
    holidays = planning.holidays(db.session, schedule.calendar_id)
    runs = planned_runs(schedule, holidays, count)
    zone = cron.get_zone(schedule.timezone)
    policy = policies.policy_of(schedule, holidays)  # a one-time run has no jitter: it fires at its instant
    return [_upcoming(policy, run, zone) for run in runs]


def planned_runs(schedule: ScheduledTask, holidays: frozenset[date], count: int) -> list[calendars.Run]:
    """Return the next `count` runs of a schedule (its calendar holds `holidays`) as the dispatcher will
    take them: from its next_run_at, never past end_at, no more firings than remaining_runs; none
    unless ACTIVE. A holiday rule's skipped runs are listed (they are recorded) but not counted."""
    if schedule.status != ScheduleStatus.ACTIVE or schedule.next_run_at is None:
        return []
    zone = cron.get_zone(schedule.timezone)
    if not schedule.cron_expression:
        at = schedule.next_run_at
        return [calendars.Run(at, at.astimezone(zone), None, at)]
    policy = policies.policy_of(schedule, holidays)
    first = policies.occurrence_of(policy, schedule.next_run_at)
    runs = list(islice(policy.timing.runs(first - _MICRO), count))
    if not runs or runs[0].at != first:  # a next_run_at set off the rhythm fires as its own occurrence
        runs = [calendars.Run(first, first.astimezone(zone), None, first), *runs][:count]
    listed, fires = [], 0
    for run in runs:
        if policy.end_at is not None and run.at > policy.end_at:
            break
        if run.fires:
            if policy.remaining_runs is not None and fires >= policy.remaining_runs:
                break
            fires += 1
        listed.append(run)
    return listed


def _upcoming(policy: policies.Policy, run: calendars.Run, zone) -> dict:
    """Write one upcoming run: a holiday rule's mark ("moved", "holiday") and the DST note share `note`."""
    note = "; ".join(mark for mark in (run.holiday, run.note) if mark) or None
    return {
        "scheduled_for": iso_z(run.at),
        "fire_at": iso_z(policies.fire_at(policy, run.at)),
        "local": _local(run.at, zone),
        "note": note,
        "holiday": run.holiday,
        "nominal": iso_z(run.nominal),
    }


def _local(at: datetime, zone) -> str:
    """Write an instant in the schedule's zone, with its offset."""
    return at.astimezone(zone).isoformat(timespec="seconds")


def _range(body: dict, tz: str, now: datetime) -> tuple[datetime, datetime, bool]:
    """Validate a backfill body; return (start, end, dry_run)."""
    data = validate(BACKFILL, body)
    start, end = (policies.parse_bound(data[name], tz, name) for name in ("start", "end"))
    if end <= start:
        raise invalid("end must be after start", "end")
    if end > now:
        raise invalid("end is in the future; a backfill only fires occurrences that have passed", "end")
    return start, end, bool(data.get("dry_run"))


def occurrences_between(policy: policies.Policy, start: datetime, end: datetime) -> list[datetime]:
    """Return the schedule's occurrences in [start, end) within its bounds; 400 when there are over BACKFILL_MAX."""
    low = max(start, policy.start_at) if policy.start_at else start
    high = min(end, policy.end_at + _MICRO) if policy.end_at else end
    found: list[datetime] = []
    for at in policy.timing.instants(low - _MICRO, high):
        if at >= high:
            break
        found.append(at)
        if len(found) > BACKFILL_MAX:
            between, exact = catchup.count_between(policy.timing, found[0], high)
            total = f"{between + 1:,}" if exact else f"about {between + 1:,}"
            raise invalid(f"The range holds {total} occurrences; a backfill covers at most {BACKFILL_MAX:,}", "end")
    return found


def backfill(caller: Caller, schedule_id: str, body: dict, now: datetime | None = None) -> tuple[int, list[dict]]:
    """Fire the schedule's occurrences in [start, end) that have no execution yet; return (fired, occurrences).

    With dry_run nothing changes and fired is 0. Each fired occurrence takes one of remaining_runs;
    a backfill that needs more than remain is a 409, as is one of a one-time or DELETED schedule.
    """
    now = now or clock.utcnow()
    schedule = schedule_or_404(caller, schedule_id)
    start, end, dry_run = _range(body, schedule.timezone, now)
    db.session.rollback()  # the write transaction reads the schedule again, locked
    with write_transaction() as session:
        schedule = schedule_or_404(caller, schedule_id, session, lock=True)
        if schedule.status == ScheduleStatus.DELETED:
            raise conflict("Schedule is deleted and cannot be backfilled", "status")
        if not schedule.cron_expression:
            raise conflict("A one-time schedule has no occurrences to backfill", "run_at")
        policy = policies.policy_of(schedule, planning.holidays(session, schedule.calendar_id))
        wanted = occurrences_between(policy, start, end)
        taken = _existing(session, schedule_id, wanted)
        listed = [{"scheduled_for": iso_z(at), "action": "EXISTS" if at in taken else "FIRE"} for at in wanted]
        fire = [at for at in wanted if at not in taken]
        if policy.remaining_runs is not None and len(fire) > policy.remaining_runs:
            left = policy.remaining_runs
            raise conflict(
                f"The backfill would fire {len(fire):,} occurrences; only {left:,} of max_runs remain", "max_runs"
            )
        if dry_run or not fire:
            session.rollback()
            return 0, listed
        before, runs, last = audit.snapshot(schedule), schedule.total_runs, schedule.last_run_at
        _fire(session, schedule, fire, now)
        changes = audit.diff(before, audit.snapshot(schedule))
        changes["total_runs"] = [runs, schedule.total_runs]
        changes["last_run_at"] = [iso_z(last), iso_z(schedule.last_run_at)]
        changes["backfilled"] = [None, f"{len(fire)} occurrences in [{iso_z(start)}, {iso_z(end)})"]
        audit.record(session, caller, "backfill", schedule, changes, now)
        if schedule.status == ScheduleStatus.COMPLETED:
            data = {"status": "COMPLETED", "previous_status": before["status"], "reason": schedule.last_error}
            emit(session, EventType.SCHEDULE_COMPLETED, schedule.client_id, now, schedule_id=schedule_id, data=data)
    return len(fire), listed


def _existing(session, schedule_id: str, wanted: list[datetime]) -> set[datetime]:
    """Return which of the occurrences already have an execution."""
    e = ScheduleExecution
    found: set[datetime] = set()
    for i in range(0, len(wanted), _CHUNK):
        chunk = wanted[i : i + _CHUNK]
        query = sa.select(e.scheduled_for).where(e.schedule_id == schedule_id, e.scheduled_for.in_(chunk))
        found.update(session.scalars(query))
    return found


def _fire(session, schedule: ScheduledTask, occurrences: list[datetime], now: datetime) -> None:
    """Insert a task and a BACKFILL execution per occurrence, oldest first; count them on the schedule."""
    form = Form(session)
    stamp = form.at(now)
    new_tasks = task_rows_of(schedule, stamp, len(occurrences))
    executions = [
        execution_row(
            schedule.schedule_id, task["task_id"], form.at(at), stamp, None, trigger=ExecutionTrigger.BACKFILL
        )
        for task, at in zip(new_tasks, occurrences, strict=True)
    ]
    executemany(session, INSERT_TASK, new_tasks)
    executemany(session, INSERT_EXECUTION, executions)
    schedule.total_runs = (schedule.total_runs or 0) + len(occurrences)
    if schedule.last_run_at is None or occurrences[-1] > schedule.last_run_at:
        schedule.last_run_at = occurrences[-1]
    if schedule.remaining_runs is not None:
        schedule.remaining_runs -= len(occurrences)
        if schedule.remaining_runs == 0:
            schedule.status, schedule.next_run_at = ScheduleStatus.COMPLETED, None
            schedule.last_error = f"Completed: reached max_runs ({schedule.max_runs:,} firings)"
    schedule.updated_at = now
