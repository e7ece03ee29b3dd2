"""The /aitp schedule endpoints: parse, call a service, serialize."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, jsonify, request
from werkzeug.routing import BaseConverter

from ..auth import current_caller, require_agent
from ..errors import ServiceError, invalid
from ..scheduling import answers, backfill, changes, drafts, listing, schedules
from .limits import EXECUTION_PAGE_DEFAULT, SCHEDULE_PAGE_DEFAULT
from .pages import each, page_answer
from .schemas import EXECUTION_LIST_QUERY, SCHEDULE_LIST_QUERY
from .validation import loads, takes_query

bp = Blueprint("api_schedules", __name__, url_prefix="/aitp")


class ScheduleId(BaseConverter):
    """A path segment that is a schedule id: sched-..."""

    regex = r"sched-[^/]+"


class TaskId(BaseConverter):
    """A path segment that is a task id: task-..."""

    regex = r"task-[^/]+"


def register_id_converters(state) -> None:
    """Match ids by their prefix, so /tasks/schedule/preview and /tasks/claim never read as ids (405, not 404)."""
    state.app.url_map.converters.update(schedule_id=ScheduleId, task_id=TaskId)


# Recorded before the routes, so the converters exist when the rules are bound.
bp.record_once(register_id_converters)


def json_body() -> dict:
    """Return the request's JSON object; 415 when it is not JSON, 400 when it is malformed."""
    if not request.is_json:
        raise ServiceError("unsupported_media_type", "Send a JSON body with Content-Type: application/json")
    body = loads(request.get_data())
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def _created_view(s) -> dict:
    """Return the create response of the contract (with every other field too)."""
    return answers.schedule_answer(s)


@bp.post("/tasks/schedule")
@require_agent
def create_schedule():
    """Create a schedule."""
    schedule = schedules.create_schedule(current_caller(), json_body())
    return jsonify(_created_view(schedule)), 201


@bp.get("/tasks/schedule")
@require_agent
@takes_query(*SCHEDULE_LIST_QUERY)
def list_schedules():
    """List schedules, newest first."""
    fetch = partial(
        listing.list_schedules,
        current_caller(),
        request.args.get("client_id") or None,
        request.args.get("status") or None,
    )
    return page_answer("schedules", SCHEDULE_PAGE_DEFAULT, fetch, answers.schedule_answers, "created_at", "schedule_id")


@bp.get("/tasks/schedule/<schedule_id:schedule_id>")
@require_agent
def get_schedule(schedule_id: str):
    """Return every field of one schedule."""
    return jsonify(answers.schedule_answer(schedules.get_schedule(current_caller(), schedule_id)))


@bp.put("/tasks/schedule/<schedule_id:schedule_id>")
@require_agent
def update_schedule(schedule_id: str):
    """Change the editable fields of a schedule."""
    schedule = schedules.update_schedule(current_caller(), schedule_id, json_body())
    return jsonify(answers.schedule_answer(schedule))


@bp.delete("/tasks/schedule/<schedule_id:schedule_id>")
@require_agent
def delete_schedule(schedule_id: str):
    """Soft-delete a schedule."""
    schedule = schedules.delete_schedule(current_caller(), schedule_id)
    return jsonify(
        {"schedule_id": schedule.schedule_id, "status": schedule.status, "message": "Schedule cancelled successfully"}
    )


@bp.get("/tasks/schedule/<schedule_id:schedule_id>/executions")
@require_agent
@takes_query(*EXECUTION_LIST_QUERY)
def list_executions(schedule_id: str):
    """Return a schedule's execution history, newest first; `status=` and `trigger=` filter it."""
    fetch = partial(
        listing.list_executions,
        current_caller(),
        schedule_id,
        status=request.args.get("status") or None,
        trigger=request.args.get("trigger") or None,
    )
    return page_answer(
        "executions", EXECUTION_PAGE_DEFAULT, fetch, each(answers.execution_dict), "scheduled_for", "execution_id"
    )


@bp.post("/tasks/schedule/preview")
@require_agent
def preview_schedule():
    """Preview a cron expression: English description and next runs."""
    return jsonify(drafts.preview(json_body(), caller=current_caller()))


@bp.get("/tasks/schedule/<schedule_id:schedule_id>/upcoming")
@require_agent
@takes_query("count")
def upcoming(schedule_id: str):
    """List the next runs as the dispatcher will fire them (bounds, run limit and jitter applied)."""
    count = backfill.parse_count(request.args.get("count"))
    return jsonify({"upcoming": backfill.upcoming(current_caller(), schedule_id, count)})


@bp.post("/tasks/schedule/<schedule_id:schedule_id>/backfill")
@require_agent
def backfill_schedule(schedule_id: str):
    """Fire the occurrences of [start, end) that have none yet; 200 with the list for a dry run."""
    body = json_body()
    fired, occurrences = backfill.backfill(current_caller(), schedule_id, body)
    status = 200 if body.get("dry_run") else 201
    return jsonify({"fired": fired, "occurrences": occurrences}), status


@bp.post("/tasks/schedule/<schedule_id:schedule_id>/preview-change")
@require_agent
def preview_change(schedule_id: str):
    """Show what a PUT with this body would do to the next runs, without changing anything."""
    return jsonify(changes.preview_change(current_caller(), schedule_id, json_body()))
