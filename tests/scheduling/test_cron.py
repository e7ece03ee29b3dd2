"""The cron and timezone engine: parsing, the DOM/DOW rule and daylight-saving behaviour.

Reference dates (2025 unless noted), as published in the tz database:
  America/New_York     2025-03-09 02:00 EST -> 03:00 EDT (07:00Z); 2025-11-02 02:00 EDT -> 01:00 EST (06:00Z)
  Europe/London        2025-03-30 01:00 GMT -> 02:00 BST (01:00Z); 2025-10-26 02:00 BST -> 01:00 GMT (01:00Z)
  Australia/Sydney     2025-04-06 03:00 AEDT -> 02:00 AEST (04-05 16:00Z); 2025-10-05 02:00 -> 03:00 (10-04 16:00Z)
  Australia/Lord_Howe  2025-04-06 02:00 +11 -> 01:30 +10:30 (04-05 15:00Z); 2025-10-05 02:00 +10:30 -> 02:30 +11
                       (10-04 15:30Z)
  Pacific/Chatham      2025-04-06 03:45 +13:45 -> 02:45 +12:45 (04-05 14:00Z); 2025-09-28 02:45 +12:45 -> 03:45 +13:45
                       (09-27 14:00Z)
  America/Sao_Paulo    2018-11-04 00:00 -03 -> 01:00 -02 (03:00Z); 2019-02-17 00:00 -02 -> 02-16 23:00 -03 (02:00Z)
  Calendar             2025-01-01 is a Wednesday; 2025-06-13 is a Friday; 2025-04-13 and 2025-07-13 are Sundays.
"""

from __future__ import annotations

import calendar
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.clock import iso_z
from webapp.scheduling import cron


def utc(text: str) -> datetime:
    """Parse an ISO string with Z into an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def runs(expression: str, tz: str, after: str, count: int) -> list[tuple[str, str, str | None]]:
    """List the next occurrences as (UTC, local, note) strings."""
    return [(iso_z(o.at), o.local.isoformat(), o.note) for o in cron.occurrences(expression, tz, utc(after), count)]


def between(expression: str, tz: str, after: str, until: str) -> list[datetime]:
    """List the occurrences in (after, until]."""
    return list(cron.iter_between(expression, tz, utc(after), utc(until)))


# --- validation ---------------------------------------------------------------------------------------------------

BAD_EXPRESSIONS = [
    "0 9 * *",
    "* * * * * *",
    "0 0 9 * * * 2025",
    "61 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 0 *",
    "* * * 13 *",
    "* * * * 8",
    "-1 * * * *",
    "*/0 * * * *",
    "1,,2 * * * *",
    "1- * * * *",
    "1.5 * * * *",
    "not a cron",
    "a b c d e",
    "@reboot",
    "@every 5m",
    "@ daily",
    "",
    "   ",
    "0 0 L * *",
    "0 0 1W * *",
    "0 0 * * 5#2",
    "0 0 * * 5L",
    "H * * * *",
    "0 0 ? * *",
    "0 0 * * MONDAY",
    "0 0 * * jan",
    "0 0 1 mon *",
    "0 jan * * *",
]


@pytest.mark.parametrize("expression", BAD_EXPRESSIONS)
def test_it_rejects_malformed_expressions(expression: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.normalize(expression)
    assert caught.value.field == "cron_expression"
    assert caught.value.message


@pytest.mark.parametrize("value", [None, 5, 1.5, b"0 9 * * *", ["0", "9", "*", "*", "*"]])
def test_it_rejects_non_strings(value: object) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.normalize(value)  # type: ignore[arg-type]
    assert caught.value.field == "cron_expression"


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 30,31 2 */2", "0 0 31 feb-apr/2 *"])
def test_it_rejects_expressions_that_never_fire(expression: str) -> None:
    with pytest.raises(cron.CronError, match="never fires"):
        cron.normalize(expression)


@pytest.mark.parametrize(
    "expression,normalized",
    [
        ("0 9 * * *", "0 9 * * *"),
        ("  0   9 * *\tMON-FRI ", "0 9 * * MON-FRI"),
        ("*/15 * * * *", "*/15 * * * *"),
        ("0 0 1,15 * *", "0 0 1,15 * *"),
        ("0 0 * JAN-MAR,dec *", "0 0 * JAN-MAR,dec *"),
        ("5 4 * * sun", "5 4 * * sun"),
        ("0-59/20 0-23/6 * * *", "0-59/20 0-23/6 * * *"),
        ("0 0 * * 7", "0 0 * * 7"),
        ("0 0 29 2 *", "0 0 29 2 *"),
        ("0 0 30 2 MON", "0 0 30 2 MON"),
        ("@DAILY", "@daily"),
        ("@Hourly", "@hourly"),
        ("@midnight", "@midnight"),
        (" @annually ", "@annually"),
        ("@yearly", "@yearly"),
        ("@weekly", "@weekly"),
        ("@monthly", "@monthly"),
    ],
)
def test_it_normalizes_valid_expressions(expression: str, normalized: str) -> None:
    assert cron.normalize(expression) == normalized


@pytest.mark.parametrize(
    "expression,fixed",
    [
        ("0 9 * * *", True),
        ("30 1,13 * * *", True),
        ("0 1-3 * * *", True),
        ("0-59/20 0-23/6 * * *", True),
        ("@daily", True),
        ("@weekly", True),
        ("0 * * * *", False),
        ("*/15 * * * *", False),
        ("5 */2 * * *", False),
        ("* 9 * * *", False),
        ("@hourly", False),
    ],
)
def test_it_tells_fixed_time_schedules_apart(expression: str, fixed: bool) -> None:
    assert cron.is_fixed_time(expression) is fixed


@pytest.mark.parametrize(
    "name", ["", "   ", None, 3, "Mars/Olympus", "localtime", "/etc/localtime", "../etc/passwd", "America", "utc"]
)
def test_it_rejects_unknown_time_zones(name: object) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.get_zone(name)  # type: ignore[arg-type]
    assert caught.value.field == "timezone"


@pytest.mark.parametrize("name", ["UTC", "Europe/London", "America/Argentina/Buenos_Aires", "Pacific/Chatham"])
def test_it_loads_iana_time_zones(name: str) -> None:
    assert cron.get_zone(name) == ZoneInfo(name)


def test_it_reports_a_bad_time_zone_against_the_timezone_field() -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.next_after("0 9 * * *", "Nowhere/Special", utc("2025-01-01T00:00:00Z"))
    assert caught.value.field == "timezone"


# --- the calendar -------------------------------------------------------------------------------------------------


def test_it_fires_on_the_13th_or_on_fridays_when_both_day_fields_are_restricted() -> None:
    assert [r[0] for r in runs("0 0 13 * FRI", "UTC", "2025-06-01T00:00:00Z", 8)] == [
        "2025-06-06T00:00:00Z",
        "2025-06-13T00:00:00Z",
        "2025-06-20T00:00:00Z",
        "2025-06-27T00:00:00Z",
        "2025-07-04T00:00:00Z",
        "2025-07-11T00:00:00Z",
        "2025-07-13T00:00:00Z",
        "2025-07-18T00:00:00Z",
    ]


def test_it_requires_both_day_fields_when_one_starts_with_a_star() -> None:
    # */5 in day-of-week is Sunday and Friday; a leading "*" makes the day fields combine with AND.
    assert [r[0] for r in runs("0 0 13 * */5", "UTC", "2025-01-01T00:00:00Z", 3)] == [
        "2025-04-13T00:00:00Z",
        "2025-06-13T00:00:00Z",
        "2025-07-13T00:00:00Z",
    ]


@pytest.mark.parametrize("expression", ["0 0 * * 7", "0 0 * * 0", "0 0 * * SUN", "0 0 * * sun", "@weekly"])
def test_it_treats_day_of_week_0_and_7_as_sunday(expression: str) -> None:
    assert [r[0] for r in runs(expression, "UTC", "2025-01-01T00:00:00Z", 3)] == [
        "2025-01-05T00:00:00Z",
        "2025-01-12T00:00:00Z",
        "2025-01-19T00:00:00Z",
    ]


@pytest.mark.parametrize(
    "expression,after,expected",
    [
        ("0 9 * * MON-FRI", "2025-01-03T09:00:00Z", "2025-01-06T09:00:00Z"),
        ("0 9 * * *", "2025-01-01T08:59:59Z", "2025-01-01T09:00:00Z"),
        ("0 9 * * *", "2025-01-01T09:00:00Z", "2025-01-02T09:00:00Z"),
        ("*/15 * * * *", "2025-01-01T09:07:30Z", "2025-01-01T09:15:00Z"),
        ("0 0 1 JAN *", "2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
        ("@monthly", "2025-01-31T12:00:00Z", "2025-02-01T00:00:00Z"),
        ("0 0 29 2 *", "2025-01-01T00:00:00Z", "2028-02-29T00:00:00Z"),
        ("0 0 29 2 *", "2096-03-01T00:00:00Z", "2104-02-29T00:00:00Z"),
        ("0 0 31 * *", "2025-04-01T00:00:00Z", "2025-05-31T00:00:00Z"),
        ("0 0 * * fri-mon", "2025-01-01T00:00:00Z", "2025-01-03T00:00:00Z"),
    ],
)
def test_it_finds_the_next_occurrence_strictly_after(expression: str, after: str, expected: str) -> None:
    assert iso_z(cron.next_after(expression, "UTC", utc(after))) == expected


def test_it_reads_naive_instants_as_utc() -> None:
    assert cron.next_after("0 9 * * *", "UTC", datetime(2025, 1, 1)) == utc("2025-01-01T09:00:00Z")


def test_it_returns_aware_utc_results() -> None:
    result = cron.next_after("0 9 * * *", "Asia/Kolkata", utc("2025-01-01T00:00:00Z"))
    assert result == utc("2025-01-01T03:30:00Z")
    assert result.utcoffset() == timedelta(0)


# --- daylight saving: fixed-time schedules --------------------------------------------------------------------------

DST_TABLE = [
    # America/New_York, spring forward: 02:30 does not exist, fires at 03:00 EDT
    (
        "30 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00Z",
        [
            ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "shifted"),
            ("2025-03-10T06:30:00Z", "2025-03-10T02:30:00-04:00", None),
        ],
    ),
    # two times in the gap, and a gap time plus the real 03:00, each merge into one firing
    (
        "0,30 2 * * *",
        "America/New_York",
        "2025-03-09T05:00:00Z",
        [
            ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "shifted"),
            ("2025-03-10T06:00:00Z", "2025-03-10T02:00:00-04:00", None),
        ],
    ),
    (
        "0,30 2,3 * * *",
        "America/New_York",
        "2025-03-09T05:00:00Z",
        [
            ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "shifted"),
            ("2025-03-09T07:30:00Z", "2025-03-09T03:30:00-04:00", None),
            ("2025-03-10T06:00:00Z", "2025-03-10T02:00:00-04:00", None),
        ],
    ),
    # America/New_York, fall back: 01:30 happens twice, fires at the first (EDT)
    (
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        [
            ("2025-11-02T05:30:00Z", "2025-11-02T01:30:00-04:00", "first"),
            ("2025-11-03T06:30:00Z", "2025-11-03T01:30:00-05:00", None),
        ],
    ),
    (
        "0 2 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        [("2025-11-02T07:00:00Z", "2025-11-02T02:00:00-05:00", None)],
    ),
    # Europe/London
    (
        "0 1 * * *",
        "Europe/London",
        "2025-03-29T12:00:00Z",
        [
            ("2025-03-30T01:00:00Z", "2025-03-30T02:00:00+01:00", "shifted"),
            ("2025-03-31T00:00:00Z", "2025-03-31T01:00:00+01:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2025-03-29T12:00:00Z",
        [
            ("2025-03-30T01:00:00Z", "2025-03-30T02:00:00+01:00", "shifted"),
            ("2025-03-31T00:30:00Z", "2025-03-31T01:30:00+01:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2025-10-25T12:00:00Z",
        [
            ("2025-10-26T00:30:00Z", "2025-10-26T01:30:00+01:00", "first"),
            ("2025-10-27T01:30:00Z", "2025-10-27T01:30:00+00:00", None),
        ],
    ),
    # Australia/Sydney: back in April, forward in October
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-04-05T00:00:00Z",
        [
            ("2025-04-05T15:30:00Z", "2025-04-06T02:30:00+11:00", "first"),
            ("2025-04-06T16:30:00Z", "2025-04-07T02:30:00+10:00", None),
        ],
    ),
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-10-04T00:00:00Z",
        [
            ("2025-10-04T16:00:00Z", "2025-10-05T03:00:00+11:00", "shifted"),
            ("2025-10-05T15:30:00Z", "2025-10-06T02:30:00+11:00", None),
        ],
    ),
    # Australia/Lord_Howe: a 30-minute shift
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T00:00:00Z",
        [
            ("2025-10-04T15:30:00Z", "2025-10-05T02:30:00+11:00", "shifted"),
            ("2025-10-05T15:15:00Z", "2025-10-06T02:15:00+11:00", None),
        ],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T00:00:00Z",
        [
            ("2025-04-05T14:45:00Z", "2025-04-06T01:45:00+11:00", "first"),
            ("2025-04-06T15:15:00Z", "2025-04-07T01:45:00+10:30", None),
        ],
    ),
    # Pacific/Chatham: quarter-hour offsets, changes at 02:45 standard time
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-04-05T00:00:00Z",
        [
            ("2025-04-05T13:15:00Z", "2025-04-06T03:00:00+13:45", "first"),
            ("2025-04-06T14:15:00Z", "2025-04-07T03:00:00+12:45", None),
        ],
    ),
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-09-27T00:00:00Z",
        [
            ("2025-09-27T14:00:00Z", "2025-09-28T03:45:00+13:45", "shifted"),
            ("2025-09-28T13:15:00Z", "2025-09-29T03:00:00+13:45", None),
        ],
    ),
    # America/Sao_Paulo (DST until 2019): changes at midnight
    (
        "30 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T12:00:00Z",
        [
            ("2018-11-04T03:00:00Z", "2018-11-04T01:00:00-02:00", "shifted"),
            ("2018-11-05T02:30:00Z", "2018-11-05T00:30:00-02:00", None),
        ],
    ),
    (
        "30 23 * * *",
        "America/Sao_Paulo",
        "2019-02-16T12:00:00Z",
        [
            ("2019-02-17T01:30:00Z", "2019-02-16T23:30:00-02:00", "first"),
            ("2019-02-18T02:30:00Z", "2019-02-17T23:30:00-03:00", None),
        ],
    ),
]


@pytest.mark.parametrize("expression,tz,after,expected", DST_TABLE)
def test_it_applies_the_dst_rules_to_fixed_time_schedules(
    expression: str, tz: str, after: str, expected: list[tuple[str, str, str | None]]
) -> None:
    assert runs(expression, tz, after, len(expected)) == expected


def test_it_fires_once_on_fall_back_night() -> None:
    fired = between("30 1 * * *", "America/New_York", "2025-11-02T04:00:00Z", "2025-11-02T12:00:00Z")
    assert fired == [utc("2025-11-02T05:30:00Z")]


def test_it_does_not_fire_the_second_reading_after_the_first() -> None:
    after = utc("2025-11-02T05:30:00Z")
    assert cron.next_after("30 1 * * *", "America/New_York", after) == utc("2025-11-03T06:30:00Z")


def test_it_fires_a_skipped_time_when_asked_from_inside_the_gap_hour() -> None:
    # 06:59Z is 01:59 EST, a minute before the gap
    after = utc("2025-03-09T06:59:00Z")
    assert cron.next_after("30 2 * * *", "America/New_York", after) == utc("2025-03-09T07:00:00Z")


# --- daylight saving: elapsed-time schedules ------------------------------------------------------------------------

ELAPSED_TABLE = [
    (
        "0 * * * *",
        "America/New_York",
        "2025-11-02T04:30:00Z",
        [
            ("2025-11-02T05:00:00Z", "2025-11-02T01:00:00-04:00", None),
            ("2025-11-02T06:00:00Z", "2025-11-02T01:00:00-05:00", None),
            ("2025-11-02T07:00:00Z", "2025-11-02T02:00:00-05:00", None),
        ],
    ),
    (
        "30 * * * *",
        "America/New_York",
        "2025-03-09T06:00:00Z",
        [
            ("2025-03-09T06:30:00Z", "2025-03-09T01:30:00-05:00", None),
            ("2025-03-09T07:30:00Z", "2025-03-09T03:30:00-04:00", None),
        ],
    ),
    (
        "0 * * * *",
        "Europe/London",
        "2025-10-26T00:00:00Z",
        [
            ("2025-10-26T01:00:00Z", "2025-10-26T01:00:00+00:00", None),
            ("2025-10-26T02:00:00Z", "2025-10-26T02:00:00+00:00", None),
        ],
    ),
    (
        "0 * * * *",
        "Pacific/Chatham",
        "2025-04-05T12:00:00Z",
        [
            ("2025-04-05T12:15:00Z", "2025-04-06T02:00:00+13:45", None),
            ("2025-04-05T13:15:00Z", "2025-04-06T03:00:00+13:45", None),
            ("2025-04-05T14:15:00Z", "2025-04-06T03:00:00+12:45", None),
            ("2025-04-05T15:15:00Z", "2025-04-06T04:00:00+12:45", None),
        ],
    ),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2025-04-05T14:30:00Z",
        [
            ("2025-04-05T14:45:00Z", "2025-04-06T01:45:00+11:00", None),
            ("2025-04-05T15:00:00Z", "2025-04-06T01:30:00+10:30", None),
            ("2025-04-05T15:15:00Z", "2025-04-06T01:45:00+10:30", None),
            ("2025-04-05T15:30:00Z", "2025-04-06T02:00:00+10:30", None),
        ],
    ),
    (
        "15 * * * *",
        "Australia/Lord_Howe",
        "2025-10-04T14:00:00Z",
        [
            ("2025-10-04T14:45:00Z", "2025-10-05T01:15:00+10:30", None),
            ("2025-10-04T16:15:00Z", "2025-10-05T03:15:00+11:00", None),
        ],
    ),
    # London skips 01:xx on 2025-03-30: the elapsed-time sibling of "0 1 * * *" waits a day
    (
        "* 1 * * *",
        "Europe/London",
        "2025-03-29T23:59:00Z",
        [
            ("2025-03-31T00:00:00Z", "2025-03-31T01:00:00+01:00", None),
            ("2025-03-31T00:01:00Z", "2025-03-31T01:01:00+01:00", None),
        ],
    ),
]


@pytest.mark.parametrize("expression,tz,after,expected", ELAPSED_TABLE)
def test_it_follows_real_time_for_other_schedules(
    expression: str, tz: str, after: str, expected: list[tuple[str, str, str | None]]
) -> None:
    assert runs(expression, tz, after, len(expected)) == expected


def test_it_fires_every_15_minutes_of_real_time_across_a_fall_back_night() -> None:
    fired = between("*/15 * * * *", "America/New_York", "2025-11-02T04:00:00Z", "2025-11-02T08:00:00Z")
    assert len(fired) == 16
    assert {b - a for a, b in zip(fired, fired[1:], strict=False)} == {timedelta(minutes=15)}
    zone = ZoneInfo("America/New_York")
    assert sum(1 for t in fired if t.astimezone(zone).hour == 1) == 8


def test_it_skips_missing_wall_minutes_on_a_spring_forward_night() -> None:
    zone = ZoneInfo("America/New_York")
    fired = between("*/15 * * * *", "America/New_York", "2025-03-09T06:00:00Z", "2025-03-09T08:00:00Z")
    local = [t.astimezone(zone).strftime("%H:%M") for t in fired]
    assert local == ["01:15", "01:30", "01:45", "03:00", "03:15", "03:30", "03:45", "04:00"]
    day = between("30 * * * *", "America/New_York", "2025-03-09T05:00:00Z", "2025-03-10T04:00:00Z")
    assert len(day) == 23
    assert "02:30" not in [t.astimezone(zone).strftime("%H:%M") for t in day]


def test_it_marks_no_notes_on_elapsed_time_schedules() -> None:
    notes = {o.note for o in cron.occurrences("*/30 * * * *", "America/New_York", utc("2025-11-02T04:00:00Z"), 10)}
    assert notes == {None}


# --- oracles and properties ---------------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Asia/Kolkata",
]
ELAPSED_ORACLES = {
    "*/15 * * * *": lambda w: w.minute % 15 == 0,
    "0 * * * *": lambda w: w.minute == 0,
    "45 * * * *": lambda w: w.minute == 45,
    "* 2 * * *": lambda w: w.hour == 2,
    "*/10 1,2 * * *": lambda w: w.minute % 10 == 0 and w.hour in (1, 2),
    "0 */3 * * SUN": lambda w: w.minute == 0 and w.hour % 3 == 0 and w.isoweekday() == 7,
}


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    expression=st.sampled_from(sorted(ELAPSED_ORACLES)),
    start=st.datetimes(min_value=datetime(2012, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_elapsed_time_schedules_match_a_minute_by_minute_scan(zone: str, expression: str, start: datetime) -> None:
    start = start.replace(second=0, microsecond=0, tzinfo=UTC)
    until = start + timedelta(hours=30)
    tz = ZoneInfo(zone)
    minutes = (start + timedelta(minutes=i) for i in range(1, 30 * 60 + 1))
    expected = [t for t in minutes if ELAPSED_ORACLES[expression](t.astimezone(tz))]
    assert list(cron.iter_between(expression, zone, start, until)) == expected


@pytest.mark.parametrize("zone", ZONES)
@settings(max_examples=15, deadline=None)
@given(year=st.integers(2012, 2030), hour=st.integers(0, 23), minute=st.integers(0, 59))
def test_a_daily_job_fires_once_per_local_day(zone: str, year: int, hour: int, minute: int) -> None:
    tz = ZoneInfo(zone)
    start = cron.parse_instant(f"{year}-01-01T00:00:00", zone) - timedelta(seconds=1)
    end = cron.parse_instant(f"{year + 1}-01-01T00:00:00", zone) - timedelta(seconds=1)
    fired = list(cron.iter_between(f"{minute} {hour} * * *", zone, start, end))
    per_day = Counter(t.astimezone(tz).date() for t in fired)
    days = 366 if calendar.isleap(year) else 365
    assert len(fired) == days
    assert set(per_day.values()) == {1}
    assert min(per_day) == date(year, 1, 1) and max(per_day) == date(year, 12, 31)


EXPRESSIONS = ["30 2 * * *", "0,30 1-3 * * *", "*/20 * * * *", "0 * * * *", "0 0 13 * FRI", "@weekly", "45 1 * * *"]


@settings(max_examples=80, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    expression=st.sampled_from(EXPRESSIONS),
    start=st.datetimes(min_value=datetime(2012, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_occurrences_increase_and_agree_with_next_after(zone: str, expression: str, start: datetime) -> None:
    after = start.replace(tzinfo=UTC)
    found = cron.occurrences(expression, zone, after, 12)
    instants = [o.at for o in found]
    assert all(a < b for a, b in zip([after, *instants], instants, strict=False))
    assert cron.next_after(expression, zone, after) == instants[0]
    assert next(cron.iter_between(expression, zone, after, instants[-1])) == instants[0]
    assert list(cron.iter_between(expression, zone, after, instants[-1])) == instants
    # astimezone, not ==: aware datetimes in a repeated hour never compare equal across zones (PEP 495)
    assert all(o.local.astimezone(UTC) == o.at and o.local.tzinfo == ZoneInfo(zone) for o in found)
    assert [cron.next_after(expression, zone, t) for t in instants[:-1]] == instants[1:]


# --- instants and descriptions ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,tz,expected",
    [
        ("2025-11-29T14:00:00Z", "UTC", "2025-11-29T14:00:00Z"),
        ("2025-11-29T14:00:00Z", "America/New_York", "2025-11-29T14:00:00Z"),
        ("2025-11-29T09:00:00", "America/New_York", "2025-11-29T14:00:00Z"),
        ("2025-11-29 09:00", "America/New_York", "2025-11-29T14:00:00Z"),
        ("2025-11-29T15:00:00+01:00", "America/New_York", "2025-11-29T14:00:00Z"),
        ("2025-11-29T19:30:00+05:30", "UTC", "2025-11-29T14:00:00Z"),
        ("2025-03-09T02:30:00", "America/New_York", "2025-03-09T07:00:00Z"),
        ("2025-11-02T01:30:00", "America/New_York", "2025-11-02T05:30:00Z"),
        ("2025-10-05T02:15:00", "Australia/Lord_Howe", "2025-10-04T15:30:00Z"),
        ("2025-04-06T03:00:00", "Pacific/Chatham", "2025-04-05T13:15:00Z"),
        ("2025-11-29", "Asia/Kolkata", "2025-11-28T18:30:00Z"),
    ],
)
def test_it_parses_instants_in_the_schedule_zone(value: str, tz: str, expected: str) -> None:
    assert iso_z(cron.parse_instant(value, tz)) == expected


@pytest.mark.parametrize(
    "value", ["tomorrow", "", "   ", "2025-13-01T00:00:00", "2025-11-29T25:00", "29/11/2025 14:00", None, 12345]
)
def test_it_rejects_garbage_instants(value: object) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse_instant(value, "UTC")  # type: ignore[arg-type]
    assert caught.value.field == "run_at"


def test_it_rejects_an_instant_in_an_unknown_zone() -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.parse_instant("2025-11-29T09:00:00", "Atlantis/Capital")
    assert caught.value.field == "timezone"


@pytest.mark.parametrize(
    "expression,expected",
    [
        ("0 9 * * *", "At 09:00"),
        ("@daily", "At 00:00"),
        ("@hourly", "Every hour"),
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 9 * * MON-FRI", "At 09:00, Monday through Friday"),
        ("30 1,13 * * *", "At 01:30 and 13:30"),
        ("0 0 13 * FRI", "At 00:00, on day 13 of the month, or on Friday"),
    ],
)
def test_it_describes_expressions_in_english(expression: str, expected: str) -> None:
    assert cron.describe(expression) == expected


@pytest.mark.parametrize("expression", ["not a cron", "@reboot", "", None])
def test_it_refuses_to_describe_invalid_expressions(expression: object) -> None:
    with pytest.raises(cron.CronError):
        cron.describe(expression)  # type: ignore[arg-type]


def test_it_validates_arguments_before_producing_anything() -> None:
    with pytest.raises(cron.CronError):
        cron.iter_between("61 * * * *", "UTC", utc("2025-01-01T00:00:00Z"), utc("2025-01-02T00:00:00Z"))
    with pytest.raises(cron.CronError):
        cron.occurrences("61 * * * *", "UTC", utc("2025-01-01T00:00:00Z"), 0)
    with pytest.raises(cron.CronError):
        cron.occurrences("0 9 * * *", "Nowhere/Special", utc("2025-01-01T00:00:00Z"), 0)


@pytest.mark.parametrize("after", ["2025-01-01T00:00:00Z", 1735689600, None])
def test_it_refuses_instants_that_are_not_datetimes(after: object) -> None:
    with pytest.raises(TypeError):
        cron.next_after("0 9 * * *", "UTC", after)  # type: ignore[arg-type]


def test_it_returns_nothing_for_an_empty_window_or_zero_count() -> None:
    assert between("* * * * *", "UTC", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z") == []
    assert cron.occurrences("* * * * *", "UTC", utc("2025-01-01T00:00:00Z"), 0) == []
