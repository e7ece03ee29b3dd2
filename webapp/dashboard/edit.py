"""Create and edit forms, and the live cron preview they share with the /preview page."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from .. import clock
from ..api.limits import PREVIEW_COUNT_MAX, PREVIEW_COUNT_MIN
from ..auth import OPERATOR
from ..errors import ServiceError
from ..scheduling import changes, cron, drafts, schedules
from . import builder
from .agents import agent_choices, known_capabilities
from .calendars import calendar_choices
from .forms import PreviewForm, ScheduleForm, choices, focus_first_error, timezone_names
from .htmx import fragment, operator_caller, page, require_login
from .timefmt import parse_iso

bp = Blueprint("dashboard_edit", __name__)
bp.before_request(require_login)

PREVIEW_COUNT = 8
NOTES = {
    "shifted": "Shifted: this wall time does not exist on the day clocks go forward; it runs once, "
    "at the end of the gap.",
    "skipped": "Skipped: this wall time does not exist on the day clocks go forward, and the schedule's "
    "dst_gap is SKIP: it does not run that day.",
    "first": "First: this wall time happens twice on the day clocks go back; this is the first of the two.",
    "second": "Second: this wall time happens twice on the day clocks go back; this is the second of the two.",
    "moved": "Moved: its day is a weekend day or a holiday; the holiday rule moves it to this business day, at the "
    "same local time (merged with a run already there).",
    "holiday": "Holiday: its day is a weekend day or a holiday and the holiday rule is SKIP; it is recorded as "
    "skipped, without a task.",
}
POLICY_FIELDS = ("dst_gap", "dst_repeat", "holiday_rule", "calendar_id")


def preview_context(args: MultiDict) -> dict:
    """Describe what the timing inputs in `args` would do: the English text and the next runs."""
    tz = (args.get("timezone") or "").strip() or "UTC"
    kind = args.get("kind") or "custom"
    context: dict = {"timezone": tz, "kind": kind, "runs": [], "error": None, "expression": None}
    try:
        monthday = int(args["monthday"]) if args.get("monthday") else None
    except ValueError:
        monthday = None
    try:
        timing = builder.build(
            kind, args.get("at_time"), args.get("weekday"), monthday, args.get("cron_expression"), args.get("run_at")
        )
        if "run_at" in timing:
            return {**context, **_once(timing["run_at"], tz)}
        expression = timing["cron_expression"]
        if not expression:
            return {**context, "empty": True}
        try:
            count = int(args.get("count") or PREVIEW_COUNT)
        except ValueError:
            count = PREVIEW_COUNT
        body = {
            "cron_expression": expression,
            "timezone": tz,
            "count": min(max(count, PREVIEW_COUNT_MIN), PREVIEW_COUNT_MAX),
        }
        if (args.get("start") or "").strip():
            body["start"] = args["start"].strip()
        for field in POLICY_FIELDS:
            if (args.get(field) or "").strip():
                body[field] = args[field].strip()
        result = drafts.preview(body, caller=OPERATOR)
    except ServiceError as err:
        return {**context, "error": err.message, "error_field": err.field}
    runs = [{**_parsed(r), "local": parse_iso(r["local"])} for r in result["next_runs"]]
    return {**context, "expression": result["cron_expression"], "description": result["description"], "runs": runs}


def _once(run_at: str, tz: str) -> dict:
    """Describe a one-time run: its instant in the zone and in UTC, or why it cannot be."""
    try:
        when = cron.parse_instant(run_at, tz)
    except cron.CronError as err:
        return {"error": err.message, "error_field": err.field}
    try:
        schedules.refuse_past(when)
        error = None
    except ServiceError:
        error = "A one-time schedule needs a moment in the future; pick a later date or time."
    local = when.astimezone(cron.get_zone(tz))
    return {
        "description": "Once, then the schedule is completed",
        "runs": [{"at": when, "local": local, "note": None}],
        "error": error,
        "passed": error is not None,
    }


def _form_page(form: ScheduleForm, schedule=None, status: int = 200):
    """Render the create or edit page with its preview."""
    if schedule is None:
        form.client_id.choices = choices([("", "Choose a client…"), *agent_choices()])
    else:
        form.client_id.choices = choices([(schedule.client_id, schedule.client_id)])
    form.calendar_id.choices = calendar_choices(schedule.client_id if schedule else form.client_id.data or None)
    values = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
    preview = preview_context(MultiDict({k: "" if v is None else str(v) for k, v in values.items()}))
    return (
        render_template(
            "schedules/form.html",
            form=form,
            s=schedule,
            p=preview,
            timezones=timezone_names(),
            capabilities=known_capabilities(),
            notes=NOTES,
        ),
        status,
    )


def _checked(form: ScheduleForm, schedule=None) -> dict | None:
    """Check a submitted form all at once, the form's checks and the service's; return its body when clean.

    For an edit (given the stored schedule) the body holds only what changed.
    """
    form.validate()
    timing = True
    try:
        body = form.body() if schedule is None else form.changes(schedule)
    except ServiceError as err:  # a builder input (a time, a weekday, a date) is wrong
        form.apply_error(err)
        body, timing = form.body(with_timing=False), False
        if schedule is not None:
            body.pop("client_id", None)
    flagged = {name for name, field in form._fields.items() if field.errors}
    if body:  # an edit that changes nothing has nothing to check
        for err in drafts.check_body(OPERATOR, body, schedule, timing=timing):
            if builder.field_for(err, form.kind.data) not in flagged:
                form.apply_error(err)
    if form.errors:
        focus_first_error(form)
        return None
    return body


def _refused(form: ScheduleForm, err: ServiceError) -> None:
    """Show a refusal the checks could not foresee (a race, a conflict) and focus its field."""
    form.apply_error(err)
    focus_first_error(form)


@bp.route("/schedules/new", methods=["GET", "POST"])
def schedule_new():
    """Show the create form; create the schedule through the same service as the API."""
    form = ScheduleForm()
    if request.method == "GET":
        if request.args.get("client_id"):
            form.client_id.data = request.args["client_id"]
        return _form_page(form)
    body = _checked(form)
    if body is not None:
        try:
            schedule = schedules.create_schedule(operator_caller(), body)
        except ServiceError as err:
            _refused(form, err)
        else:
            flash("Schedule created.", "success")
            return redirect(url_for("dashboard_views.schedule_detail", schedule_id=schedule.schedule_id))
    return _form_page(form, status=400)


@bp.route("/schedules/<schedule_id>/edit", methods=["GET", "POST"])
def schedule_edit(schedule_id: str):
    """Show the edit form; apply only the fields the operator changed."""
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    detail = url_for("dashboard_views.schedule_detail", schedule_id=schedule_id)
    if "edit" not in schedules.allowed_actions(schedule):
        flash("A deleted schedule cannot be changed.", "error")
        return redirect(detail)
    form = ScheduleForm()
    if request.method == "GET":
        form.fill_from(schedule)
    else:
        changes = _checked(form, schedule)
        if changes is not None:
            try:
                if changes:
                    schedules.update_schedule(operator_caller(), schedule_id, changes)
            except ServiceError as err:
                _refused(form, err)
            else:
                flash("Schedule saved." if changes else "Nothing changed.", "success")
                return redirect(detail)
    form.client_id.data = schedule.client_id
    return _form_page(form, schedule, status=400 if request.method == "POST" else 200)


def next_clock_change(tz: str, month: int, now: datetime) -> date:
    """Return the next day, after now, in `month` on which the zone's clocks change (within two years)."""
    zone = cron.get_zone(tz)
    day = now.astimezone(zone).date()
    for _ in range(800):
        noon = datetime.combine(day, time(12), zone)
        after = datetime.combine(day + timedelta(days=1), time(12), zone)
        if day.month == month and noon.utcoffset() != after.utcoffset():
            return day + timedelta(days=1)
        day += timedelta(days=1)
    raise ValueError(f"{tz} changes its clocks in no {month} within two years")


def cheat_sheet(now: datetime) -> list[dict]:
    """Return the preview page's examples; the daylight-saving ones start just before the next change."""
    examples = [
        ("30 2 * * *", "02:30 daily in New York: see the March gap", "America/New_York", 3),
        ("30 1 * * *", "01:30 daily in New York: see the November overlap", "America/New_York", 11),
        ("*/15 9-17 * * 1-5", "every 15 min in office hours", "Europe/London", None),
        ("0 9 1 * *", "09:00 on the 1st of the month", "UTC", None),
        ("@hourly", "at the top of every hour", "UTC", None),
    ]
    shown = []
    for expression, label, tz, month in examples:
        start = None
        if month is not None:
            start = f"{next_clock_change(tz, month, now) - timedelta(days=2):%Y-%m-%d}T00:00"
        shown.append({"cron_expression": expression, "label": label, "timezone": tz, "start": start})
    return shown


@bp.post("/schedules/<schedule_id>/effect")
def schedule_effect(schedule_id: str):
    """Answer the edit form's partial: which of the next runs the edited fields add and remove (nothing saved)."""
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    form = ScheduleForm()
    context: dict = {"effect": None, "error": None, "tz": (form.timezone.data or "").strip() or schedule.timezone}
    if not form.validate():
        context["error"] = next(iter(form.errors.values()))[0] if form.errors else "The form is not valid."
        return fragment("partials/_change_preview.html", **context)
    try:
        body = form.changes(schedule)
        if body:
            effect = changes.preview_change(OPERATOR, schedule_id, body)
            context["effect"] = {key: [_parsed(run) for run in runs] for key, runs in effect.items()}
    except ServiceError as err:
        context["error"] = err.message
    return fragment("partials/_change_preview.html", **context)


def _parsed(run: dict) -> dict:
    """Return a serialized run with its instants as datetimes, for the templates' time helpers."""
    return {**run, "at": parse_iso(run["at"]), "nominal": parse_iso(run["nominal"])}


@bp.get("/preview")
def preview():
    """Try a cron expression in a timezone; HTMX gets only the result as the operator types."""
    form = PreviewForm(formdata=request.args or None)
    form.calendar_id.choices = calendar_choices()
    return page(
        "preview.html",
        "partials/_preview.html",
        form=form,
        p=preview_context(request.args),
        timezones=timezone_names(),
        notes=NOTES,
        examples=cheat_sheet(clock.utcnow()),
    )
