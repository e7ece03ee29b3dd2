"""A schedule body before anything is saved: every problem it has at once, and a preview of its runs."""

from __future__ import annotations

from datetime import date, datetime
from itertools import islice

from .. import clock
from ..api.limits import DEFAULT_PREVIEW_COUNT
from ..api.schemas import PREVIEW, SCHEDULE_CREATE, SCHEDULE_UPDATE
from ..api.validation import problems, validate
from ..auth import Caller
from ..clock import iso_z
from ..errors import ServiceError, invalid
from ..extensions import db
from ..models import Calendar, ScheduledTask
from . import calendars, cron, planning, schedules
from .next_run import check_zone


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
            attempt(schedules.check_timing, body.get("cron_expression"), body.get("run_at"), tz, now)
        elif "timezone" in body:
            attempt(check_zone, tz)
    if timing and not (timing_fields | set(planning.POLICY_DEFAULTS)) & bad:
        attempt(_check_timing_policy, body, schedule)
    if "input_data" in body and "input_data" not in bad:
        attempt(schedules.check_input_data, body["input_data"])
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


def _check_client(caller: Caller, client_id: str | None) -> None:
    """Refuse a create for no client, for another client (non-admins) or for an unknown one."""
    schedules.known_client(db.session, schedules.client_for(caller, client_id))


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
