"""When a schedule runs next after a create or an edit: its zone, bounds, DST policy, holidays and jitter."""

from __future__ import annotations

from datetime import datetime

from ..errors import ServiceError, conflict, invalid
from ..models import ScheduledTask
from . import calendars, cron, planning, policies


def cron_error(err: cron.CronError) -> ServiceError:
    """Translate an engine error into a validation error."""
    return invalid(err.message, err.field)


def check_zone(tz: str) -> None:
    """Refuse an unknown timezone with a 400."""
    try:
        cron.get_zone(tz)
    except cron.CronError as err:
        raise cron_error(err) from None


def first_run(
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
        raise cron_error(err) from None
    if occurrence is None and field == "status":
        raise conflict("The schedule has no occurrence left before its end_at; set a later end_at", "end_at")
    if occurrence is None:
        raise invalid("The schedule has no occurrence between start_at and end_at", field)
    return policies.fire_at(policy, occurrence)


def resume_next(run_at: datetime | None, now: datetime) -> datetime:
    """Return the next run of a one-time schedule resumed at `now`."""
    if run_at is None or run_at <= now:
        raise conflict("run_at has passed while the schedule was paused; set a new run_at", "run_at")
    return run_at


def timing_policy(session, schedule: ScheduledTask, data: dict, expression: str | None) -> tuple[dict, bool]:
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
