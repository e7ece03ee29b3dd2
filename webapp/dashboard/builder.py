"""The schedule builder: common cases ("weekdays at 09:30") to and from a cron expression."""

from __future__ import annotations

import re

from ..errors import ServiceError, invalid

KINDS = (
    ("daily", "Every day"),
    ("weekdays", "Weekdays"),
    ("weekly", "Every week"),
    ("monthly", "Every month"),
    ("once", "Once"),
    ("custom", "Custom cron"),
)
WEEKDAYS = (
    ("MON", "Monday"),
    ("TUE", "Tuesday"),
    ("WED", "Wednesday"),
    ("THU", "Thursday"),
    ("FRI", "Friday"),
    ("SAT", "Saturday"),
    ("SUN", "Sunday"),
)
_DOW_BY_NUMBER = {"0": "SUN", "7": "SUN", "1": "MON", "2": "TUE", "3": "WED", "4": "THU", "5": "FRI", "6": "SAT"}
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)(?::[0-5]\d)?")
_NUMBER = r"(\d{1,2})"
_PATTERNS = (
    ("daily", re.compile(rf"{_NUMBER} {_NUMBER} \* \* \*")),
    ("weekdays", re.compile(rf"{_NUMBER} {_NUMBER} \* \* (?:1-5|MON-FRI)", re.I)),
    ("weekly", re.compile(rf"{_NUMBER} {_NUMBER} \* \* ([0-7]|[A-Z]{{3}})", re.I)),
    ("monthly", re.compile(rf"{_NUMBER} {_NUMBER} {_NUMBER} \* \*")),
)


def parse_time(text: str | None) -> tuple[int, int]:
    """Read "HH:MM" (seconds ignored) into (hour, minute); refuse anything else."""
    match = _TIME.fullmatch((text or "").strip())
    if not match:
        raise invalid("Give a time as HH:MM, e.g. 09:30", "at_time")
    return int(match.group(1)), int(match.group(2))


def build(
    kind: str,
    at_time: str | None = None,
    weekday: str | None = None,
    monthday: int | None = None,
    cron_expression: str | None = None,
    run_at: str | None = None,
) -> dict:
    """Return the timing of a builder choice: {"cron_expression": ...} or {"run_at": ...}.

    Only the builder's own inputs are checked here (a time, a weekday, a day of the month);
    the expression and the instant are validated by the schedule service like any API call.
    """
    if kind == "custom":
        return {"cron_expression": (cron_expression or "").strip()}
    if kind == "once":
        if not (run_at or "").strip():
            raise invalid("Give the date and time of the run", "run_at")
        return {"run_at": run_at.strip()}
    if kind not in dict(KINDS):
        raise invalid("Choose how often the schedule runs", "kind")
    hour, minute = parse_time(at_time)
    day_of_week = "*"
    day_of_month = "*"
    if kind == "weekdays":
        day_of_week = "1-5"
    elif kind == "weekly":
        if weekday not in dict(WEEKDAYS):
            raise invalid("Choose a day of the week", "weekday")
        day_of_week = weekday
    elif kind == "monthly":
        if monthday is None or not 1 <= monthday <= 31:
            raise invalid("Give a day of the month between 1 and 31", "monthday")
        day_of_month = str(monthday)
    return {"cron_expression": f"{minute} {hour} {day_of_month} * {day_of_week}"}


def detect(cron_expression: str | None) -> dict:
    """Return the builder fields that write this expression, or kind "custom" when none do."""
    if cron_expression is None:
        return {"kind": "once"}
    text = " ".join(cron_expression.split())
    for kind, pattern in _PATTERNS:
        match = pattern.fullmatch(text)
        if not match:
            continue
        minute, hour = int(match.group(1)), int(match.group(2))
        if minute > 59 or hour > 23:
            break
        fields = {"kind": kind, "at_time": f"{hour:02d}:{minute:02d}"}
        if kind == "weekly":
            day = match.group(3).upper()
            day = _DOW_BY_NUMBER.get(day, day)
            if day not in dict(WEEKDAYS):
                break
            fields["weekday"] = day
        if kind == "monthly":
            day_number = int(match.group(3))
            if not 1 <= day_number <= 31:
                break
            fields["monthday"] = day_number
        return fields
    return {"kind": "custom"}


def same_expression(new: str | None, stored: str | None) -> bool:
    """Tell whether an edited expression still says what the stored one says.

    "0 18 * * 5" opens in the builder as Friday and comes back as "0 18 * * FRI": not a change.
    """
    new_text, stored_text = " ".join((new or "").split()), " ".join((stored or "").split())
    if new_text == stored_text:
        return True
    found = detect(stored_text)
    return found["kind"] not in ("custom", "once") and detect(new_text) == found


def field_for(err: ServiceError, kind: str) -> str | None:
    """Name the form field that should show a service error about the timing."""
    if err.field == "cron_expression" and kind not in ("custom", "once"):
        # The builder wrote the expression; the operator sees the builder, not the cron field.
        return "kind"
    if err.field == "cron_expression" and kind == "once":
        return "run_at"
    return err.field
