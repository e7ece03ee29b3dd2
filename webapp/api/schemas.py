"""The JSON Schemas of the request bodies and the query parameters each list takes: the services validate
with them (through validation.py), the views declare the queries, and OpenAPI publishes the bodies."""

from __future__ import annotations

from typing import Any

from ..models import EventType, MisfirePolicy, OverlapPolicy, ScheduleStatus
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
