"""The JSON Schemas of the response bodies of schedules, executions, previews, calendars and tasks, and
the pieces every answer is built from: the OpenAPI document publishes them and the tests check real answers
against them. Fields that answer a request field share its schema from schemas.py."""

from __future__ import annotations

from typing import Any

from ..models import ExecutionReason, ExecutionStatus, ExecutionTrigger, ScheduleStatus, TaskStatus
from ..scheduling.calendars import MAX_DATES, HolidayRule
from ..scheduling.cron import DstGap, DstRepeat
from .limits import PRIORITY_MAX, PRIORITY_MIN, UNCLAIMED_ALERT_MAX, UNCLAIMED_ALERT_MIN
from .schemas import POLICY_FIELDS, RETRY_POLICY

INSTANT = {"type": "string", "format": "date-time", "pattern": "Z$"}
MAYBE_INSTANT = {"type": ["string", "null"], "format": "date-time", "pattern": "Z$"}
CLIENT_ID = {"type": "string", "minLength": 1}


def record(properties: dict[str, Any]) -> dict[str, Any]:
    """Return an object schema that requires every listed field (extra fields are allowed)."""
    return {"type": "object", "properties": properties, "required": list(properties)}


_PAGE = {"total": {"type": "integer", "minimum": 0}, "limit": {"type": "integer"}, "offset": {"type": "integer"}}
_CURSOR = {
    "type": ["string", "null"],
    "description": "Pass as `cursor` for the next page (constant time at any depth); null on the last page.",
}


def page_of(name: str, item: dict[str, Any], cursor: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a page of a list: its items under `name`, the total, limit and offset, then the next cursor."""
    page = record({name: {"type": "array", "items": item}, **_PAGE})
    page["properties"]["next_cursor"] = cursor or _CURSOR  # answered, not required
    return page


# What a schedule runs: the same fields on the schedule and on each task it creates.
_WORK = {
    "client_id": CLIENT_ID,
    "task_type": {"type": "string"},
    "capability_required": {"type": "string"},
    "input_data": {"type": "object"},
}

SCHEDULE_OUT = record(
    {
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        **_WORK,
        "priority": {"type": "integer", "minimum": PRIORITY_MIN, "maximum": PRIORITY_MAX},
        "cron_expression": {"type": ["string", "null"]},
        "run_at": MAYBE_INSTANT,
        "timezone": {"type": "string"},
        "status": {"type": "string", "enum": list(ScheduleStatus)},
        "next_run_at": MAYBE_INSTANT,
        "last_run_at": MAYBE_INSTANT,
        "total_runs": {"type": "integer", "minimum": 0},
        "failed_runs": {"type": "integer", "minimum": 0},
        "description": {"type": ["string", "null"]},
        "created_at": INSTANT,
        "updated_at": INSTANT,
    }
)
SCHEDULE_OUT["properties"]["last_error"] = {
    "type": ["string", "null"],
    "description": "Why it became FAILED or COMPLETED by a bound or a run limit.",
}
# The latest fired execution, on every schedule answer: a one-time schedule's says whether its run succeeded.
LAST_RUN_OUT = {
    "type": ["object", "null"],
    "properties": {
        "execution_id": {"type": "string", "pattern": "^exec-"},
        "scheduled_for": INSTANT,
        "status": {"type": "string", "enum": list(ExecutionStatus)},
        "finished_at": MAYBE_INSTANT,
        "error_message": {"type": ["string", "null"]},
    },
    "required": ["execution_id", "scheduled_for", "status", "finished_at", "error_message"],
}
# The rest of a schedule answer, every field required: its policies, what they have done, its timing
# policy, its alert and its last run.
_SCHEDULE_STATE: dict[str, Any] = {
    **{k: {key: val for key, val in v.items() if key != "maxLength"} for k, v in POLICY_FIELDS.items()},
    "start_at": MAYBE_INSTANT,
    "end_at": MAYBE_INSTANT,
    "retry_policy": {
        "type": "object",
        "properties": RETRY_POLICY["properties"],
        "required": list(RETRY_POLICY["properties"]),
    },
    "remaining_runs": {"type": ["integer", "null"], "minimum": 0, "description": "Firings left under max_runs."},
    "consecutive_failures": {
        "type": "integer",
        "minimum": 0,
        "description": "FAILED executions since the last COMPLETED one.",
    },
    "paused_reason": {"type": ["string", "null"], "description": "Why the schedule paused itself."},
    "dst_gap": {"type": "string", "enum": list(DstGap)},
    "dst_repeat": {"type": "string", "enum": list(DstRepeat)},
    "calendar_id": {"type": ["string", "null"]},
    "holiday_rule": {"type": ["string", "null"], "enum": [*HolidayRule, None]},
    "unclaimed_alert_seconds": {
        "type": ["integer", "null"],
        "minimum": UNCLAIMED_ALERT_MIN,
        "maximum": UNCLAIMED_ALERT_MAX,
    },
    "last_run": LAST_RUN_OUT,
}
SCHEDULE_OUT["properties"].update(_SCHEDULE_STATE)
SCHEDULE_OUT["required"] += list(_SCHEDULE_STATE)

CALENDAR_OUT = record(
    {
        "calendar_id": {"type": "string", "pattern": "^cal-"},
        "client_id": CLIENT_ID,
        "name": {"type": "string"},
        "dates": {"type": "array", "items": {"type": "string", "format": "date"}, "maxItems": MAX_DATES},
        "created_at": INSTANT,
        "updated_at": INSTANT,
    }
)

CALENDAR_LIST_OUT = page_of("calendars", CALENDAR_OUT, cursor={"type": ["string", "null"]})

CALENDAR_DELETED_OUT = record({"calendar_id": {"type": "string", "pattern": "^cal-"}, "deleted": {"const": True}})

SCHEDULE_LIST_OUT = page_of("schedules", SCHEDULE_OUT)

SCHEDULE_DELETED_OUT = record(
    {
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "status": {"const": ScheduleStatus.DELETED},
        "message": {"type": "string"},
    }
)

EXECUTION_OUT = record(
    {
        "execution_id": {"type": "string", "pattern": "^exec-"},
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "task_id": {"type": ["string", "null"], "pattern": "^task-"},
        "scheduled_for": INSTANT,
        "executed_at": MAYBE_INSTANT,
        "status": {"type": "string", "enum": list(ExecutionStatus)},
        "result_data": {},
        "error_message": {"type": ["string", "null"]},
        "trigger": {"type": "string", "enum": list(ExecutionTrigger)},
        "reason": {"type": ["string", "null"], "enum": [*ExecutionReason, None]},
        "attempts": {"type": "integer", "minimum": 0},
        "started_at": MAYBE_INSTANT,
        "finished_at": MAYBE_INSTANT,
        "duration_seconds": {"type": ["number", "null"], "minimum": 0, "description": "finished_at - started_at."},
    }
)

EXECUTION_LIST_OUT = record({"executions": {"type": "array", "items": EXECUTION_OUT}, "total": _PAGE["total"]})
EXECUTION_LIST_OUT["properties"].update(limit=_PAGE["limit"], offset=_PAGE["offset"], next_cursor=_CURSOR)

# The cron occurrence of a run a holiday moved.
_NOMINAL = {**INSTANT, "description": "The cron occurrence, before a holiday move."}

PREVIEW_OUT = record(
    {
        "cron_expression": {"type": "string"},
        "timezone": {"type": "string"},
        "description": {"type": "string", "minLength": 1},
        "next_runs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": INSTANT,
                    "local": {"type": "string", "format": "date-time", "pattern": "[+-][0-9]{2}:[0-9]{2}$"},
                    "note": {
                        "type": ["string", "null"],
                        "description": "Daylight saving: shifted, skipped (does not fire), first or second.",
                    },
                    "holiday": {
                        "type": ["string", "null"],
                        "enum": ["moved", "holiday", None],
                        "description": "moved: to another business day; holiday: recorded SKIPPED, no task.",
                    },
                    "nominal": _NOMINAL,
                    "fires": {"type": "boolean"},
                },
                "required": ["at", "local"],
            },
        },
    }
)

PREVIEW_OUT["properties"].update(
    dst_gap=SCHEDULE_OUT["properties"]["dst_gap"],
    dst_repeat=SCHEDULE_OUT["properties"]["dst_repeat"],
    calendar_id=SCHEDULE_OUT["properties"]["calendar_id"],
    holiday_rule=SCHEDULE_OUT["properties"]["holiday_rule"],
)

_RUNS = {"type": "array", "items": PREVIEW_OUT["properties"]["next_runs"]["items"]}
PREVIEW_CHANGE_OUT = record({"before": _RUNS, "after": _RUNS, "added": _RUNS, "removed": _RUNS})

TASK_OUT = record(
    {
        "task_id": {"type": "string", "pattern": "^task-"},
        **_WORK,
        "priority": {"type": "integer"},
        "status": {"type": "string", "enum": list(TaskStatus)},
        "agent_id": {"type": ["string", "null"]},
        "lease_expires_at": MAYBE_INSTANT,
        "attempts": {"type": "integer", "minimum": 0},
        "result_data": {},
        "error_message": {"type": ["string", "null"]},
        "created_at": INSTANT,
        "updated_at": INSTANT,
        "max_attempts": {"type": "integer", "minimum": 1},
        "not_before": MAYBE_INSTANT,
        "timeout_seconds": {"type": "integer", "minimum": 1},
        "cancel_requested": {"type": "boolean"},
        "started_at": MAYBE_INSTANT,
        "finished_at": MAYBE_INSTANT,
        "duration_seconds": {"type": ["number", "null"], "minimum": 0},
    }
)

TASK_OUT["properties"]["schedule_id"] = {"type": ["string", "null"], "pattern": "^sched-"}
TASK_OUT["properties"]["execution"] = {"anyOf": [EXECUTION_OUT, {"type": "null"}]}

CLAIM_OUT = record({"tasks": {"type": "array", "items": TASK_OUT}})

ERROR_OUT = record(
    {
        "error": record(
            {
                "code": {"type": "string", "minLength": 1},
                "message": {"type": "string", "minLength": 1},
                "field": {"type": ["string", "null"]},
            }
        )
    }
)

HEARTBEAT_OUT = record(
    {
        "task_id": {"type": "string", "pattern": "^task-"},
        "lease_expires_at": INSTANT,
        "cancel_requested": {"type": "boolean"},
    }
)

_HOLIDAY_MARK = {"type": ["string", "null"], "enum": ["moved", "holiday", None]}
UPCOMING_OUT = record(
    {
        "upcoming": {
            "type": "array",
            "items": record(
                {
                    "scheduled_for": INSTANT,
                    "fire_at": INSTANT,
                    "local": {"type": "string", "format": "date-time"},
                    "note": {
                        "type": ["string", "null"],
                        "description": "What moved or marked the run: moved, holiday (recorded skipped, no task), "
                        "and the daylight-saving note (shifted, first, second), joined by '; '.",
                    },
                }
            ),
        }
    }
)

_UPCOMING_ITEM = UPCOMING_OUT["properties"]["upcoming"]["items"]["properties"]
_UPCOMING_ITEM["holiday"] = _HOLIDAY_MARK
_UPCOMING_ITEM["nominal"] = _NOMINAL

BACKFILL_OUT = record(
    {
        "fired": {"type": "integer", "minimum": 0},
        "occurrences": {
            "type": "array",
            "items": record({"scheduled_for": INSTANT, "action": {"type": "string", "enum": ["FIRE", "EXISTS"]}}),
        },
    }
)
