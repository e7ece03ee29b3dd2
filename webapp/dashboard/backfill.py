"""The detail page's upcoming runs and its Backfill form: a dry run lists the occurrences, confirm fires them.

Both call the services behind GET .../upcoming and POST .../backfill; nothing here decides which
occurrence fires.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import StringField

from .. import clock
from ..auth import OPERATOR
from ..clock import parse_iso
from ..errors import ServiceError
from ..models import ScheduledTask, ScheduleStatus
from ..scheduling import backfill, schedules
from .htmx import fragment, is_htmx, require_login
from .timefmt import plural, zone

bp = Blueprint("dashboard_backfill", __name__)
bp.before_request(require_login)

UPCOMING_SHOWN = 5


class BackfillForm(FlaskForm):
    """A past range of the schedule's occurrences, as local wall time in its zone."""

    start = StringField("From", render_kw={"type": "datetime-local"}, description="The first instant, included.")
    end = StringField("Until", render_kw={"type": "datetime-local"}, description="Not included; not in the future.")

    def fill_yesterday(self, tz: str, now: datetime) -> None:
        """Offer yesterday, midnight to midnight in the schedule's zone."""
        today = now.astimezone(zone(tz)).date()
        self.start.data = datetime.combine(today - timedelta(days=1), time(0)).strftime("%Y-%m-%dT%H:%M")
        self.end.data = datetime.combine(today, time(0)).strftime("%Y-%m-%dT%H:%M")

    def apply_error(self, err: ServiceError) -> None:
        """Show a refusal beside start or end, or above the form."""
        field = {"start": self.start, "end": self.end}.get(err.field or "")
        if field is None:
            self.form_errors.append(err.message)
        else:
            field.errors = [*field.errors, err.message]

    def body(self, dry_run: bool) -> dict:
        """Return the request the form stands for, as POST .../backfill takes it."""
        return {"start": (self.start.data or "").strip(), "end": (self.end.data or "").strip(), "dry_run": dry_run}


def upcoming_runs(schedule: ScheduledTask) -> list[dict]:
    """Return the next runs as the dispatcher will fire them, with instants to format and the jitter offset."""
    runs = backfill.upcoming(OPERATOR, schedule.schedule_id, UPCOMING_SHOWN)
    shown = []
    for run in runs:
        at, fire_at = parse_iso(run["scheduled_for"]), parse_iso(run["fire_at"])
        shown.append({**run, "at": at, "fire_at": fire_at, "offset": (fire_at - at).total_seconds()})
    return shown


def backfill_context(schedule: ScheduledTask, form: BackfillForm | None = None, now: datetime | None = None) -> dict:
    """Return what the Backfill card shows before anything is asked: the form, yesterday filled in."""
    if form is None:
        form = BackfillForm()
        form.fill_yesterday(schedule.timezone, now or clock.utcnow())
    return {"bf_form": form, "bf": None, "can_backfill": _can_backfill(schedule)}


def _can_backfill(schedule: ScheduledTask) -> bool:
    """Tell whether the schedule has occurrences to backfill: a cron schedule that is not deleted."""
    return schedule.cron_expression is not None and schedule.status != ScheduleStatus.DELETED


def _result(fired: int, occurrences: list[dict]) -> dict:
    """Describe a dry run's answer for the card: each occurrence with its instant, and how many would fire."""
    listed = [{**o, "at": parse_iso(o["scheduled_for"])} for o in occurrences]
    to_fire = sum(1 for o in occurrences if o["action"] == "FIRE")
    return {"fired": fired, "occurrences": listed, "to_fire": to_fire, "exist": len(listed) - to_fire}


@bp.post("/schedules/<schedule_id>/backfill")
def schedule_backfill(schedule_id: str):
    """Dry-run a backfill and show its list; once confirmed, fire it and go back to the history.

    HTMX gets the card in place (the dry run) or a redirect to the refreshed detail page (the firing);
    a plain form gets a page with the card, or the same redirect.
    """
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    form = BackfillForm()
    confirm = request.form.get("step") == "confirm"
    context = {"s": schedule, "bf_form": form, "bf": None, "can_backfill": _can_backfill(schedule)}
    status = 200
    if not form.validate():  # only the CSRF token can fail here; the service checks the range
        form.form_errors.append("The form had expired; check it and submit it again.")
        status = 400
    else:
        try:
            fired, occurrences = backfill.backfill(OPERATOR, schedule_id, form.body(dry_run=not confirm))
        except ServiceError as err:
            form.apply_error(err)
            status = err.status
        else:
            if confirm:
                flash(_fired_text(fired), "success")
                detail = url_for("dashboard_views.schedule_detail", schedule_id=schedule_id) + "#history"
                if is_htmx():
                    # The whole page changed (counters, history, upcoming): reload it. A redirect to the
                    # same page with #history would only scroll.
                    return "", 200, {"HX-Refresh": "true"}
                return redirect(detail)
            context["bf"] = _result(fired, occurrences)
    if is_htmx():
        # A refused range is answered 200 so htmx swaps the card with the reason beside its field.
        return fragment("partials/_backfill.html", **context)
    return render_template("schedules/backfill.html", now=clock.utcnow(), **context), status


def _fired_text(fired: int) -> str:
    """Say what a confirmed backfill did."""
    if not fired:
        return "Nothing to fire: every occurrence in the range has already run."
    return f"Backfill fired {plural(fired, 'occurrence')}; each waits for a worker."
