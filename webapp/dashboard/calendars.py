"""Holiday calendars for operators: list, create or import, edit, delete, with the dates shown as a year view."""

from __future__ import annotations

import calendar as monthly
from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth import OPERATOR
from ..errors import ServiceError
from ..scheduling import calendar_store, cron
from .agents import agent_choices
from .forms import CalendarForm, choices
from .htmx import require_login

bp = Blueprint("dashboard_calendars", __name__)
bp.before_request(require_login)

LIST_LIMIT = 100
_WEEKS = monthly.Calendar(firstweekday=0)  # Monday first: business weeks read left to right


def year_view(dates: list[str], today: date | None = None) -> list[dict]:
    """Return the years the dates fall in (this year when none), each as 12 months of weeks of days.

    A day is None (padding) or {"day", "iso", "holiday", "weekend"}; the template only draws it.
    """
    holidays = {date.fromisoformat(d) for d in dates}
    years = sorted({d.year for d in holidays}) or [(today or date.today()).year]
    view = []
    for year in years:
        months = []
        for month in range(1, 13):
            weeks = [
                [
                    None
                    if day == 0
                    else {
                        "day": day,
                        "iso": date(year, month, day).isoformat(),
                        "holiday": date(year, month, day) in holidays,
                        "weekend": index >= 5,
                    }
                    for index, day in enumerate(week)
                ]
                for week in _WEEKS.monthdayscalendar(year, month)
            ]
            months.append({"name": monthly.month_name[month], "weeks": weeks})
        view.append({"year": year, "months": months, "count": sum(1 for d in holidays if d.year == year)})
    return view


def calendar_choices(client_id: str | None = None) -> list:
    """Return the calendars a schedule of `client_id` may use (every client's when None), for a select."""
    rows, _ = calendar_store.list_calendars(OPERATOR, client_id, LIST_LIMIT, 0)
    label = (lambda c: c.name) if client_id else (lambda c: f"{c.name} ({c.client_id})")
    return choices([("", "None: weekends only"), *((c.calendar_id, label(c)) for c in rows)])


_GAP_WORDS = {"SHIFT": "runs at the end of the gap", "SKIP": "does not run that day"}
_REPEAT_WORDS = {"FIRST": "runs at the first", "SECOND": "runs at the second", "BOTH": "runs at both"}
_RULE_WORDS = {
    "SKIP": "Skips its runs on",
    "NEXT_BUSINESS_DAY": "Moves its runs to the next business day from",
    "PREVIOUS_BUSINESS_DAY": "Moves its runs to the previous business day from",
}


def dst_words(schedule) -> str:
    """Say in English what daylight saving does to a cron schedule."""
    if not cron.is_fixed_time(schedule.cron_expression):
        return "Follows real elapsed time: no wall time is skipped or repeated for it"
    gap, repeat = schedule.dst_gap or "SHIFT", schedule.dst_repeat or "FIRST"
    return (
        f"A time the spring change skips {_GAP_WORDS[gap]} ({gap}); "
        f"a time the autumn change repeats {_REPEAT_WORDS[repeat]} ({repeat})"
    )


def holiday_words(schedule) -> str:
    """Say in English what a schedule does on weekends and holidays."""
    if not schedule.holiday_rule:
        return "Runs on any day"
    where = "Saturdays and Sundays"
    if schedule.calendar_id:
        found = calendar_store.get_calendar(OPERATOR, schedule.calendar_id)
        count = len(found.dates)
        where += f" and the {count} date{'' if count == 1 else 's'} of {found.name}"
    return f"{_RULE_WORDS[schedule.holiday_rule]} {where}"


def _list_page(form: CalendarForm, status: int = 200):
    """Render the calendar list with the create form."""
    form.client_id.choices = choices([("", "Choose a client…"), *agent_choices()])
    rows, total = calendar_store.list_calendars(OPERATOR, None, LIST_LIMIT, 0)
    used = {c.calendar_id: len(calendar_store.users(OPERATOR, c.calendar_id)) for c in rows}
    return render_template("calendars/list.html", form=form, calendars=rows, total=total, used=used), status


@bp.get("/calendars")
def calendar_list():
    """List the calendars, with a form to create one."""
    return _list_page(CalendarForm())


@bp.post("/calendars")
def calendar_create():
    """Create a calendar from typed dates or an imported file, through the same service as the API."""
    form = CalendarForm()
    form.client_id.choices = choices(agent_choices())
    if form.validate_on_submit():
        body = {**form.body(), "client_id": form.client_id.data or None}
        try:
            created = calendar_store.create_calendar(OPERATOR, {k: v for k, v in body.items() if v is not None})
        except ServiceError as err:
            form.apply_error(err)
        else:
            flash(f"Calendar created with {len(created.dates)} dates.", "success")
            return redirect(url_for("dashboard_calendars.calendar_detail", calendar_id=created.calendar_id))
    return _list_page(form, 400)


def _detail_page(found, form: CalendarForm, status: int = 200):
    """Render a calendar's page: the year view, its schedules and the edit form."""
    form.client_id.choices = choices([(found.client_id, found.client_id)])
    form.client_id.data = found.client_id
    return (
        render_template(
            "calendars/detail.html",
            c=found,
            form=form,
            years=year_view(found.dates),
            users=calendar_store.users(OPERATOR, found.calendar_id),
        ),
        status,
    )


@bp.route("/calendars/<calendar_id>", methods=["GET", "POST"])
def calendar_detail(calendar_id: str):
    """Show a calendar; save the edit form (new name, dates, or an imported file that replaces them)."""
    found = calendar_store.get_calendar(OPERATOR, calendar_id)
    form = CalendarForm()
    if request.method == "GET":
        form.name.data, form.dates.data = found.name, "\n".join(found.dates)
        return _detail_page(found, form)
    form.client_id.choices = choices([(found.client_id, found.client_id)])
    if form.validate_on_submit():
        try:
            calendar_store.update_calendar(OPERATOR, calendar_id, form.body())
        except ServiceError as err:
            form.apply_error(err)
        else:
            flash("Calendar saved; the schedules that use it have planned their next run again.", "success")
            return redirect(url_for("dashboard_calendars.calendar_detail", calendar_id=calendar_id))
    return _detail_page(found, form, 400)


@bp.post("/calendars/<calendar_id>/delete")
def calendar_delete(calendar_id: str):
    """Delete a calendar no live schedule uses; say why not otherwise."""
    try:
        calendar_store.delete_calendar(OPERATOR, calendar_id)
    except ServiceError as err:
        if err.status == 404:
            raise
        flash(err.message, "error")
        return redirect(url_for("dashboard_calendars.calendar_detail", calendar_id=calendar_id))
    flash("Calendar deleted.", "success")
    return redirect(url_for("dashboard_calendars.calendar_list"))
