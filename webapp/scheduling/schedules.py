"""Every rule about a schedule's life: create, update, pause, resume, delete, read; who may see it, what it allows."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .. import clock
from ..api.limits import DEFAULT_PRIORITY, MAX_INPUT_BYTES
from ..api.schemas import SCHEDULE_CREATE, SCHEDULE_UPDATE
from ..api.validation import validate
from ..auth import Caller
from ..errors import conflict, invalid, not_found
from ..events import audit
from ..extensions import db, is_postgres, write_transaction
from ..models import Agent, ScheduledTask, ScheduleStatus, new_id
from . import cron, planning, policies
from .next_run import check_zone, cron_error, first_run, resume_next, timing_policy

# What an operator or agent may do to a schedule, by its status (see allowed_actions).
ACTIONS = ("pause", "resume", "run", "delete", "edit")
# Fields an update copies as they come (validated by the request schema alone).
_PLAIN_FIELDS = ("unclaimed_alert_seconds",)


def check_input_data(value: dict) -> dict:
    """Refuse input_data over 64 KiB once serialized."""
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_INPUT_BYTES:
        raise invalid("input_data is larger than 64 KiB", "input_data")
    return value


def check_timing(cron_expression: str | None, run_at: str | None, tz: str, now: datetime) -> tuple:
    """Validate the timing of a schedule; return (expression, run_at, next_run_at)."""
    try:
        cron.get_zone(tz)
        if cron_expression is not None and run_at is not None:
            raise invalid("Give either cron_expression or run_at, not both", "cron_expression")
        if cron_expression is None and run_at is None:
            raise invalid("Give cron_expression or run_at", "cron_expression")
        if cron_expression is not None:
            expression = cron.normalize(cron_expression)
            return expression, None, cron.next_after(expression, tz, now)
        when = cron.parse_instant(run_at, tz)
    except cron.CronError as err:
        raise cron_error(err) from None
    refuse_past(when, now)
    return None, when, when


def refuse_past(run_at: datetime, now: datetime | None = None) -> None:
    """Refuse a one-time run_at that is not after `now` (400)."""
    if run_at <= (now or clock.utcnow()):
        raise invalid("run_at is in the past", "run_at")


def schedule_or_404(
    caller: Caller, schedule_id: str, session: Session | None = None, lock: bool = False
) -> ScheduledTask:
    """Return the caller's schedule or raise 404 (someone else's is absent too).

    With `lock`, inside a write transaction: the row is locked FOR UPDATE on PostgreSQL (SQLite's
    writer already holds the database) and read afresh, never from the session's identity map.
    """
    session = session or db.session()
    query = sa.select(ScheduledTask).where(ScheduledTask.schedule_id == schedule_id)
    if lock:
        query = query.execution_options(populate_existing=True)
        if is_postgres(session):
            query = query.with_for_update()
    schedule = session.scalar(query)
    if schedule is None or not caller.may_see(schedule.client_id):
        raise not_found()
    return schedule


def allowed_actions(schedule: ScheduledTask) -> frozenset[str]:
    """Return which of ACTIONS the schedule allows now; the dashboard shows exactly these.

    Pause an ACTIVE one; resume a PAUSED or FAILED one; run now, delete or edit any that is
    not DELETED (a deleted schedule keeps its history and allows nothing).
    """
    status = schedule.status
    if status == ScheduleStatus.DELETED:
        return frozenset()
    allowed = {"run", "delete", "edit"}
    if status == ScheduleStatus.ACTIVE:
        allowed.add("pause")
    if status in (ScheduleStatus.PAUSED, ScheduleStatus.FAILED):
        allowed.add("resume")
    return frozenset(allowed)


def client_for(caller: Caller, client_id: str | None) -> str:
    """Return the client a create is for (the caller by default); refuse none, or another's for a non-admin."""
    client_id = client_id or caller.agent_id
    if client_id is None:
        raise invalid("client_id is required", "client_id")
    if not caller.may_see(client_id):
        raise invalid("client_id must be your own agent id", "client_id")
    return client_id


def known_client(session: Session, client_id: str) -> None:
    """Refuse a client that is not a registered agent."""
    if session.get(Agent, client_id) is None:
        raise invalid(f"Unknown client_id: {client_id}", "client_id")


def create_schedule(caller: Caller, body: dict, now: datetime | None = None) -> ScheduledTask:
    """Create a schedule from a request body; return it."""
    now = now or clock.utcnow()
    data = validate(SCHEDULE_CREATE, body)
    client_id = client_for(caller, data.get("client_id"))
    tz = data.get("timezone", "UTC")
    expression, run_at, next_run = check_timing(data.get("cron_expression"), data.get("run_at"), tz, now)
    input_data = check_input_data(data.get("input_data", {}))
    schedule_id = new_id("sched")
    values = policies.merged(data, tz)
    values.update(cron_expression=expression, run_at=run_at, timezone=tz)
    policies.check(values, now, set(data))
    policy = {field: data.get(field, default) for field, default in planning.POLICY_DEFAULTS.items()}
    planning.check_policy(expression, policy)
    timing = None
    if expression is not None:
        timing = planning.timing_for(expression, tz, policy, planning.holidays(db.session, policy["calendar_id"]))
        next_run = first_run(schedule_id, values, now, "end_at", timing)
    with write_transaction() as session:
        known_client(session, client_id)
        if policy["calendar_id"]:
            planning.check_usable(session, client_id, policy["calendar_id"])
        schedule = ScheduledTask(
            schedule_id=schedule_id,
            client_id=client_id,
            task_type=data["task_type"],
            capability_required=data["capability_required"],
            input_data=input_data,
            priority=data.get("priority", DEFAULT_PRIORITY),
            cron_expression=expression,
            run_at=run_at,
            timezone=tz,
            description=data.get("description"),
            unclaimed_alert_seconds=data.get("unclaimed_alert_seconds"),
            next_run_at=next_run,
            status=ScheduleStatus.ACTIVE,
            total_runs=0,
            failed_runs=0,
            created_at=now,
            updated_at=now,
            consecutive_failures=0,
            remaining_runs=values["max_runs"],
            **{name: values[name] for name in policies.DEFAULTS},
            **policy,
        )
        session.add(schedule)
        if timing is not None:
            planning.record_late_moves(session, schedule_id, timing, now)
        created = {k: [None, v] for k, v in audit.snapshot(schedule).items() if v is not None}
        audit.record(session, caller, "create", schedule, created, now)
    return schedule


def update_schedule(caller: Caller, schedule_id: str, body: dict, now: datetime | None = None) -> ScheduledTask:
    """Apply the editable fields of a request body and recompute next_run_at, in one write transaction."""
    now = now or clock.utcnow()
    data = validate(SCHEDULE_UPDATE, body)
    if "input_data" in data:
        check_input_data(data["input_data"])
    with write_transaction() as session:
        return apply_update(session, caller, schedule_id, data, now)


def apply_update(session, caller: Caller, schedule_id: str, data: dict, now: datetime, record: bool = True):
    """Apply validated changes to a schedule in the session's transaction; return the schedule.

    1. A new cron_expression or run_at replaces the other and computes the next run from now;
       it also revives a COMPLETED or FAILED schedule unless the body names a status.
    2. A new timezone, start_at, end_at or jitter_seconds recomputes a cron schedule's next run
       from now; a new max_runs starts the count afresh. Either revives a cron schedule that
       COMPLETED by its bounds or its run limit.
    3. Resume (status ACTIVE on a schedule that was not) computes from now: no catch-up; it
       clears consecutive_failures and paused_reason.
    4. With `record` off (a preview of the change), nothing but the schedule's own fields changes.
    """
    changed = set(data)
    schedule = schedule_or_404(caller, schedule_id, session, lock=record)
    if "edit" not in allowed_actions(schedule):
        raise conflict("Schedule is deleted and cannot be changed", "status")
    before = audit.snapshot(schedule)
    retimed = "cron_expression" in data or "run_at" in data
    tz = data.get("timezone", schedule.timezone)
    expression, run_at, next_run = schedule.cron_expression, schedule.run_at, schedule.next_run_at
    if retimed:
        expression, run_at, next_run = check_timing(data.get("cron_expression"), data.get("run_at"), tz, now)
    else:
        check_zone(tz)
    renewed = expression is not None and bool(changed & _RENEWING)
    if schedule.status == ScheduleStatus.COMPLETED and "status" in data and not (retimed or renewed):
        raise conflict("A completed schedule needs a new run_at, cron_expression, end_at or max_runs", "status")
    values = policies.merged(data, tz, schedule)
    values.update(cron_expression=expression, run_at=run_at, timezone=tz)
    policies.check(values, now, changed)
    policy, replan = timing_policy(session, schedule, data, expression)
    if "max_runs" in data:
        values["remaining_runs"] = values["max_runs"]
    status = data.get("status", schedule.status)
    if (
        "status" not in data
        and schedule.status in (ScheduleStatus.COMPLETED, ScheduleStatus.FAILED)
        and (retimed or renewed)
    ):
        status = ScheduleStatus.ACTIVE
    resumed = status == ScheduleStatus.ACTIVE and schedule.status != ScheduleStatus.ACTIVE
    if expression is not None and status in (ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED):
        if retimed or resumed or replan or changed & (_RENEWING | {"timezone", "jitter_seconds"}):
            timing = planning.timing_for(expression, tz, policy, planning.holidays(session, policy["calendar_id"]))
            field = "end_at" if changed & _BOUNDS else "status"
            next_run = first_run(schedule.schedule_id, values, now, field, timing)
            if record and status == ScheduleStatus.ACTIVE:
                planning.record_late_moves(session, schedule.schedule_id, timing, now)
    elif resumed and not retimed:
        next_run = resume_next(run_at, now)
    for field in ("task_type", "capability_required", "input_data", "priority", "description", *_PLAIN_FIELDS):
        if field in data:
            setattr(schedule, field, data[field])
    for field in (*policies.DEFAULTS, "remaining_runs"):
        if field in values:
            setattr(schedule, field, values[field])
    for field, value in policy.items():
        setattr(schedule, field, value)
    schedule.cron_expression, schedule.run_at, schedule.timezone = expression, run_at, tz
    schedule.next_run_at = next_run
    if status == ScheduleStatus.ACTIVE:
        schedule.last_error = None
    if resumed or (status == ScheduleStatus.PAUSED and schedule.status != ScheduleStatus.PAUSED):
        schedule.paused_reason = None  # a pause by hand has no reason to show; a resume clears the old one
    if resumed:
        schedule.consecutive_failures = 0
    schedule.status = status
    schedule.updated_at = now
    if record:
        _audit_update(session, caller, schedule, before, now)
    return schedule


# Fields whose change gives a cron schedule occurrences again after it COMPLETED.
_BOUNDS = {"start_at", "end_at"}
_RENEWING = _BOUNDS | {"max_runs"}


def _audit_update(session, caller: Caller, schedule: ScheduledTask, before: dict, now: datetime) -> None:
    """Record an update as pause, resume or update, with what changed (nothing changed: no entry)."""
    changes = audit.diff(before, audit.snapshot(schedule))
    if not changes:
        return
    old, new = before["status"], schedule.status
    action = "update"
    if old != new and new == "PAUSED":
        action = "pause"
    elif old == "PAUSED" and new == "ACTIVE":
        action = "resume"
    audit.record(session, caller, action, schedule, changes, now)


def set_status(caller: Caller, schedule_id: str, status: ScheduleStatus, now: datetime | None = None) -> ScheduledTask:
    """Pause (PAUSED) or resume (ACTIVE) a schedule."""
    return update_schedule(caller, schedule_id, {"status": status}, now)


def delete_schedule(caller: Caller, schedule_id: str, now: datetime | None = None) -> ScheduledTask:
    """Soft-delete a schedule: it never fires again; its history is kept."""
    now = now or clock.utcnow()
    with write_transaction() as session:
        schedule = schedule_or_404(caller, schedule_id, session, lock=True)
        if "delete" not in allowed_actions(schedule):
            raise conflict("Schedule is already deleted", "status")
        before = audit.snapshot(schedule)
        schedule.status = ScheduleStatus.DELETED
        schedule.next_run_at = None
        schedule.updated_at = now
        audit.record(session, caller, "delete", schedule, audit.diff(before, audit.snapshot(schedule)), now)
    return schedule


def get_schedule(caller: Caller, schedule_id: str) -> ScheduledTask:
    """Return one schedule the caller may see."""
    return schedule_or_404(caller, schedule_id)
