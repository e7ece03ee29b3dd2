"""The operator dashboard: schedule list, detail with history, and the in-place actions."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for

from .. import clock
from ..api.limits import SCHEDULE_PAGE_DEFAULT
from ..api.validation import parse_paging
from ..auth import OPERATOR
from ..errors import ServiceError
from ..events import audit_query
from ..extensions import db
from ..models import ExecutionStatus, ScheduledTask, ScheduleStatus
from ..scheduling import browse, capabilities, cron, dispatcher, listing, schedules
from . import agents, backfill, calendars, edit, forms, ledger, login, queue, timefmt, timeline, words
from . import webhooks as dashboard_webhooks
from .agents import agent_ids
from .htmx import fragment, is_htmx, operator_caller, page, refusal, require_login
from .login import safe_next
from .timefmt import local_text

CHANGES_SHOWN = 20
bp = Blueprint("dashboard_views", __name__)
bp.before_request(require_login)

HISTORY_PAGE_SIZE = 20  # the detail page shows shorter history pages than the API's default
STRIP_SIZE = 50
LIVE_POLL_SECONDS = 2
# Executions whose outcome is still to come (RUNNING and BUFFERED, where the enum has them, too).
GOING = frozenset(s for s in ExecutionStatus if s.name in ("PENDING", "RUNNING", "BUFFERED"))


def timing_text(schedule: ScheduledTask) -> str:
    """Say when a schedule runs, in English: "At 09:30, Monday through Friday" or "Once"."""
    if schedule.cron_expression is None:
        return "Once"
    try:
        return cron.describe(schedule.cron_expression)
    except cron.CronError:
        return schedule.cron_expression


def page_links(endpoint: str, args: dict, total: int, limit: int, offset: int, **values) -> dict:
    """Return the numbers and URLs of a pager: first/last shown, previous and next pages."""

    def link(new_offset: int) -> str:
        """Build the URL of the page starting at new_offset, keeping the other arguments."""
        query = {k: v for k, v in {**args, "offset": new_offset}.items() if v not in (None, "", 0)}
        return url_for(endpoint, **values) + ("?" + urlencode(query) if query else "")

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
        "total": total,
        "prev": link(max(0, offset - limit)) if offset > 0 else None,
        "next": link(offset + limit) if offset + limit < total else None,
    }


@bp.get("/")
def index():
    """Send the site root to the schedule list."""
    return redirect(url_for("dashboard_views.schedule_list"))


@bp.get("/schedules")
def schedule_list():
    """List schedules with filters, search, order and pages; an HTMX request gets only the table."""
    query = browse.Query(
        client_id=request.args.get("client_id") or None,
        status=request.args.get("status") or None,
        text=(request.args.get("q") or "").strip() or None,
        sort=request.args.get("sort") or "newest",
    )
    limit, offset = parse_paging(request.args, SCHEDULE_PAGE_DEFAULT)
    rows, total = browse.browse(query, limit, offset)
    filters = {"client_id": query.client_id, "status": query.status, "q": query.text, "sort": query.sort}
    return page(
        "schedules/list.html",
        "partials/_schedule_table.html",
        rows=rows,
        filters=filters,
        sorts={key: label for key, (label, _) in browse.SORTS.items()},
        last_results=browse.last_results([s.schedule_id for s in rows]),
        unserved=capabilities.unserved(s.capability_required for s in rows),
        paging=page_links(
            "dashboard_views.schedule_list",
            {**filters, "sort": None if query.sort == "newest" else query.sort},
            total,
            limit,
            offset,
        ),
        clients=agent_ids(),
        statuses=list(ScheduleStatus),
        now=clock.utcnow(),
        here=request.full_path.rstrip("?"),
    )


def _history(schedule: ScheduledTask, offset: int, filters: dict | None = None) -> dict:
    """Return the history context of a schedule: one page of executions (filtered) and the recent strip."""
    filters = filters or {name: None for name in ledger.FILTERS}
    executions, total = listing.list_executions(
        OPERATOR, schedule.schedule_id, HISTORY_PAGE_SIZE, offset, filters["status"], filters["trigger"]
    )
    recent, _ = listing.list_executions(OPERATOR, schedule.schedule_id, STRIP_SIZE, 0)
    counts = {s: 0 for s in ExecutionStatus}
    for execution in recent:
        counts[execution.status] = counts.get(execution.status, 0) + 1
    return {
        "executions": executions,
        # Poll while a run is still going, so its row turns within about LIVE_POLL_SECONDS of finishing.
        "live": any(e.status in GOING for e in (*executions, *recent)),
        "poll_seconds": LIVE_POLL_SECONDS,
        "recent": list(reversed(recent)),  # oldest first: time runs left to right
        "counts": counts,
        "legend": ledger.legend(recent),
        "strip_size": STRIP_SIZE,
        "history_pager": page_links(
            "dashboard_views.schedule_detail",
            filters,
            total,
            HISTORY_PAGE_SIZE,
            offset,
            schedule_id=schedule.schedule_id,
        ),
        "history_hx": page_links(
            "dashboard_views.schedule_history",
            filters,
            total,
            HISTORY_PAGE_SIZE,
            offset,
            schedule_id=schedule.schedule_id,
        ),
        "history_offset": offset,
        "history_filters": filters,
    }


def _offset() -> int:
    """Read the history offset from the query string."""
    return parse_paging(request.args, HISTORY_PAGE_SIZE)[1]


@bp.get("/schedules/<schedule_id>")
def schedule_detail(schedule_id: str):
    """Show every field of a schedule, its actions and its execution history."""
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    changes, changes_total = audit_query.list_entries(OPERATOR, schedule_id, CHANGES_SHOWN, 0)
    return render_template(
        "schedules/detail.html",
        s=schedule,
        now=clock.utcnow(),
        here=request.path,
        changes=changes,
        changes_total=changes_total,
        policies=words.policy_lines(schedule),
        upcoming=backfill.upcoming_runs(schedule),
        upcoming_asked=backfill.UPCOMING_SHOWN,
        **backfill.backfill_context(schedule),
        **_history(schedule, _offset(), ledger.filters_from(request.args)),
    )


@bp.get("/schedules/<schedule_id>/history")
def schedule_history(schedule_id: str):
    """Answer one page of history: the partial for HTMX, the detail page otherwise."""
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    filters = ledger.filters_from(request.args)
    if not is_htmx():
        return redirect(
            url_for("dashboard_views.schedule_detail", schedule_id=schedule_id, offset=_offset() or None, **filters)
        )
    return fragment(
        "partials/_history_response.html", s=schedule, now=clock.utcnow(), **_history(schedule, _offset(), filters)
    )


def _apply(action: str, schedule_id: str) -> tuple[ScheduledTask, str]:
    """Carry out an action through the service; return the schedule after it and a notice."""
    if action == "pause":
        schedule = schedules.set_status(operator_caller(), schedule_id, ScheduleStatus.PAUSED)
        return schedule, "Paused. It will not fire until resumed."
    if action == "resume":
        schedule = schedules.set_status(operator_caller(), schedule_id, ScheduleStatus.ACTIVE)
        return schedule, f"Resumed. Next run {local_text(schedule.next_run_at, schedule.timezone)}."
    if action == "delete":
        schedule = schedules.delete_schedule(operator_caller(), schedule_id)
        return schedule, "Deleted. It will not fire again; its history is kept."
    execution = dispatcher.run_now(operator_caller(), schedule_id)
    db.session.expire_all()  # the firing advanced counters in its own transaction
    schedule = schedules.get_schedule(OPERATOR, schedule_id)
    return schedule, f"Fired now: task {execution.task_id} is waiting for a worker."


@bp.post("/schedules/<schedule_id>/<any(pause, resume, run, delete):action>")
def act(schedule_id: str, action: str):
    """Pause, resume, run now or delete; HTMX gets the row or panel again, a plain form a redirect."""
    view = request.form.get("view", "panel")
    back = safe_next(request.form.get("next") or url_for("dashboard_views.schedule_detail", schedule_id=schedule_id))
    try:
        schedule, message = _apply(action, schedule_id)
    except ServiceError as err:
        if is_htmx():
            return refusal(err.message, err.status)
        flash(err.message, "error")
        return redirect(back)
    if not is_htmx():
        flash(message, "success")
        return redirect(back)
    context = {"s": schedule, "now": clock.utcnow(), "here": request.form.get("next") or "", "message": message}
    if view == "row":
        row = {
            "last_results": browse.last_results([schedule.schedule_id]),
            "unserved": capabilities.unserved([schedule.capability_required]),
        }
        return fragment("partials/_row_response.html", **row, **context)
    history = _history(schedule, 0) if action == "run" else {}
    return fragment("partials/_panel_response.html", with_history=action == "run", **history, **context)


def init_app(app: Flask) -> None:
    """Register the dashboard's blueprints, sign-in and template helpers."""
    timefmt.init_app(app)
    login.init_app(app)
    ledger.init_app(app)
    app.jinja_env.globals.update(
        timing_text=timing_text,
        dst_words=calendars.dst_words,
        holiday_words=calendars.holiday_words,
        # Templates ask the service what a schedule allows, and name statuses by their enum.
        allowed_actions=schedules.allowed_actions,
        ScheduleStatus=ScheduleStatus,
        ExecutionStatus=ExecutionStatus,
        error_summary=forms.error_summary,
    )
    app.register_blueprint(bp)
    app.register_blueprint(edit.bp)
    app.register_blueprint(agents.bp)
    app.register_blueprint(calendars.bp)
    for blueprint in (dashboard_webhooks.bp, queue.bp, timeline.bp, backfill.bp):
        app.register_blueprint(blueprint)
