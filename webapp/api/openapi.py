"""The OpenAPI 3.1 document of /aitp, built from the JSON Schemas the API validates with.

Request bodies are the very schemas in webapp/api/schemas.py that `validate` applies, and response
bodies are the schemas in webapp/api/responses.py the tests check real answers against, so the document
cannot drift from the code without a test noticing (tests/api/test_openapi.py also compares it with the
routes).
"""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from flask import Blueprint, Flask, jsonify

from ..errors import ERROR_CODES, codes_of
from ..models import ExecutionStatus, ExecutionTrigger, ScheduleStatus
from . import limits, openapi_events, responses, schemas

bp = Blueprint("api_openapi", __name__, url_prefix="/aitp")

VERSION = "1.0.0"
JSON = "application/json"

# Any operation that touches the database may meet a fault it cannot help.
ALWAYS = (503,)
BODY_ERRORS = (400, 401, 413, 415)
DOCUMENTED_ERRORS = (400, 401, 404, 409, 413, 415, 503)  # the statuses /aitp operations answer with


def _error_response(status: int) -> tuple[str, str]:
    """Return the component name and description of an error status, from errors.ERROR_CODES."""
    codes = codes_of(status)
    name = "".join(word.capitalize() for word in codes[0].split("_"))  # bad_request -> BadRequest
    return name, "; ".join(f"{ERROR_CODES[code][1]} ({code})" for code in codes) + "."


ERRORS: dict[int, tuple[str, str]] = {status: _error_response(status) for status in DOCUMENTED_ERRORS}

# Request bodies (validated by the code) and response bodies, published under components/schemas.
COMPONENTS: dict[str, dict[str, Any]] = {
    "ScheduleCreate": schemas.SCHEDULE_CREATE,
    "ScheduleUpdate": schemas.SCHEDULE_UPDATE,
    "PreviewRequest": schemas.PREVIEW,
    "ClaimRequest": schemas.CLAIM,
    "RunRequest": schemas.RUN,
    "CompleteRequest": schemas.COMPLETE,
    "FailRequest": schemas.FAIL,
    "HeartbeatRequest": schemas.HEARTBEAT,
    "BackfillRequest": schemas.BACKFILL,
    "Backfill": responses.BACKFILL_OUT,
    "Upcoming": responses.UPCOMING_OUT,
    "Heartbeat": responses.HEARTBEAT_OUT,
    "Schedule": responses.SCHEDULE_OUT,
    "ScheduleList": responses.SCHEDULE_LIST_OUT,
    "ScheduleDeleted": responses.SCHEDULE_DELETED_OUT,
    "Execution": responses.EXECUTION_OUT,
    "ExecutionList": responses.EXECUTION_LIST_OUT,
    "Preview": responses.PREVIEW_OUT,
    "Task": responses.TASK_OUT,
    "ClaimResult": responses.CLAIM_OUT,
    "Error": responses.ERROR_OUT,
    "CalendarCreate": schemas.CALENDAR_CREATE,
    "CalendarUpdate": schemas.CALENDAR_UPDATE,
    "Calendar": responses.CALENDAR_OUT,
    "CalendarList": responses.CALENDAR_LIST_OUT,
    "CalendarDeleted": responses.CALENDAR_DELETED_OUT,
    "PreviewChange": responses.PREVIEW_CHANGE_OUT,
    **openapi_events.COMPONENTS,
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "ScheduleCreate": {
        "task_type": "daily-report",
        "capability_required": "report-v1",
        "input_data": {"report_type": "sales"},
        "priority": 7,
        "cron_expression": "0 9 * * *",
        "timezone": "America/New_York",
        "description": "Daily sales report at 9 AM every day",
        "overlap_policy": "SKIP",
        "retry_policy": {"max_attempts": 3, "initial_interval_seconds": 30},
        "pause_after_failures": 5,
    },
    "ScheduleUpdate": {"status": ScheduleStatus.PAUSED},
    "PreviewRequest": {"cron_expression": "30 9 * * MON-FRI", "timezone": "Europe/Paris", "count": 3},
    "ClaimRequest": {"capabilities": ["report-v1"], "limit": 1},
    "RunRequest": {},
    "CompleteRequest": {"result_data": {"rows": 42}},
    "FailRequest": {"error_message": "upstream timed out", "retry": True},
    "HeartbeatRequest": {},
    "BackfillRequest": {"start": "2025-11-28T00:00:00Z", "end": "2025-11-29T00:00:00Z", "dry_run": True},
    "CalendarCreate": {"name": "US bank holidays", "dates": ["2026-11-26", "2026-12-25", "2027-01-01"]},
    "CalendarUpdate": {"ics": "BEGIN:VCALENDAR\r\n…\r\nEND:VCALENDAR\r\n"},
    **openapi_events.EXAMPLES,
}

_OFFSET = {"type": "integer", "minimum": 0, "maximum": limits.MAX_OFFSET, "default": 0}


def _query(name: str, schema: dict, description: str) -> dict:
    """Return an optional query parameter."""
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _path(name: str, pattern: str, description: str) -> dict:
    """Return a path parameter; ids carry their prefix (a task id never reads 'schedule')."""
    schema = {"type": "string", "pattern": pattern, "minLength": 1, "maxLength": 64}  # the id columns' width
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


SCHEDULE_ID = _path("schedule_id", "^sched-", "A schedule id, e.g. sched-9f86d081884c7d659a2feaa0c55ad015.")
TASK_ID = _path("task_id", "^task-", "A task id, e.g. task-2c26b46b68ffc68ff99b453c1d304134.")
CALENDAR_ID = _path("calendar_id", "^cal-", "A calendar id, e.g. cal-0a4d55a8d778e5022fab701977c5d840.")
_PAGE_SIZE = f"Page size, {limits.PAGE_LIMIT_MIN}..{limits.PAGE_LIMIT_MAX}."
_CURSOR = _query("cursor", {"type": "string", "maxLength": 512}, "The next_cursor of the previous page.")


def _paging(default_limit: int) -> list[dict]:
    """Return the paging parameters every list takes: limit (with this default), offset and cursor."""
    limit = {"type": "integer", "minimum": limits.PAGE_LIMIT_MIN, "maximum": limits.PAGE_LIMIT_MAX}
    return [
        _query("limit", {**limit, "default": default_limit}, _PAGE_SIZE),
        _query("offset", _OFFSET, "Rows to skip."),
        _CURSOR,
    ]


LIST_FILTERS = [
    _query("client_id", {"type": "string"}, "Only this client's schedules (admins)."),
    _query("status", {"type": "string", "enum": list(ScheduleStatus)}, "Only this status; DELETED only so."),
]
EXECUTION_FILTERS = [
    _query("status", {"type": "string", "enum": list(ExecutionStatus)}, "Only executions with this status."),
    _query("trigger", {"type": "string", "enum": list(ExecutionTrigger)}, "Only executions fired this way."),
]


def _op(
    op_id: str,
    summary: str,
    ok: tuple[int, str, str],
    errors: tuple[int, ...],
    body: str | None = None,
    params: list | None = None,
    body_required: bool = True,
) -> dict:
    """Return one operation: its success answer, its documented errors, its body and parameters."""
    status, component, description = ok
    operation: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary,
        "responses": {str(status): _json_response(description, component)},
    }
    for code in (*errors, *ALWAYS):
        operation["responses"][str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    if params:
        operation["parameters"] = params
    if body:
        media = {"schema": {"$ref": f"#/components/schemas/{body}"}, "example": EXAMPLES[body]}
        operation["requestBody"] = {"required": body_required, "content": {JSON: media}}
    return operation


def _json_response(description: str, component: str) -> dict:
    """Return a JSON response whose body is a component schema."""
    return {"description": description, "content": {JSON: {"schema": {"$ref": f"#/components/schemas/{component}"}}}}


def _paths() -> dict[str, dict[str, Any]]:
    """Return every /aitp operation, by path and method."""
    schedule = (200, "Schedule", "Every field of the schedule.")
    task = (200, "Task", "The task, with the execution that produced it.")
    return {
        "/aitp/tasks/schedule": {
            "post": _op(
                "createSchedule",
                "Create a schedule (cron_expression or run_at); client_id defaults to the caller.",
                (201, "Schedule", "The new schedule."),
                BODY_ERRORS,
                body="ScheduleCreate",
            ),
            "get": _op(
                "listSchedules",
                "List schedules, newest first; a non-admin agent sees only its own.",
                (200, "ScheduleList", "One page of schedules and the total that match."),
                (400, 401),
                params=LIST_FILTERS + _paging(limits.SCHEDULE_PAGE_DEFAULT),
            ),
        },
        "/aitp/tasks/schedule/preview": {
            "post": _op(
                "previewCron",
                "Describe a cron expression in English and list its next runs.",
                (200, "Preview", "The description and the next runs."),
                BODY_ERRORS,
                body="PreviewRequest",
            )
        },
        "/aitp/tasks/schedule/{schedule_id}": {
            "parameters": [SCHEDULE_ID],
            "get": _op("getSchedule", "Read a schedule.", schedule, (400, 401, 404)),
            "put": _op(
                "updateSchedule",
                "Change editable fields; timing changes recompute next_run_at.",
                schedule,
                (*BODY_ERRORS, 404, 409),
                body="ScheduleUpdate",
            ),
            "delete": _op(
                "deleteSchedule",
                "Cancel a schedule (soft delete: its history is kept).",
                (200, "ScheduleDeleted", "The schedule is DELETED."),
                (400, 401, 404, 409),
            ),
        },
        "/aitp/tasks/schedule/{schedule_id}/preview-change": {
            "parameters": [SCHEDULE_ID],
            "post": _op(
                "previewScheduleChange",
                "Show what a PUT with this body would do to the next 20 runs (before, after, added, removed); "
                "nothing is saved.",
                (200, "PreviewChange", "The runs before and after the change."),
                (*BODY_ERRORS, 404, 409),
                body="ScheduleUpdate",
            ),
        },
        "/aitp/tasks/schedule/{schedule_id}/executions": {
            "parameters": [SCHEDULE_ID],
            "get": _op(
                "listExecutions",
                "A schedule's execution history, newest first.",
                (200, "ExecutionList", "One page of executions and their total."),
                (400, 401, 404),
                params=EXECUTION_FILTERS + _paging(limits.EXECUTION_PAGE_DEFAULT),
            ),
        },
        "/aitp/tasks/schedule/{schedule_id}/upcoming": {
            "parameters": [SCHEDULE_ID],
            "get": _op(
                "upcomingRuns",
                "The next runs as the dispatcher will fire them: bounds, remaining_runs and jitter (fire_at) "
                "applied; empty unless the schedule is ACTIVE.",
                (200, "Upcoming", "The next runs, oldest first."),
                (400, 401, 404),
                params=[
                    _query(
                        "count",
                        {"type": "integer", "minimum": 1, "maximum": limits.UPCOMING_MAX, "default": 10},
                        f"How many, 1..{limits.UPCOMING_MAX}.",
                    )
                ],
            ),
        },
        "/aitp/tasks/schedule/{schedule_id}/backfill": {"parameters": [SCHEDULE_ID], "post": _backfill_op()},
        "/aitp/tasks/schedule/{schedule_id}/run": {
            "parameters": [SCHEDULE_ID],
            "post": _op(
                "runSchedule",
                "Fire the schedule once, now, outside its rhythm (no body, or an empty object).",
                (201, "Execution", "The execution of this firing, with its task."),
                (*BODY_ERRORS, 404, 409),
                body="RunRequest",
                body_required=False,
            ),
        },
        "/aitp/tasks/claim": {
            "post": _op(
                "claimTasks",
                "Claim PENDING tasks for the offered capabilities; they become RUNNING under a lease.",
                (200, "ClaimResult", "The claimed tasks, possibly none."),
                BODY_ERRORS,
                body="ClaimRequest",
            )
        },
        "/aitp/tasks/{task_id}": {
            "parameters": [TASK_ID],
            "get": _op("getTask", "Read a task (its client, its claiming agent or an admin).", task, (400, 401, 404)),
        },
        "/aitp/tasks/{task_id}/complete": {
            "parameters": [TASK_ID],
            "post": _op(
                "completeTask",
                "Complete a task you hold; its execution becomes COMPLETED.",
                task,
                (*BODY_ERRORS, 404, 409),
                body="CompleteRequest",
                body_required=False,
            ),
        },
        "/aitp/tasks/{task_id}/fail": {
            "parameters": [TASK_ID],
            "post": _op(
                "failTask",
                "Fail your attempt at a task: it is retried after its backoff while attempts remain "
                '(not with "retry": false); else it and its execution become FAILED and the schedule counts it.',
                task,
                (*BODY_ERRORS, 404, 409),
                body="FailRequest",
            ),
        },
        "/aitp/tasks/{task_id}/heartbeat": {
            "parameters": [TASK_ID],
            "post": _op(
                "heartbeatTask",
                "Extend the lease of a task you hold by its timeout_seconds; 409 if you do not hold it.",
                (200, "Heartbeat", "The new lease, and whether the task should stop (cancel_requested)."),
                (*BODY_ERRORS, 404, 409),
                body="HeartbeatRequest",
                body_required=False,
            ),
        },
        **_calendar_paths(),
        **openapi_events.paths(_op, _path, _query, _paging),
        "/aitp/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "The OpenAPI document.",
                        "content": {JSON: {"schema": {"type": "object", "required": ["openapi", "paths"]}}},
                    }
                },
            }
        },
    }


def _backfill_op() -> dict:
    """Return the backfill operation: 201 when it fires, 200 for a dry run."""
    operation = _op(
        "backfillSchedule",
        "Fire the occurrences in [start, end) that have no execution yet, oldest first, each once, with "
        f"trigger BACKFILL (201); dry_run lists them and fires nothing (200). Over {limits.BACKFILL_MAX:,} "
        "occurrences is a 400; a one-time or DELETED schedule, or too few remaining_runs, a 409.",
        (201, "Backfill", "How many fired, and each occurrence's action (FIRE or EXISTS)."),
        (*BODY_ERRORS, 404, 409),
        body="BackfillRequest",
    )
    operation["responses"]["200"] = _json_response("The dry run: what would fire; nothing changed.", "Backfill")
    return operation


def _calendar_paths() -> dict[str, dict[str, Any]]:
    """Return the /aitp/calendars operations."""
    calendar = (200, "Calendar", "The calendar, its dates sorted.")
    return {
        "/aitp/calendars": {
            "post": _op(
                "createCalendar",
                "Create a holiday calendar from `dates` or from `ics` (iCalendar text; all-day events become dates).",
                (201, "Calendar", "The new calendar."),
                BODY_ERRORS,
                body="CalendarCreate",
            ),
            "get": _op(
                "listCalendars",
                "List calendars, newest first; a non-admin agent sees only its own.",
                (200, "CalendarList", "One page of calendars and the total that match."),
                (400, 401),
                params=[
                    _query("client_id", {"type": "string"}, "Only this client's calendars (admins)."),
                    *_paging(20),
                ],
            ),
        },
        "/aitp/calendars/{calendar_id}": {
            "parameters": [CALENDAR_ID],
            "get": _op("getCalendar", "Read a calendar.", calendar, (400, 401, 404)),
            "put": _op(
                "updateCalendar",
                "Rename a calendar or replace its dates; every schedule using it plans its next run again.",
                calendar,
                (*BODY_ERRORS, 404),
                body="CalendarUpdate",
            ),
            "delete": _op(
                "deleteCalendar",
                "Delete a calendar; one that a schedule (not DELETED) uses is a 409.",
                (200, "CalendarDeleted", "The calendar is gone."),
                (400, 401, 404, 409),
            ),
        },
    }


@functools.cache
def _document() -> dict[str, Any]:
    """Build the document once per process."""
    responses = {
        name: {
            "description": description,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for name, description in ERRORS.values()
    }
    responses["Unavailable"]["headers"] = {
        "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 1}}
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Schedule service API",
            "version": VERSION,
            "description": (
                "Agents create schedules and claim the tasks they produce. Every call but this document's "
                'carries `Authorization: Bearer <api key>`. Errors answer `{"error": {"code", "message", "field"}}`.'
            ),
        },
        "security": [{"bearerKey": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearerKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An agent's API key, from `flask --app wsgi agents create` (shown once).",
                }
            },
            "schemas": COMPONENTS,
            "responses": responses,
        },
    }


def document() -> dict[str, Any]:
    """Return the OpenAPI document (a copy the caller may change)."""
    return copy.deepcopy(_document())


def openapi_path(rule: str) -> str:
    """Turn a Flask rule (/aitp/tasks/<task_id>) into an OpenAPI path (/aitp/tasks/{task_id})."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


@bp.get("/openapi.json")
def openapi_json():
    """Serve the document; it needs no key."""
    return jsonify(_document())


def init_app(app: Flask) -> None:
    """Register the document's route."""
    app.register_blueprint(bp)
