"""The JSON Schemas of the request and response bodies: the API validates requests with them (through
validation.py), OpenAPI publishes them, and the tests check real answers against them."""

from __future__ import annotations

from typing import Any

from ..models import (
    TEST_EVENT,
    ActorType,
    DeliveryStatus,
    EventType,
    ExecutionReason,
    ExecutionStatus,
    ExecutionTrigger,
    MisfirePolicy,
    OverlapPolicy,
    ScheduleStatus,
    TaskStatus,
)
from ..scheduling.calendars import MAX_DATES, HolidayRule
from ..scheduling.cron import DstGap, DstRepeat
from .limits import (
    BACKOFF_MAX,
    BACKOFF_MIN,
    CATCHUP_WINDOW_MAX,
    CLAIM_LIMIT_MAX,
    DESCRIPTION_MAX,
    ERROR_MESSAGE_MAX,
    ICS_MAX_CHARACTERS,
    ID_MAX,
    INSTANT_MAX,
    JITTER_MAX,
    LEASE_SECONDS_MAX,
    MAX_RUNS_MAX,
    PAUSE_AFTER_MAX,
    PREVIEW_COUNT_MAX,
    PREVIEW_COUNT_MIN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    RETRY_ATTEMPTS_MAX,
    RETRY_INTERVAL_MAX,
    TEXT_MAX,
    TIMEOUT_MAX,
    UNCLAIMED_ALERT_MAX,
    UNCLAIMED_ALERT_MIN,
    URL_MAX,
    ZONE_MAX,
)

EDITABLE_STATUSES = [ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED]
_TEXT = {"type": "string", "minLength": 1, "maxLength": TEXT_MAX}

# The DST policy and holiday rule of a cron schedule: on schedules and in previews.
TIMING_POLICY: dict[str, Any] = {
    "dst_gap": {
        "type": "string",
        "enum": list(DstGap),
        "description": "A fixed time a spring-forward gap swallows: "
        "SHIFT fires at the end of the gap, SKIP does not fire that day. Fixed-time schedules only.",
    },
    "dst_repeat": {
        "type": "string",
        "enum": list(DstRepeat),
        "description": "A fixed time a fall-back repeats "
        "fires at its FIRST reading, its SECOND, or BOTH. Fixed-time schedules only.",
    },
    "calendar_id": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 64,
        "description": "A calendar of the schedule's client: its dates are non-business days.",
    },
    "holiday_rule": {
        "type": ["string", "null"],
        "enum": [*HolidayRule, None],
        "description": "What a run on a "
        "Saturday, Sunday or calendar date does: SKIP it, or move it to the NEXT_ or "
        "PREVIOUS_BUSINESS_DAY at the same local time. Null: no rule.",
    },
}

SCHEDULE_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "minLength": 1, "maxLength": ID_MAX},
    "task_type": _TEXT,
    "capability_required": _TEXT,
    "input_data": {"type": "object"},
    "priority": {"type": "integer", "minimum": PRIORITY_MIN, "maximum": PRIORITY_MAX},
    "cron_expression": {"type": ["string", "null"], "maxLength": TEXT_MAX},
    "run_at": {"type": ["string", "null"], "maxLength": INSTANT_MAX},
    "timezone": {"type": "string", "minLength": 1, "maxLength": ZONE_MAX},
    "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX},
    **TIMING_POLICY,
    "unclaimed_alert_seconds": {
        "type": ["integer", "null"],
        "minimum": UNCLAIMED_ALERT_MIN,
        "maximum": UNCLAIMED_ALERT_MAX,
        "description": "Send task.unclaimed when a task of this schedule waits claimable longer than this.",
    },
}


def _int(low: int, high: int, nullable: bool = False, description: str = "") -> dict[str, Any]:
    """Return an integer schema with its range (and null when allowed)."""
    return {
        "type": ["integer", "null"] if nullable else "integer",
        "minimum": low,
        "maximum": high,
        "description": description,
    }


RETRY_POLICY = {
    "type": ["object", "null"],
    "description": "How the tasks this schedule creates are retried; omitted keys take their defaults.",
    "properties": {
        "max_attempts": _int(1, RETRY_ATTEMPTS_MAX, description="Attempts in all, the first included (1: no retry)."),
        "initial_interval_seconds": _int(1, RETRY_INTERVAL_MAX, description="Wait before the first retry (10)."),
        "backoff_coefficient": {
            "type": "number",
            "minimum": BACKOFF_MIN,
            "maximum": BACKOFF_MAX,
            "description": "Each wait grows by this factor (2.0).",
        },
        "max_interval_seconds": _int(1, RETRY_INTERVAL_MAX, description="No wait is longer (3600)."),
    },
    "additionalProperties": False,
}

POLICY_FIELDS: dict[str, Any] = {
    "overlap_policy": {
        "type": "string",
        "enum": list(OverlapPolicy),
        "description": "An occurrence while the previous run is going (ALLOW).",
    },
    "misfire_policy": {
        "type": "string",
        "enum": list(MisfirePolicy),
        "description": "Missed occurrences (FIRE_LATEST).",
    },
    "catchup_window_seconds": _int(1, CATCHUP_WINDOW_MAX, True, "An occurrence due longer ago never fires."),
    "start_at": {"type": ["string", "null"], "maxLength": INSTANT_MAX, "description": "No occurrence before it."},
    "end_at": {"type": ["string", "null"], "maxLength": INSTANT_MAX, "description": "No occurrence after it."},
    "max_runs": _int(1, MAX_RUNS_MAX, True, "Complete after this many firings (cron only)."),
    "jitter_seconds": _int(0, JITTER_MAX, description="Stable offset in [0, jitter) per occurrence."),
    "retry_policy": RETRY_POLICY,
    "timeout_seconds": _int(
        1, TIMEOUT_MAX, description="Lease a claim grants: an attempt without a heartbeat this long has failed."
    ),
    "pause_after_failures": _int(1, PAUSE_AFTER_MAX, True, "Pause after this many consecutive FAILED executions."),
}
SCHEDULE_FIELDS.update(POLICY_FIELDS)

SCHEDULE_CREATE = {
    "type": "object",
    "properties": SCHEDULE_FIELDS,
    "required": ["task_type", "capability_required"],
    "additionalProperties": False,
}

SCHEDULE_UPDATE = {
    "type": "object",
    "properties": {
        **{k: v for k, v in SCHEDULE_FIELDS.items() if k != "client_id"},
        "status": {"type": "string", "enum": EDITABLE_STATUSES},
    },
    "additionalProperties": False,
    "minProperties": 1,
}

PREVIEW = {
    "type": "object",
    "properties": {
        "cron_expression": {"type": "string", "maxLength": TEXT_MAX},
        "timezone": {"type": "string", "minLength": 1, "maxLength": ZONE_MAX},
        "start": {"type": "string", "maxLength": INSTANT_MAX},
        "count": {"type": "integer", "minimum": PREVIEW_COUNT_MIN, "maximum": PREVIEW_COUNT_MAX},
        **TIMING_POLICY,
    },
    "required": ["cron_expression"],
    "additionalProperties": False,
}

CLAIM = {
    "type": "object",
    "properties": {
        "capabilities": {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": CLAIM_LIMIT_MAX},
        "limit": {"type": "integer", "minimum": 1, "maximum": CLAIM_LIMIT_MAX},
        "lease_seconds": {"type": "integer", "minimum": 1, "maximum": LEASE_SECONDS_MAX},
    },
    "required": ["capabilities"],
    "additionalProperties": False,
}

CALENDAR_FIELDS: dict[str, Any] = {
    "name": _TEXT,
    "dates": {
        "type": "array",
        "items": {"type": "string", "maxLength": 10},
        "maxItems": MAX_DATES,
        "description": f"Holiday dates, YYYY-MM-DD; at most {MAX_DATES}.",
    },
    "ics": {
        "type": "string",
        "maxLength": ICS_MAX_CHARACTERS,
        "description": "iCalendar text instead of dates: each all-day event gives its dates (a yearly one, ten years).",
    },
}

CALENDAR_CREATE = {
    "type": "object",
    "properties": {"client_id": SCHEDULE_FIELDS["client_id"], **CALENDAR_FIELDS},
    "required": ["name"],
    "additionalProperties": False,
}

CALENDAR_UPDATE = {
    "type": "object",
    "properties": CALENDAR_FIELDS,
    "additionalProperties": False,
    "minProperties": 1,
}

# A run-now is an explicit act with nothing to say yet: an empty body or {}; any field is refused, not ignored.
RUN = {"type": "object", "properties": {}, "additionalProperties": False}

COMPLETE = {
    "type": "object",
    "properties": {"result_data": {}},
    "additionalProperties": False,
}

FAIL = {
    "type": "object",
    "properties": {
        "error_message": {"type": "string", "minLength": 1, "maxLength": ERROR_MESSAGE_MAX},
        "retry": {"type": "boolean", "description": "false fails the task for good at once (default true)."},
    },
    "required": ["error_message"],
    "additionalProperties": False,
}

HEARTBEAT = {"type": "object", "properties": {}, "additionalProperties": False}

BACKFILL = {
    "type": "object",
    "properties": {
        "start": {"type": "string", "maxLength": INSTANT_MAX, "description": "First instant of the range (inclusive)."},
        "end": {
            "type": "string",
            "maxLength": INSTANT_MAX,
            "description": "End of the range (exclusive), not in the future.",
        },
        "dry_run": {"type": "boolean", "description": "List what would fire; change nothing."},
    },
    "required": ["start", "end"],
    "additionalProperties": False,
}

# The query parameters each paged list takes: auth.require_agent refuses any other.
PAGING_QUERY = ("limit", "offset", "cursor")
SCHEDULE_LIST_QUERY = ("client_id", "status", *PAGING_QUERY)
EXECUTION_LIST_QUERY = ("status", "trigger", *PAGING_QUERY)
CALENDAR_LIST_QUERY = ("client_id", *PAGING_QUERY)
DELIVERY_LIST_QUERY = ("status", *PAGING_QUERY)
AUDIT_LIST_QUERY = ("schedule_id", *PAGING_QUERY)

WEBHOOK_CREATE = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "minLength": 1, "maxLength": URL_MAX, "description": "An http:// or https:// URL."},
        "events": {
            "type": "array",
            "items": {"type": "string", "enum": [e.value for e in EventType]},
            "minItems": 1,
            "maxItems": len(EventType),
        },
        "description": {"type": ["string", "null"], "maxLength": DESCRIPTION_MAX},
    },
    "required": ["url", "events"],
    "additionalProperties": False,
}

# Response bodies: the OpenAPI document publishes them and the tests check real answers against them.
_INSTANT = {"type": "string", "format": "date-time", "pattern": "Z$"}
_MAYBE_INSTANT = {"type": ["string", "null"], "format": "date-time", "pattern": "Z$"}
_ID = {"type": "string", "minLength": 1}


def _record(properties: dict[str, Any]) -> dict[str, Any]:
    """Return an object schema that requires every listed field (extra fields are allowed)."""
    return {"type": "object", "properties": properties, "required": list(properties)}


SCHEDULE_OUT = _record(
    {
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "client_id": _ID,
        "task_type": {"type": "string"},
        "capability_required": {"type": "string"},
        "input_data": {"type": "object"},
        "priority": {"type": "integer", "minimum": PRIORITY_MIN, "maximum": PRIORITY_MAX},
        "cron_expression": {"type": ["string", "null"]},
        "run_at": _MAYBE_INSTANT,
        "timezone": {"type": "string"},
        "status": {"type": "string", "enum": list(ScheduleStatus)},
        "next_run_at": _MAYBE_INSTANT,
        "last_run_at": _MAYBE_INSTANT,
        "total_runs": {"type": "integer", "minimum": 0},
        "failed_runs": {"type": "integer", "minimum": 0},
        "description": {"type": ["string", "null"]},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    }
)
SCHEDULE_OUT["properties"]["last_error"] = {
    "type": ["string", "null"],
    "description": "Why it became FAILED or COMPLETED by a bound or a run limit.",
}
_POLICY_OUT: dict[str, Any] = {
    **{k: {key: val for key, val in v.items() if key != "maxLength"} for k, v in POLICY_FIELDS.items()},
    "start_at": _MAYBE_INSTANT,
    "end_at": _MAYBE_INSTANT,
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
}
SCHEDULE_OUT["properties"].update(_POLICY_OUT)
SCHEDULE_OUT["required"] += list(_POLICY_OUT)
SCHEDULE_OUT["properties"].update(
    dst_gap={"type": "string", "enum": list(DstGap)},
    dst_repeat={"type": "string", "enum": list(DstRepeat)},
    calendar_id={"type": ["string", "null"]},
    holiday_rule={"type": ["string", "null"], "enum": [*HolidayRule, None]},
)
SCHEDULE_OUT["required"] += ["dst_gap", "dst_repeat", "calendar_id", "holiday_rule"]

CALENDAR_OUT = _record(
    {
        "calendar_id": {"type": "string", "pattern": "^cal-"},
        "client_id": _ID,
        "name": {"type": "string"},
        "dates": {"type": "array", "items": {"type": "string", "format": "date"}, "maxItems": MAX_DATES},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
    }
)
SCHEDULE_OUT["properties"]["unclaimed_alert_seconds"] = {
    "type": ["integer", "null"],
    "minimum": UNCLAIMED_ALERT_MIN,
    "maximum": UNCLAIMED_ALERT_MAX,
}
SCHEDULE_OUT["required"].append("unclaimed_alert_seconds")

_PAGE = {"total": {"type": "integer", "minimum": 0}, "limit": {"type": "integer"}, "offset": {"type": "integer"}}

CALENDAR_LIST_OUT = _record({"calendars": {"type": "array", "items": CALENDAR_OUT}, **_PAGE})
CALENDAR_LIST_OUT["properties"]["next_cursor"] = {"type": ["string", "null"]}

CALENDAR_DELETED_OUT = _record({"calendar_id": {"type": "string", "pattern": "^cal-"}, "deleted": {"const": True}})

SCHEDULE_LIST_OUT = _record({"schedules": {"type": "array", "items": SCHEDULE_OUT}, **_PAGE})
SCHEDULE_LIST_OUT["properties"]["next_cursor"] = {
    "type": ["string", "null"],
    "description": "Pass as `cursor` for the next page (constant time at any depth); null on the last page.",
}

SCHEDULE_DELETED_OUT = _record(
    {
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "status": {"const": ScheduleStatus.DELETED},
        "message": {"type": "string"},
    }
)

EXECUTION_OUT = _record(
    {
        "execution_id": {"type": "string", "pattern": "^exec-"},
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "task_id": {"type": ["string", "null"], "pattern": "^task-"},
        "scheduled_for": _INSTANT,
        "executed_at": _MAYBE_INSTANT,
        "status": {"type": "string", "enum": list(ExecutionStatus)},
        "result_data": {},
        "error_message": {"type": ["string", "null"]},
        "trigger": {"type": "string", "enum": list(ExecutionTrigger)},
        "reason": {"type": ["string", "null"], "enum": [*ExecutionReason, None]},
        "attempts": {"type": "integer", "minimum": 0},
        "started_at": _MAYBE_INSTANT,
        "finished_at": _MAYBE_INSTANT,
        "duration_seconds": {"type": ["number", "null"], "minimum": 0, "description": "finished_at - started_at."},
    }
)
# The latest fired execution, on every schedule answer: a one-time schedule's says whether its run succeeded.
LAST_RUN_OUT = {
    "type": ["object", "null"],
    "properties": {
        "execution_id": {"type": "string", "pattern": "^exec-"},
        "scheduled_for": _INSTANT,
        "status": {"type": "string", "enum": list(ExecutionStatus)},
        "finished_at": _MAYBE_INSTANT,
        "error_message": {"type": ["string", "null"]},
    },
    "required": ["execution_id", "scheduled_for", "status", "finished_at", "error_message"],
}
SCHEDULE_OUT["properties"]["last_run"] = LAST_RUN_OUT
SCHEDULE_OUT["required"].append("last_run")

EXECUTION_LIST_OUT = _record({"executions": {"type": "array", "items": EXECUTION_OUT}, "total": _PAGE["total"]})
EXECUTION_LIST_OUT["properties"].update(
    limit=_PAGE["limit"], offset=_PAGE["offset"], next_cursor=SCHEDULE_LIST_OUT["properties"]["next_cursor"]
)

PREVIEW_OUT = _record(
    {
        "cron_expression": {"type": "string"},
        "timezone": {"type": "string"},
        "description": {"type": "string", "minLength": 1},
        "next_runs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "at": _INSTANT,
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
                    "nominal": {**_INSTANT, "description": "The cron occurrence, before a holiday move."},
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
PREVIEW_CHANGE_OUT = _record({"before": _RUNS, "after": _RUNS, "added": _RUNS, "removed": _RUNS})

TASK_OUT = _record(
    {
        "task_id": {"type": "string", "pattern": "^task-"},
        "client_id": _ID,
        "task_type": {"type": "string"},
        "capability_required": {"type": "string"},
        "input_data": {"type": "object"},
        "priority": {"type": "integer"},
        "status": {"type": "string", "enum": list(TaskStatus)},
        "agent_id": {"type": ["string", "null"]},
        "lease_expires_at": _MAYBE_INSTANT,
        "attempts": {"type": "integer", "minimum": 0},
        "result_data": {},
        "error_message": {"type": ["string", "null"]},
        "created_at": _INSTANT,
        "updated_at": _INSTANT,
        "max_attempts": {"type": "integer", "minimum": 1},
        "not_before": _MAYBE_INSTANT,
        "timeout_seconds": {"type": "integer", "minimum": 1},
        "cancel_requested": {"type": "boolean"},
        "started_at": _MAYBE_INSTANT,
        "finished_at": _MAYBE_INSTANT,
        "duration_seconds": {"type": ["number", "null"], "minimum": 0},
    }
)

TASK_OUT["properties"]["schedule_id"] = {"type": ["string", "null"], "pattern": "^sched-"}
TASK_OUT["properties"]["execution"] = {"anyOf": [EXECUTION_OUT, {"type": "null"}]}

CLAIM_OUT = _record({"tasks": {"type": "array", "items": TASK_OUT}})

ERROR_OUT = _record(
    {
        "error": _record(
            {
                "code": {"type": "string", "minLength": 1},
                "message": {"type": "string", "minLength": 1},
                "field": {"type": ["string", "null"]},
            }
        )
    }
)

HEARTBEAT_OUT = _record(
    {
        "task_id": {"type": "string", "pattern": "^task-"},
        "lease_expires_at": _INSTANT,
        "cancel_requested": {"type": "boolean"},
    }
)

_HOLIDAY_MARK = {"type": ["string", "null"], "enum": ["moved", "holiday", None]}
UPCOMING_OUT = _record(
    {
        "upcoming": {
            "type": "array",
            "items": _record(
                {
                    "scheduled_for": _INSTANT,
                    "fire_at": _INSTANT,
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
_UPCOMING_ITEM["nominal"] = {**_INSTANT, "description": "The cron occurrence, before a holiday move."}

BACKFILL_OUT = _record(
    {
        "fired": {"type": "integer", "minimum": 0},
        "occurrences": {
            "type": "array",
            "items": _record({"scheduled_for": _INSTANT, "action": {"type": "string", "enum": ["FIRE", "EXISTS"]}}),
        },
    }
)

WEBHOOK_OUT = _record(
    {
        "webhook_id": {"type": "string", "pattern": "^wh-"},
        "client_id": _ID,
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": [e.value for e in EventType]}},
        "description": {"type": ["string", "null"]},
        "created_at": _INSTANT,
    }
)
WEBHOOK_CREATED_OUT = _record({**WEBHOOK_OUT["properties"], "secret": {"type": "string", "minLength": 32}})
WEBHOOK_CREATED_OUT["properties"]["secret"]["description"] = "The signing secret, shown in this answer only."
WEBHOOK_LIST_OUT = _record({"webhooks": {"type": "array", "items": WEBHOOK_OUT}, **_PAGE})
WEBHOOK_LIST_OUT["properties"]["next_cursor"] = SCHEDULE_LIST_OUT["properties"]["next_cursor"]
WEBHOOK_DELETED_OUT = _record({"webhook_id": {"type": "string"}, "deleted": {"const": True}})

DELIVERY_OUT = _record(
    {
        "delivery_id": {"type": "string", "pattern": "^dlv-"},
        "webhook_id": {"type": "string", "pattern": "^wh-"},
        "event_id": {"type": "string", "pattern": "^evt-"},
        "event": {"type": "string", "enum": [*(e.value for e in EventType), TEST_EVENT]},
        "status": {"type": "string", "enum": [s.value for s in DeliveryStatus]},
        "attempts": {"type": "integer", "minimum": 0},
        "next_attempt_at": _MAYBE_INSTANT,
        "last_status_code": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]},
        "created_at": _INSTANT,
        "finished_at": _MAYBE_INSTANT,
        "attempt_log": {
            "type": "array",
            "items": _record(
                {
                    "number": {"type": "integer", "minimum": 1},
                    "attempted_at": _INSTANT,
                    "status_code": {"type": ["integer", "null"]},
                    "duration_ms": {"type": "integer", "minimum": 0},
                    "error": {"type": ["string", "null"]},
                }
            ),
        },
    }
)
DELIVERY_LIST_OUT = _record({"deliveries": {"type": "array", "items": DELIVERY_OUT}, **_PAGE})
DELIVERY_LIST_OUT["properties"]["next_cursor"] = SCHEDULE_LIST_OUT["properties"]["next_cursor"]

AUDIT_OUT = _record(
    {
        "audit_id": {"type": "string", "pattern": "^aud-"},
        "at": _INSTANT,
        "actor": _record(
            {"type": {"type": "string", "enum": [a.value for a in ActorType]}, "id": {"type": ["string", "null"]}}
        ),
        "action": {"type": "string"},
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "changes": {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            "description": "{field: [old, new]} for every field the action changed.",
        },
    }
)
AUDIT_LIST_OUT = _record({"events": {"type": "array", "items": AUDIT_OUT}, **_PAGE})
AUDIT_LIST_OUT["properties"]["next_cursor"] = SCHEDULE_LIST_OUT["properties"]["next_cursor"]
