"""JSON Schemas of the request bodies: the API validates with them and OpenAPI publishes them."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from .errors import ServiceError, invalid

EDITABLE_STATUSES = ["ACTIVE", "PAUSED"]
_TEXT = {"type": "string", "minLength": 1, "maxLength": 200}

SCHEDULE_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "minLength": 1, "maxLength": 128},
    "task_type": _TEXT,
    "capability_required": _TEXT,
    "input_data": {"type": "object"},
    "priority": {"type": "integer", "minimum": 1, "maximum": 10},
    "cron_expression": {"type": ["string", "null"], "maxLength": 200},
    "run_at": {"type": ["string", "null"], "maxLength": 64},
    "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
    "description": {"type": ["string", "null"], "maxLength": 2000},
}

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
        "cron_expression": {"type": "string", "maxLength": 200},
        "timezone": {"type": "string", "minLength": 1, "maxLength": 64},
        "start": {"type": "string", "maxLength": 64},
        "count": {"type": "integer", "minimum": 1, "maximum": 50},
    },
    "required": ["cron_expression"],
    "additionalProperties": False,
}

CLAIM = {
    "type": "object",
    "properties": {
        "capabilities": {"type": "array", "items": _TEXT, "minItems": 1, "maxItems": 100},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100},
        "lease_seconds": {"type": "integer", "minimum": 1, "maximum": 86400},
    },
    "required": ["capabilities"],
    "additionalProperties": False,
}

COMPLETE = {
    "type": "object",
    "properties": {"result_data": {}},
    "additionalProperties": False,
}

FAIL = {
    "type": "object",
    "properties": {"error_message": {"type": "string", "minLength": 1, "maxLength": 10000}},
    "required": ["error_message"],
    "additionalProperties": False,
}

_TYPE_NAMES = {"object": "an object", "integer": "an integer", "string": "a string", "array": "a list"}


def _message(error) -> tuple[str, str | None]:
    """Turn a jsonschema error into a message and the field it is about."""
    field = str(error.path[0]) if error.path else None
    v = error.validator
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        name = extra[0] if extra else None
        return f"Unknown field: {name}", name
    if v == "required":
        name = error.message.split("'")[1] if "'" in error.message else None
        return f"Missing required field: {name}", name
    if v == "type":
        want = error.validator_value
        want = want if isinstance(want, str) else next(t for t in want if t != "null")
        label = field or "body"
        return f"{label} must be {_TYPE_NAMES.get(want, want)}", field
    if v in ("minimum", "maximum") and field == "priority":
        return "priority must be between 1 and 10", field
    if v == "enum":
        return f"{field} must be one of {', '.join(error.validator_value)}", field
    if v == "minProperties":
        return "Nothing to change: the body names no field", None
    if v in ("minLength", "maxLength"):
        return f"{field} has the wrong length ({error.message})", field
    return f"{field or 'body'}: {error.message}", field


def validate(schema: dict, body: Any) -> dict:
    """Validate a request body against a schema; raise the first error as a 400."""
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    errors = sorted(Draft202012Validator(schema).iter_errors(body), key=lambda e: (len(e.path), str(e.path)))
    if errors:
        message, field = _message(errors[0])
        raise ServiceError("validation_error", message, field)
    return body
