"""A schedule's runs from everything that decides them: cron, zone, DST policy and holiday calendar.

The database side of calendars.Timing: build a schedule's Timing (reading its calendar's dates),
find its next run, record the runs PREVIOUS_BUSINESS_DAY moved into the past, and plan again the
schedules of a calendar whose dates changed.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from ..clock import iso_z
from ..errors import ServiceError, invalid
from ..extensions import is_postgres
from ..models import (
    Calendar,
    ExecutionReason,
    ExecutionStatus,
    ExecutionTrigger,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    new_id,
)
from . import calendars, cron, policies

POLICY_DEFAULTS = {"dst_gap": "SHIFT", "dst_repeat": "FIRST", "calendar_id": None, "holiday_rule": None}
HOLIDAY_NOTE = "Holiday: the run of {nominal} moved to {at}, which had already passed when it was planned"


def holidays(session, calendar_id: str | None) -> frozenset[date]:
    """Return the dates of a calendar (none without one)."""
    if calendar_id is None:
        return frozenset()
    dates = session.scalar(sa.select(Calendar.dates).where(Calendar.calendar_id == calendar_id))
    return frozenset(date.fromisoformat(d) for d in dates or ())


def check_usable(session, client_id: str, calendar_id: str) -> None:
    """Refuse a calendar_id that is unknown or belongs to another client than the schedule's (400)."""
    owner = session.scalar(sa.select(Calendar.client_id).where(Calendar.calendar_id == calendar_id))
    if owner != client_id:
        raise invalid(f"Unknown calendar_id: {calendar_id}", "calendar_id")


def check_policy(expression: str | None, policy: dict) -> None:
    """Refuse a DST policy or holiday rule that the schedule cannot have, with a 400 that says why."""
    try:
        cron.check_dst_policy(expression, policy["dst_gap"], policy["dst_repeat"])
    except cron.CronError as err:
        raise invalid(err.message, err.field) from None
    if expression is None and (policy["holiday_rule"] or policy["calendar_id"]):
        field = "holiday_rule" if policy["holiday_rule"] else "calendar_id"
        raise invalid(f"{field} applies to cron schedules; a run_at is one chosen instant", field)
    if policy["calendar_id"] and not policy["holiday_rule"]:
        raise invalid(
            "calendar_id needs a holiday_rule (SKIP, NEXT_BUSINESS_DAY or PREVIOUS_BUSINESS_DAY) that says what a "
            "run on a holiday does",
            "holiday_rule",
        )


def batch_holidays(session, rows) -> dict[str, frozenset[date]]:
    """Return the dates of every calendar the rows of a batch use, by calendar_id, in one query."""
    ids = {row.calendar_id for row in rows if row.calendar_id and row.holiday_rule}
    if not ids:
        return {}
    found = session.execute(sa.select(Calendar.calendar_id, Calendar.dates).where(Calendar.calendar_id.in_(ids)))
    return {calendar_id: frozenset(date.fromisoformat(d) for d in dates or ()) for calendar_id, dates in found}


def timing_for(expression: str, tz: str, policy: dict, dates: frozenset[date]) -> calendars.Timing:
    """Return the Timing of a cron expression under a policy dict (dst_gap, dst_repeat, holiday_rule)."""
    rule = policy.get("holiday_rule")
    return calendars.Timing(
        expression, tz, policy["dst_gap"], policy["dst_repeat"], rule, dates if rule else frozenset()
    )


def record_late_moves(session, schedule_id: str, timing: calendars.Timing, now: datetime) -> int:
    """Record as SKIPPED each run moved back to `now` or earlier, unless that instant has an execution already."""
    late = timing.moved_before(now)
    if not late:
        return 0
    taken = set(
        session.scalars(
            sa.select(ScheduleExecution.scheduled_for).where(
                ScheduleExecution.schedule_id == schedule_id,
                ScheduleExecution.scheduled_for.in_([run.at for run in late]),
            )
        )
    )
    recorded = 0
    for run in late:
        if run.at in taken:
            continue  # merged with a run that already happened
        taken.add(run.at)
        note = HOLIDAY_NOTE.format(nominal=iso_z(run.nominal), at=iso_z(run.at))
        session.add(
            ScheduleExecution(
                execution_id=new_id("exec"),
                schedule_id=schedule_id,
                task_id=None,
                scheduled_for=run.at,
                executed_at=now,
                status=ExecutionStatus.SKIPPED,
                trigger=ExecutionTrigger.SCHEDULE,
                reason=ExecutionReason.HOLIDAY,
                error_message=note,
            )
        )
        recorded += 1
    return recorded


def plan_next(
    session, schedule: ScheduledTask, dates: frozenset[date], now: datetime, record: bool = True
) -> datetime | None:
    """Return when a cron schedule fires next after `now` (bounds and jitter applied; None past end_at).

    With `record`, the runs its holiday rule moved into the past are recorded as skipped.
    """
    timing = calendars.Timing.of(schedule, dates)
    policy = policies.policy_of(schedule)
    try:
        occurrence = policies.next_occurrence(policy, now, timing)
    except cron.CronError as err:
        raise invalid(err.message, "cron_expression") from None
    if record:
        record_late_moves(session, schedule.schedule_id, timing, now)
    return None if occurrence is None else policies.fire_at(policy, occurrence)


def replan_calendar(session, calendar: Calendar, now: datetime) -> int:
    """Plan again the next run of every ACTIVE cron schedule that uses a calendar; return how many moved.

    A schedule already due keeps its next run: the dispatcher is about to take it.
    """
    dates = frozenset(date.fromisoformat(d) for d in calendar.dates or ())
    query = sa.select(ScheduledTask).where(
        ScheduledTask.calendar_id == calendar.calendar_id,
        ScheduledTask.status == ScheduleStatus.ACTIVE,
        ScheduledTask.cron_expression.is_not(None),
    )
    if is_postgres(session):
        query = query.with_for_update()
    moved = 0
    for schedule in session.scalars(query):
        if schedule.next_run_at is not None and schedule.next_run_at <= now:
            continue
        try:
            following = plan_next(session, schedule, dates, now)
        except ServiceError as err:
            schedule.status, schedule.last_error = ScheduleStatus.FAILED, f"Next run cannot be computed: {err.message}"
            schedule.next_run_at = None
            continue
        if following is None:  # past end_at now: the schedule is done, as after its last run
            schedule.status, schedule.last_error = ScheduleStatus.COMPLETED, "No occurrence left before end_at"
        if following != schedule.next_run_at:
            schedule.next_run_at = following
            schedule.updated_at = now
            moved += 1
    return moved
