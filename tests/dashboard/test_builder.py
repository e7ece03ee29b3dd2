"""The schedule builder: common choices to a cron expression and back, and its own errors."""

from __future__ import annotations

import pytest

from webapp.dashboard import builder
from webapp.errors import ServiceError, invalid


@pytest.mark.parametrize(
    "kind, extra, expression",
    [
        ("daily", {}, "30 9 * * *"),
        ("weekdays", {}, "30 9 * * 1-5"),
        ("weekly", {"weekday": "SUN"}, "30 9 * * SUN"),
        ("monthly", {"monthday": 31}, "30 9 31 * *"),
    ],
)
def test_builder_round_trips(kind, extra, expression):
    """What the builder writes, detect reads back as the same choice."""
    assert builder.build(kind, "09:30", **extra) == {"cron_expression": expression}
    assert builder.detect(expression) == {"kind": kind, "at_time": "09:30", **extra}


@pytest.mark.parametrize(
    "expression, kind",
    [("0 18 * * 5", "weekly"), ("*/5 * * * *", "custom"), ("0 9 * * 1,3", "custom"), ("75 9 * * *", "custom")],
)
def test_builder_detects_the_common_cases_only(expression, kind):
    """Anything the builder cannot write opens as a custom expression."""
    assert builder.detect(expression)["kind"] == kind


def test_builder_refuses_a_bad_time():
    """A time that is not HH:MM is the builder's own error, on its field."""
    with pytest.raises(ServiceError) as caught:
        builder.build("daily", "9.30")
    assert caught.value.field == "at_time"


@pytest.mark.parametrize(
    "new, stored, same",
    [
        ("0 18 * * FRI", "0 18 * * 5", True),
        ("30  9 * * 1-5", "30 9 * * 1-5", True),
        ("0 18 * * SAT", "0 18 * * 5", False),
        ("0 0 * * *", "@daily", False),
    ],
)
def test_builder_knows_an_unchanged_expression(new, stored, same):
    """Reopening a schedule in the builder is not a change of timing."""
    assert builder.same_expression(new, stored) is same


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        (("weekly", "09:30"), "weekday", "Choose a day of the week"),
        (("weekly", "09:30", "FUNDAY"), "weekday", "Choose a day of the week"),
        (("monthly", "09:30", None, 32), "monthday", "Give a day of the month between 1 and 31"),
        (("monthly", "09:30", None, None), "monthday", "Give a day of the month between 1 and 31"),
        (("once", None, None, None, None, "  "), "run_at", "Give the date and time of the run"),
        (("hourly", "09:30"), "kind", "Choose how often the schedule runs"),
        (("daily", "24:00"), "at_time", "Give a time as HH:MM, e.g. 09:30"),
    ],
)
def test_the_builder_refuses_its_own_bad_inputs_on_their_fields(args, field, message):
    with pytest.raises(ServiceError) as caught:
        builder.build(*args)
    assert (caught.value.field, caught.value.message) == (field, message)


@pytest.mark.parametrize(
    ("args", "timing"),
    [
        (("custom", None, None, None, "  */5 * * * * "), {"cron_expression": "*/5 * * * *"}),
        (("once", None, None, None, None, " 2025-03-01T09:00 "), {"run_at": "2025-03-01T09:00"}),
        (("daily", "7:05:59"), {"cron_expression": "5 7 * * *"}),  # seconds are ignored
    ],
)
def test_custom_and_once_pass_their_text_to_the_service_trimmed(args, timing):
    assert builder.build(*args) == timing


def test_a_one_time_schedule_opens_as_once():
    assert builder.detect(None) == {"kind": "once"}


@pytest.mark.parametrize(
    ("field", "kind", "shown_on"),
    [
        ("cron_expression", "daily", "kind"),  # the builder wrote it: the operator sees the builder
        ("cron_expression", "once", "run_at"),
        ("cron_expression", "custom", "cron_expression"),
        ("timezone", "daily", "timezone"),
    ],
)
def test_a_service_error_is_shown_beside_the_field_the_operator_used(field, kind, shown_on):
    assert builder.field_for(invalid("refused", field), kind) == shown_on
