"""How a request is checked and its problems worded: JSON decoding, a body against its schema (every
problem, one message per field, never echoing a value), query parameters and paging. The API blueprints,
the services that take a body and auth.require_agent call it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, validators

from ..errors import ServiceError, invalid
from .limits import MAX_JSON_DEPTH, MAX_OFFSET, PAGE_LIMIT_MAX, PAGE_LIMIT_MIN

_TYPE_NAMES = {
    "object": "an object",
    "integer": "an integer",
    "string": "a string",
    "array": "a list",
    "number": "a number",
    "boolean": "true or false",
}
NAME_ECHO_LIMIT = 64  # an unknown field or parameter is named, cut to this length: a message never echoes a body


def quoted_name(name: str) -> str:
    """Return a name sent by the caller, cut short enough to quote in a message."""
    return name if len(name) <= NAME_ECHO_LIMIT else name[: NAME_ECHO_LIMIT - 1] + "…"


def range_message(label: str, low: float | None, high: float | None) -> str:
    """Word a range error the one way every range error reads: "priority must be between 1 and 10"."""
    if low is not None and high is not None:
        return f"{label} must be between {low:,} and {high:,}"
    if low is not None:
        return f"{label} must be at least {low:,}"
    return f"{label} must be at most {high:,}"


def _label(error) -> str:
    """Name the value an error is about: a field, an item of one ("capabilities[0]"), or the body."""
    if not error.path:
        return "body"
    head, *rest = error.path
    # An item of a list reads capabilities[0]; a key of an object reads retry_policy.max_attempts.
    return str(head) + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest)


def _message(error) -> tuple[str, str | None]:
    """Turn a jsonschema error into a message that names the limit and never echoes the value."""
    field = str(error.path[0]) if error.path else None
    label = _label(error)
    v = error.validator
    schema = error.schema
    if v == "additionalProperties":
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        name = quoted_name(extra[0]) if extra else None
        if error.path:  # inside an object field: name the key in full, blame the field
            return f"Unknown field: {label}.{name}", field
        return f"Unknown field: {name}", name
    if v == "required":
        name = error.message.split("'")[1] if "'" in error.message else None
        return f"Missing required field: {name}", name
    if v == "type":
        want = error.validator_value
        want = want if isinstance(want, str) else next(t for t in want if t != "null")
        return f"{label} must be {_TYPE_NAMES.get(want, want)}", field
    if v in ("minimum", "maximum"):
        return range_message(label, schema.get("minimum"), schema.get("maximum")), field
    if v == "enum":
        named = ", ".join(str(v) for v in error.validator_value if v is not None)
        return f"{label} must be one of {named}" + (", or null" if None in error.validator_value else ""), field
    if v == "minProperties":
        return "Nothing to change: the body names no field", None
    if v == "maxLength":
        return f"{label} is longer than {schema['maxLength']:,} characters", field
    if v == "minLength":
        if schema["minLength"] == 1:
            return f"{label} must not be empty", field
        return f"{label} is shorter than {schema['minLength']:,} characters", field
    if v in ("minItems", "maxItems"):
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low == 1 and v == "minItems":
            return f"{label} must list at least one item", field
        return range_message(f"the number of items in {label}", low, high), field
    return f"{label} is not valid", field


def _strict_integer(_checker, instance: Any) -> bool:
    """Accept only numbers sent as integers: JSON Schema alone would let 5.0 (and true) through."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _strict_integer)
)


def loads(text: str | bytes) -> Any:
    """Decode JSON text from a client; malformed or absurdly deep JSON is a 400 bad_json."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ServiceError("bad_json", f"The JSON is nested too deeply (limit {MAX_JSON_DEPTH} levels)") from None
    except ValueError:  # JSONDecodeError, and UnicodeDecodeError for bytes that are not UTF-8
        raise ServiceError("bad_json", "The request body is not valid JSON") from None


def _depth(value: Any) -> int:
    """Return how deeply a decoded JSON value nests, without recursion (0 for a scalar)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level + 1)
        if deepest > MAX_JSON_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def _unstorable(value: Any) -> str | None:
    """Say why a value cannot be stored (a NUL, a lone surrogate, NaN or infinity), or None when it can."""
    if isinstance(value, str):
        if "\x00" in value:
            return "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "must be valid Unicode text (it contains a lone surrogate such as \\ud800)"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "must not contain NaN or Infinity"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        reason = _unstorable(key) or _unstorable(item)
        if reason:
            return reason
    return None


def takes_query(*names: str):
    """Declare the query parameters a view takes; auth.require_agent refuses any other (none by default)."""

    def mark(view):
        """Record the names on the view."""
        view.query_parameters = names
        return view

    return mark


def check_query(args, allowed: tuple[str, ...]) -> None:
    """Refuse a query parameter the endpoint does not take, or one given twice, with a 400."""
    for name in args:
        if name not in allowed:
            raise ServiceError("validation_error", f"Unknown query parameter: {quoted_name(name)}", quoted_name(name))
        if len(args.getlist(name)) > 1:
            raise ServiceError("validation_error", f"{name} is given more than once", name)


def problems(schema: dict, body: Any) -> list[ServiceError]:
    """Return every reason a request body breaks a schema, one per field, in the body's order."""
    if not isinstance(body, dict):
        return [invalid("The request body must be a JSON object")]
    # Depth first: the checks below walk the value recursively.
    for field, value in body.items():
        if _depth(value) > MAX_JSON_DEPTH:
            name = quoted_name(_printable(field))
            return [invalid(f"{name} is nested too deeply (limit {MAX_JSON_DEPTH} levels)", name)]
    # PostgreSQL refuses NUL in text and NaN in JSON, and no database stores a lone surrogate:
    # refuse them here as a 400, not a 500 there. Names are checked before the schema quotes them.
    for field, value in body.items():
        reason = _unstorable(field) or _unstorable(value)
        if reason:
            name = quoted_name(_printable(field))
            return [invalid(f"{name} {reason}", name)]
    errors = sorted(_Validator(schema).iter_errors(body), key=lambda e: (len(e.path), str(e.path)))
    found: dict[str | None, ServiceError] = {}
    for error in errors:
        message, field = _message(error)
        found.setdefault(field, ServiceError("validation_error", message, field))
    order = {name: i for i, name in enumerate(body)}
    return sorted(found.values(), key=lambda err: order.get(err.field, -1))


def validate(schema: dict, body: Any) -> dict:
    """Validate a request body against a schema; raise the first problem as a 400."""
    found = problems(schema, body)
    if found:
        raise found[0]
    return body


def _printable(name: str) -> str:
    """Return a field name that can be sent back in a JSON answer (lone surrogates escaped)."""
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def parse_paging(args: Mapping[str, str], default_limit: int) -> tuple[int, int]:
    """Read limit and offset from query arguments; refuse bad values with a 400 that names the range."""
    values = {}
    for name, default, low, high in (
        ("limit", default_limit, PAGE_LIMIT_MIN, PAGE_LIMIT_MAX),
        ("offset", 0, 0, MAX_OFFSET),
    ):
        raw = args.get(name, default)
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise invalid(f"{name} must be an integer", name) from None
        if not low <= value <= high:
            raise invalid(range_message(name, low, high), name)
        values[name] = value
    return values["limit"], values["offset"]
