"""The calendar (planned beside actual runs, per schedule, on a time axis) and the 24-hour load forecast."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for

from .. import clock
from ..errors import ServiceError
from ..extensions import db
from ..models import ScheduleExecution
from ..scheduling import cron, schedules
from . import planning
from .agents import agent_ids
from .htmx import operator_caller, require_login

bp = Blueprint("dashboard_timeline", __name__)
bp.before_request(require_login)

ROWS_MAX = 200
EXECUTIONS_MAX = 5000
VIEWS = {"day": 1, "week": 7}


def _zone(name: str | None) -> ZoneInfo:
    """Return the asked time zone, UTC when it is missing or unknown."""
    try:
        return cron.get_zone(name or "UTC")
    except cron.CronError:
        return cron.get_zone("UTC")


def _day(text: str | None, zone: ZoneInfo) -> date:
    """Return the asked day, today in `zone` when it is missing or malformed."""
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return clock.utcnow().astimezone(zone).date()


def window(day: date, days: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return [start, end) in UTC of `days` local days from `day` (a DST day is 23 or 25 hours long)."""
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=days), time(0), zone).astimezone(UTC)
    return start, end


def _ticks(start: datetime, end: datetime, zone: ZoneInfo, days: int) -> list[tuple[float, str]]:
    """Return (fraction of the window, label) of the axis ticks: every 3 h for a day, every day for a week."""
    step = timedelta(hours=3) if days == 1 else timedelta(days=1)
    span = (end - start).total_seconds()
    local = start.astimezone(zone)
    ticks, at = [], local
    while at.astimezone(UTC) < end:
        label = at.strftime("%H:%M") if days == 1 else at.strftime("%a %d")
        ticks.append(((at.astimezone(UTC) - start).total_seconds() / span, label))
        at = datetime.combine(at.date() + step, at.time(), zone) if days > 1 else (at + step)
    return ticks


@bp.get("/calendar")
def calendar():
    """Show every schedule as a row: planned firings beside actual executions, for a day or a week."""
    view = request.args.get("view") if request.args.get("view") in VIEWS else "day"
    zone = _zone(request.args.get("tz"))
    day = _day(request.args.get("date"), zone)
    client_id = request.args.get("client_id") or None
    start, end = window(day, VIEWS[view], zone)
    rows = planning.active_schedules(client_id, ROWS_MAX)
    ids = [s.schedule_id for s in rows]
    executions: dict[str, list[ScheduleExecution]] = {}
    if ids:
        found = db.session.scalars(
            sa.select(ScheduleExecution)
            .where(
                ScheduleExecution.schedule_id.in_(ids),
                ScheduleExecution.scheduled_for >= start,
                ScheduleExecution.scheduled_for < end,
            )
            .order_by(ScheduleExecution.scheduled_for)
            .limit(EXECUTIONS_MAX)
        )
        for e in found:
            executions.setdefault(e.schedule_id, []).append(e)
    lines = []
    for s in rows:
        plan = planning.planned(s, max(start, s.created_at), end)  # nothing was planned before it existed
        done = executions.get(s.schedule_id, [])
        if plan.runs or plan.more or done:
            lines.append({"s": s, "plan": plan, "done": done})
    span = (end - start).total_seconds()
    return render_template(
        "insight/calendar.html",
        lines=lines,
        view=view,
        zone=zone.key,
        day=day,
        start=start,
        end=end,
        span=span,
        ticks=_ticks(start, end, zone, VIEWS[view]),
        client_id=client_id,
        clients=agent_ids(),
        prev_day=day - timedelta(days=VIEWS[view]),
        next_day=day + timedelta(days=VIEWS[view]),
        now=clock.utcnow(),
        zones=sorted(cron.zone_names()),
    )


@bp.get("/forecast")
def forecast():
    """Show planned firings per minute for the next 24 hours, the busiest minutes, and how to spread them."""
    zone = _zone(request.args.get("tz"))
    now = clock.utcnow()
    result = planning.forecast(now)
    busiest = result.busiest()
    hints = {}
    for busy in busiest:
        if busy.firings < 2:
            continue  # a lone firing is no spike: nothing to spread
        for s, _ in busy.schedules:
            if s.schedule_id not in hints:
                hints[s.schedule_id] = planning.jitter_suggestion(s, now)
    hours = [(h * 60, (result.start + timedelta(hours=h)).astimezone(zone).strftime("%H:%M")) for h in range(0, 25, 3)]
    return render_template(
        "insight/forecast.html",
        f=result,
        busiest=busiest,
        hints=hints,
        zone=zone.key,
        hours=hours,
        now=now,
        timedelta=timedelta,
    )


@bp.post("/forecast/spread/<schedule_id>")
def spread(schedule_id: str):
    """Apply the suggested jitter to a schedule in a spike (an ordinary, audited update)."""
    try:
        seconds = int(request.form.get("jitter_seconds", ""))
        schedules.update_schedule(operator_caller(), schedule_id, {"jitter_seconds": seconds})
        flash(f"Spread: {schedule_id} now fires up to {seconds} s after each occurrence.", "success")
    except ValueError:
        flash("jitter_seconds must be a whole number of seconds", "error")
    except ServiceError as err:
        flash(err.message, "error")
    return redirect(url_for("dashboard_timeline.forecast", tz=request.form.get("tz") or None))
