"""Every rule about a schedule: create, update, pause, resume, delete, list, read."""

from __future__ import annotations

import json
from datetime import date, datetime
from itertools import islice

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .. import clock, paging
from ..api.limits import DEFAULT_PREVIEW_COUNT, DEFAULT_PRIORITY, MAX_INPUT_BYTES
from ..api.schemas import PREVIEW, SCHEDULE_CREATE, SCHEDULE_UPDATE
from ..api.validation import problems, validate
from ..auth import Caller
from ..clock import iso_z
from ..errors import ServiceError, conflict, invalid, not_found
from ..events import audit
from ..extensions import db, is_postgres, write_transaction
from ..models import (
    Agent,
    Calendar,
    ExecutionStatus,
    ExecutionTrigger,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    new_id,
)
from . import calendars, counts, cron, planning, policies

# What an operator or agent may do to a schedule, by its status (see allowed_actions).
ACTIONS = ("pause", "resume", "run", "delete", "edit")
# Fields an update copies as they come (validated by the request schema alone).
_PLAIN_FIELDS = ("unclaimed_alert_seconds",)


def check_input_data(value: dict) -> dict:
    """Refuse input_data over 64 KiB once serialized."""
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_INPUT_BYTES:
        raise invalid("input_data is larger than 64 KiB", "input_data")
    return value


def _cron_error(err: cron.CronError) -> ServiceError:
    """Translate an engine error into a validation error."""
    return invalid(err.message, err.field)


def _timing(cron_expression: str | None, run_at: str | None, tz: str, now: datetime) -> tuple:
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
        raise _cron_error(err) from None
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


def create_schedule(caller: Caller, body: dict, now: datetime | None = None) -> ScheduledTask:
    """Create a schedule from a request body; return it."""
    now = now or clock.utcnow()
    data = validate(SCHEDULE_CREATE, body)
    client_id = client_for(caller, data.get("client_id"))
    tz = data.get("timezone", "UTC")
    expression, run_at, next_run = _timing(data.get("cron_expression"), data.get("run_at"), tz, now)
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
        next_run = _first_run(schedule_id, values, now, "end_at", timing)
    with write_transaction() as session:
        _known_client(session, client_id)
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


def _first_run(
    schedule_id: str, values: dict, now: datetime, field: str, timing: calendars.Timing | None = None
) -> datetime:
    """Return when a cron schedule fires next after `now`: bounds, holidays and jitter applied; 400 when never."""
    policy = policies.Policy(
        schedule_id=schedule_id,
        cron_expression=values["cron_expression"],
        timezone=values["timezone"],
        start_at=values["start_at"],
        end_at=values["end_at"],
        jitter_seconds=values["jitter_seconds"] or 0,
    )
    try:
        occurrence = policies.next_occurrence(policy, now, timing)
    except cron.CronError as err:
        raise _cron_error(err) from None
    if occurrence is None and field == "status":
        raise conflict("The schedule has no occurrence left before its end_at; set a later end_at", "end_at")
    if occurrence is None:
        raise invalid("The schedule has no occurrence between start_at and end_at", field)
    return policies.fire_at(policy, occurrence)


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
        expression, run_at, next_run = _timing(data.get("cron_expression"), data.get("run_at"), tz, now)
    else:
        _zone(tz)
    renewed = expression is not None and bool(changed & _RENEWING)
    if schedule.status == ScheduleStatus.COMPLETED and "status" in data and not (retimed or renewed):
        raise conflict("A completed schedule needs a new run_at, cron_expression, end_at or max_runs", "status")
    values = policies.merged(data, tz, schedule)
    values.update(cron_expression=expression, run_at=run_at, timezone=tz)
    policies.check(values, now, changed)
    policy, replan = _timing_policy(session, schedule, data, expression)
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
            next_run = _first_run(schedule.schedule_id, values, now, field, timing)
            if record and status == ScheduleStatus.ACTIVE:
                planning.record_late_moves(session, schedule.schedule_id, timing, now)
    elif resumed and not retimed:
        next_run = _resume_next(run_at, now)
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


def _timing_policy(session, schedule: ScheduledTask, data: dict, expression: str | None) -> tuple[dict, bool]:
    """Return the DST policy and holiday rule an update leaves, checked, and whether they changed.

    A switch to run_at drops the cron-only policy the body does not name again.
    """
    policy = {field: getattr(schedule, field) for field in planning.POLICY_DEFAULTS}
    if data.get("run_at") is not None:
        policy = dict(planning.POLICY_DEFAULTS)
    policy.update({field: data[field] for field in planning.POLICY_DEFAULTS if field in data})
    planning.check_policy(expression, policy)
    if policy["calendar_id"] and policy["calendar_id"] != schedule.calendar_id:
        planning.check_usable(session, schedule.client_id, policy["calendar_id"])
    return policy, any(getattr(schedule, field) != value for field, value in policy.items())


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


def _zone(tz: str) -> None:
    """Refuse an unknown timezone with a 400."""
    try:
        cron.get_zone(tz)
    except cron.CronError as err:
        raise _cron_error(err) from None


def _resume_next(run_at: datetime | None, now: datetime) -> datetime:
    """Return the next run of a one-time schedule resumed at `now`."""
    if run_at is None or run_at <= now:
        raise conflict("run_at has passed while the schedule was paused; set a new run_at", "run_at")
    return run_at


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


def list_schedules(
    caller: Caller,
    client_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> tuple[list[ScheduledTask], int]:
    """Return a page of schedules, newest first, and the total that match.

    A `cursor` (from paging.page_cursor) continues after a given row in constant time,
    where a deep `offset` has to walk the index up to it.
    """
    if status is not None and status not in list(ScheduleStatus):
        raise invalid(f"status must be one of {', '.join(ScheduleStatus)}", "status")
    if not caller.is_admin:
        if client_id and client_id != caller.agent_id:
            return [], 0
        client_id = caller.agent_id
    # An IN list (rather than != 'DELETED') lets both databases answer from an index.
    shown = [status] if status else [s for s in ScheduleStatus if s != ScheduleStatus.DELETED]
    conditions = [ScheduledTask.status.in_(shown)]
    if client_id:
        conditions.append(ScheduledTask.client_id == client_id)
    total = counts.total(db.session(), client_id, shown)  # never folds: a GET does not write
    order = (ScheduledTask.created_at.desc(), ScheduledTask.schedule_id.desc())
    # Page over the index first, then fetch the 'limit' full rows: a deep offset stays cheap.
    ids = sa.select(ScheduledTask.schedule_id).where(*conditions)
    page = paging.newest_page(
        ids, ScheduledTask.created_at, ScheduledTask.schedule_id, limit, offset, cursor
    ).subquery()
    rows = db.session.scalars(
        sa.select(ScheduledTask).join(page, ScheduledTask.schedule_id == page.c.schedule_id).order_by(*order)
    ).all()
    return list(rows), total


def list_executions(
    caller: Caller,
    schedule_id: str,
    limit: int,
    offset: int,
    status: str | None = None,
    trigger: str | None = None,
    cursor: str | None = None,
) -> tuple[list[ScheduleExecution], int]:
    """Return a page of a schedule's executions, newest first, and the total that match."""
    schedule_or_404(caller, schedule_id)
    if status is not None and status not in list(ExecutionStatus):
        raise invalid(f"status must be one of {', '.join(ExecutionStatus)}", "status")
    if trigger is not None and trigger not in list(ExecutionTrigger):
        raise invalid(f"trigger must be one of {', '.join(ExecutionTrigger)}", "trigger")
    where = [ScheduleExecution.schedule_id == schedule_id]
    if status is not None:
        where.append(ScheduleExecution.status == status)
    if trigger is not None:
        where.append(ScheduleExecution.trigger == trigger)
    at, row_id = ScheduleExecution.scheduled_for, ScheduleExecution.execution_id
    return paging.newest_first(ScheduleExecution, where, at, row_id, limit, offset, cursor)


def preview(body: dict, now: datetime | None = None, caller: Caller | None = None) -> dict:
    """Describe an expression and list its next runs under a DST policy and holiday rule; API and dashboard share it.

    Runs a DST gap skips are listed too (note "skipped", fires false), as are holiday skips.
    """
    data = validate(PREVIEW, body)
    tz = data.get("timezone") or "UTC"
    policy = {field: data.get(field, default) for field, default in planning.POLICY_DEFAULTS.items()}
    try:
        zone = cron.get_zone(tz)
        expression = cron.normalize(data["cron_expression"])
        planning.check_policy(expression, policy)
        dates = _preview_holidays(caller, policy["calendar_id"])
        start = cron.parse_instant(data["start"], tz) if data.get("start") else (now or clock.utcnow())
        timing = planning.timing_for(expression, tz, policy, dates)
        runs = list(islice(timing.runs(start, skipped=True), data.get("count", DEFAULT_PREVIEW_COUNT)))
        description = cron.describe(expression)
    except cron.CronError as err:
        raise invalid(err.message, "start" if err.field == "run_at" else err.field) from None
    except OverflowError:
        raise invalid("start is too close to the ends of the calendar (years 1 and 9999)", "start") from None
    return {
        "cron_expression": expression,
        "timezone": str(zone.key),
        "description": description,
        **policy,
        "next_runs": [run_dict(run) for run in runs],
    }


def check_body(
    caller: Caller,
    body: dict,
    schedule: ScheduledTask | None = None,
    now: datetime | None = None,
    timing: bool = True,
) -> list[ServiceError]:
    """Return every problem of a create body (or, given the stored schedule, an update body) at once.

    The same checks create_schedule and update_schedule make, run side by side rather than stopping
    at the first, so a form can show them all; nothing is written. `timing=False` leaves the timing
    out but the zone (the caller already knows the rest is wrong).
    """
    now = now or clock.utcnow()
    found = problems(SCHEDULE_CREATE if schedule is None else SCHEDULE_UPDATE, body)
    bad = {err.field for err in found}

    def attempt(check, *args) -> None:
        """Run one check; keep its refusal."""
        try:
            check(*args)
        except ServiceError as err:
            found.append(err)

    if schedule is None and "client_id" not in bad:
        attempt(_check_client, caller, body.get("client_id"))
    timing_fields = {"cron_expression", "run_at", "timezone"}
    if not timing_fields & bad:
        tz = body.get("timezone", schedule.timezone if schedule is not None else "UTC")
        if timing and (schedule is None or "cron_expression" in body or "run_at" in body):
            attempt(_timing, body.get("cron_expression"), body.get("run_at"), tz, now)
        elif "timezone" in body:
            attempt(_zone, tz)
    if timing and not (timing_fields | set(planning.POLICY_DEFAULTS)) & bad:
        attempt(_check_timing_policy, body, schedule)
    if "input_data" in body and "input_data" not in bad:
        attempt(check_input_data, body["input_data"])
    return found


def _check_timing_policy(body: dict, schedule: ScheduledTask | None) -> None:
    """Refuse the DST policy or holiday rule a body leaves a schedule with, as create and update do."""
    current = (
        planning.POLICY_DEFAULTS if schedule is None else {f: getattr(schedule, f) for f in planning.POLICY_DEFAULTS}
    )
    if schedule is not None and body.get("run_at") is not None:
        current = planning.POLICY_DEFAULTS  # a switch to run_at drops the cron-only policy
    policy = {field: body.get(field, value) for field, value in current.items()}
    expression = body["cron_expression"] if "cron_expression" in body else getattr(schedule, "cron_expression", None)
    if body.get("run_at") is not None:
        expression = None
    planning.check_policy(expression or None, policy)


def client_for(caller: Caller, client_id: str | None) -> str:
    """Return the client a create is for (the caller by default); refuse none, or another's for a non-admin."""
    client_id = client_id or caller.agent_id
    if client_id is None:
        raise invalid("client_id is required", "client_id")
    if not caller.may_see(client_id):
        raise invalid("client_id must be your own agent id", "client_id")
    return client_id


def _known_client(session: Session, client_id: str) -> None:
    """Refuse a client that is not a registered agent."""
    if session.get(Agent, client_id) is None:
        raise invalid(f"Unknown client_id: {client_id}", "client_id")


def _check_client(caller: Caller, client_id: str | None) -> None:
    """Refuse a create for no client, for another client (non-admins) or for an unknown one."""
    _known_client(db.session, client_for(caller, client_id))


def run_dict(run: calendars.Run) -> dict:
    """Serialize a run as the previews and upcoming list show it."""
    return {
        "at": iso_z(run.at),
        "local": run.local.isoformat(timespec="seconds"),
        "note": run.note,
        "holiday": run.holiday,
        "nominal": iso_z(run.nominal),
        "fires": run.fires,
    }


def _preview_holidays(caller: Caller | None, calendar_id: str | None) -> frozenset:
    """Return the dates of a calendar the caller may use in a preview (400 for any other)."""
    if calendar_id is None:
        return frozenset()
    found = db.session.get(Calendar, calendar_id)
    if found is None or caller is None or not caller.may_see(found.client_id):
        raise invalid(f"Unknown calendar_id: {calendar_id}", "calendar_id")
    return frozenset(date.fromisoformat(d) for d in found.dates)
