"""Business days and holiday rules, and the dates a calendar reads from a list or from iCalendar text.

Reference dates (2026 unless noted):
  Calendar           2026-01-31 is a Saturday, 2026-02-02 a Monday; 2026-03-06 and 2026-10-30 are Fridays;
                     2026-05-25 is a Monday; 2026-12-24 is a Thursday, 2026-12-25 a Friday, 2026-12-28 a Monday,
                     2026-12-31 a Thursday, 2027-01-01 a Friday, 2027-01-04 a Monday.
  America/New_York   2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST. So 09:00 is 14:00Z
                     in winter (EST) and 13:00Z in summer (EDT).
  Europe/London      GMT (UTC+0) in January and December.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.clock import iso_z
from webapp.scheduling import calendars
from webapp.scheduling.calendars import Holiday, HolidayRule, Timing

NEXT, PREVIOUS, SKIP = HolidayRule.NEXT_BUSINESS_DAY, HolidayRule.PREVIOUS_BUSINESS_DAY, HolidayRule.SKIP


def utc(text: str) -> datetime:
    """Parse an ISO string with Z into an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def days(*texts: str) -> frozenset[date]:
    """Return a set of ISO dates."""
    return frozenset(date.fromisoformat(t) for t in texts)


def listed(timing: Timing, after: str, count: int) -> list[tuple[str, str, str | None, str]]:
    """List the next runs as (at, local, holiday, nominal) strings."""
    runs = timing.runs(utc(after))
    return [
        (iso_z(r.at), r.local.isoformat(), r.holiday, iso_z(r.nominal))
        for r, _ in zip(runs, range(count), strict=False)
    ]


# --- rolling a date -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "day,holidays,rule,expected",
    [
        ("2026-01-31", (), NEXT, "2026-02-02"),  # across a month end
        ("2026-01-31", (), PREVIOUS, "2026-01-30"),
        ("2026-12-31", ("2026-12-31", "2027-01-01"), NEXT, "2027-01-04"),  # across a year end
        ("2027-01-01", ("2027-01-01", "2026-12-31"), PREVIOUS, "2026-12-30"),
        ("2026-12-25", ("2026-12-25",), PREVIOUS, "2026-12-24"),  # a Friday holiday
        ("2026-05-25", ("2026-05-25",), NEXT, "2026-05-26"),  # a Monday holiday
        ("2026-12-24", ("2026-12-24", "2026-12-25", "2026-12-28"), NEXT, "2026-12-29"),  # consecutive holidays
        ("2026-12-28", ("2026-12-24", "2026-12-25", "2026-12-28"), PREVIOUS, "2026-12-23"),
        ("2026-12-23", ("2026-12-25",), NEXT, "2026-12-23"),  # a business day stays
    ],
)
def test_it_rolls_to_the_nearest_business_day(day: str, holidays: tuple, rule: str, expected: str) -> None:
    assert calendars.roll(date.fromisoformat(day), days(*holidays), rule) == date.fromisoformat(expected)


@pytest.mark.parametrize(
    "day,business", [("2026-12-24", True), ("2026-12-25", False), ("2026-12-26", False), ("2026-12-27", False)]
)
def test_weekends_and_calendar_dates_are_not_business_days(day: str, business: bool) -> None:
    assert calendars.is_business_day(date.fromisoformat(day), days("2026-12-25")) is business


# --- runs of a schedule ---------------------------------------------------------------------------------------------


def test_next_business_day_moves_a_run_across_a_month_end() -> None:
    timing = Timing("0 9 31 * *", "Europe/London", rule=NEXT)
    assert listed(timing, "2026-01-01T00:00:00Z", 2) == [
        ("2026-02-02T09:00:00Z", "2026-02-02T09:00:00+00:00", "moved", "2026-01-31T09:00:00Z"),
        ("2026-03-31T08:00:00Z", "2026-03-31T09:00:00+01:00", None, "2026-03-31T08:00:00Z"),
    ]


def test_previous_business_day_moves_a_run_across_a_month_end() -> None:
    timing = Timing("0 9 31 * *", "Europe/London", rule=PREVIOUS)
    assert listed(timing, "2026-01-01T00:00:00Z", 1) == [
        ("2026-01-30T09:00:00Z", "2026-01-30T09:00:00+00:00", "moved", "2026-01-31T09:00:00Z"),
    ]


def test_next_business_day_moves_a_run_across_a_year_end() -> None:
    timing = Timing("0 9 1 * *", "Europe/London", rule=NEXT, holidays=days("2027-01-01"))
    assert listed(timing, "2026-12-15T00:00:00Z", 2) == [
        ("2027-01-04T09:00:00Z", "2027-01-04T09:00:00+00:00", "moved", "2027-01-01T09:00:00Z"),
        ("2027-02-01T09:00:00Z", "2027-02-01T09:00:00+00:00", None, "2027-02-01T09:00:00Z"),
    ]


def test_previous_business_day_moves_a_run_back_across_a_year_end() -> None:
    timing = Timing("0 9 1 * *", "Europe/London", rule=PREVIOUS, holidays=days("2027-01-01", "2026-12-31"))
    assert listed(timing, "2026-12-02T00:00:00Z", 1) == [
        ("2026-12-30T09:00:00Z", "2026-12-30T09:00:00+00:00", "moved", "2027-01-01T09:00:00Z"),
    ]


def test_a_move_across_spring_forward_keeps_the_wall_time() -> None:
    # Friday 6 March is a holiday: 09:00 EST (14:00Z) moves to Monday 9 March, 09:00 EDT (13:00Z).
    timing = Timing("0 9 * * FRI", "America/New_York", rule=NEXT, holidays=days("2026-03-06"))
    assert listed(timing, "2026-03-01T00:00:00Z", 2) == [
        ("2026-03-09T13:00:00Z", "2026-03-09T09:00:00-04:00", "moved", "2026-03-06T14:00:00Z"),
        ("2026-03-13T13:00:00Z", "2026-03-13T09:00:00-04:00", None, "2026-03-13T13:00:00Z"),
    ]


def test_a_move_back_across_fall_back_keeps_the_wall_time() -> None:
    # Monday 2 November is a holiday: 09:00 EST (14:00Z) moves back to Friday 30 October, 09:00 EDT (13:00Z).
    timing = Timing("0 9 * * MON", "America/New_York", rule=PREVIOUS, holidays=days("2026-11-02"))
    assert listed(timing, "2026-10-27T00:00:00Z", 2) == [
        ("2026-10-30T13:00:00Z", "2026-10-30T09:00:00-04:00", "moved", "2026-11-02T14:00:00Z"),
        ("2026-11-09T14:00:00Z", "2026-11-09T09:00:00-05:00", None, "2026-11-09T14:00:00Z"),
    ]


def test_a_friday_holiday_with_previous_fires_on_thursday_once() -> None:
    timing = Timing("0 9 * * MON-FRI", "America/New_York", rule=PREVIOUS, holidays=days("2026-12-25"))
    assert listed(timing, "2026-12-23T20:00:00Z", 3) == [
        ("2026-12-24T14:00:00Z", "2026-12-24T09:00:00-05:00", "moved", "2026-12-25T14:00:00Z"),
        ("2026-12-28T14:00:00Z", "2026-12-28T09:00:00-05:00", None, "2026-12-28T14:00:00Z"),
        ("2026-12-29T14:00:00Z", "2026-12-29T09:00:00-05:00", None, "2026-12-29T14:00:00Z"),
    ]


def test_a_monday_holiday_with_next_fires_on_tuesday_once() -> None:
    timing = Timing("0 9 * * MON", "America/New_York", rule=NEXT, holidays=days("2026-05-25"))
    assert listed(timing, "2026-05-20T00:00:00Z", 2) == [
        ("2026-05-26T13:00:00Z", "2026-05-26T09:00:00-04:00", "moved", "2026-05-25T13:00:00Z"),
        ("2026-06-01T13:00:00Z", "2026-06-01T09:00:00-04:00", None, "2026-06-01T13:00:00Z"),
    ]


def test_christmas_moves_to_monday_and_merges_with_its_run() -> None:
    """Weekdays at 09:00 with NEXT_BUSINESS_DAY: Christmas (a Friday) fires once, on Monday the 28th."""
    timing = Timing("0 9 * * MON-FRI", "America/New_York", rule=NEXT, holidays=days("2026-12-25"))
    assert listed(timing, "2026-12-23T20:00:00Z", 3) == [
        ("2026-12-24T14:00:00Z", "2026-12-24T09:00:00-05:00", None, "2026-12-24T14:00:00Z"),
        ("2026-12-28T14:00:00Z", "2026-12-28T09:00:00-05:00", "moved", "2026-12-25T14:00:00Z"),
        ("2026-12-29T14:00:00Z", "2026-12-29T09:00:00-05:00", None, "2026-12-29T14:00:00Z"),
    ]


def test_consecutive_holidays_and_a_weekend_fold_into_one_run() -> None:
    timing = Timing("0 9 * * *", "Europe/London", rule=NEXT, holidays=days("2026-12-24", "2026-12-25", "2026-12-28"))
    assert listed(timing, "2026-12-23T10:00:00Z", 2) == [
        ("2026-12-29T09:00:00Z", "2026-12-29T09:00:00+00:00", "moved", "2026-12-24T09:00:00Z"),
        ("2026-12-30T09:00:00Z", "2026-12-30T09:00:00+00:00", None, "2026-12-30T09:00:00Z"),
    ]


def test_a_moved_run_keeps_its_own_time_beside_the_days_runs() -> None:
    # Saturday's 10:00 goes to Monday at 10:00, between Monday's own 09:00 and 11:00.
    timing = Timing("0 9,11 * * MON-FRI", "Europe/London", rule=NEXT)
    saturday = Timing("0 10 * * SAT", "Europe/London", rule=NEXT)
    assert listed(saturday, "2026-01-01T00:00:00Z", 1)[0][0] == "2026-01-05T10:00:00Z"
    both = [iso_z(r.at) for r in timing.between(utc("2026-01-04T00:00:00Z"), utc("2026-01-05T12:00:00Z"))]
    assert both == ["2026-01-05T09:00:00Z", "2026-01-05T11:00:00Z"]


def test_skip_records_the_holiday_run_without_firing_it() -> None:
    timing = Timing("0 9 * * MON-FRI", "America/New_York", rule=SKIP, holidays=days("2026-12-25"))
    runs = list(timing.between(utc("2026-12-24T15:00:00Z"), utc("2026-12-28T23:00:00Z")))
    assert [(iso_z(r.at), r.holiday, r.fires) for r in runs] == [
        ("2026-12-25T14:00:00Z", Holiday.SKIPPED, False),
        ("2026-12-28T14:00:00Z", None, True),
    ]


def test_skip_treats_weekends_as_non_business_days() -> None:
    timing = Timing("0 9 * * *", "UTC", rule=SKIP)
    runs = list(timing.between(utc("2026-12-25T10:00:00Z"), utc("2026-12-28T10:00:00Z")))
    assert [(r.at.day, r.fires) for r in runs] == [(26, False), (27, False), (28, True)]


def test_next_run_finds_a_run_moved_forward_from_before_the_start() -> None:
    # Asked on Monday at 08:00 after a Friday holiday: Friday's run is still to come, at 09:00 Monday.
    timing = Timing("0 9 * * FRI", "Europe/London", rule=NEXT, holidays=days("2026-12-25"))
    run = timing.next_run(utc("2026-12-28T08:00:00Z"))
    assert (run.at, run.nominal, run.holiday) == (utc("2026-12-28T09:00:00Z"), utc("2026-12-25T09:00:00Z"), "moved")


def test_it_finds_runs_that_previous_moved_into_the_past() -> None:
    # Planned on Friday 10:00: Monday's holiday run moved back to Friday 09:00, which has passed.
    timing = Timing("0 9 * * MON", "Europe/London", rule=PREVIOUS, holidays=days("2026-12-28"))
    late = timing.moved_before(utc("2026-12-25T10:00:00Z"))
    assert [(r.at, r.nominal) for r in late] == [(utc("2026-12-25T09:00:00Z"), utc("2026-12-28T09:00:00Z"))]
    assert timing.next_run(utc("2026-12-25T10:00:00Z")).at == utc("2027-01-04T09:00:00Z")
    assert timing.moved_before(utc("2026-12-25T08:00:00Z")) == []


def test_a_gap_day_run_moves_by_its_wall_time() -> None:
    # Sunday 8 March has no 02:30 (SKIP policy); Saturday's 02:30 moves to Monday 02:30 EDT, and Sunday's skipped
    # time moves nowhere: it never fired.
    timing = Timing("30 2 * * *", "America/New_York", gap="SKIP", rule=NEXT)
    runs = list(timing.between(utc("2026-03-07T00:00:00Z"), utc("2026-03-10T12:00:00Z")))
    assert [(iso_z(r.at), r.holiday) for r in runs] == [
        ("2026-03-09T06:30:00Z", "moved"),
        ("2026-03-10T06:30:00Z", None),
    ]


def test_without_a_rule_runs_are_the_cron_occurrences() -> None:
    timing = Timing("30 1 * * *", "America/New_York", repeat="BOTH")
    runs = list(timing.between(utc("2026-10-31T12:00:00Z"), utc("2026-11-02T12:00:00Z")))
    assert [(iso_z(r.at), r.note, r.holiday) for r in runs] == [
        ("2026-11-01T05:30:00Z", "first", None),
        ("2026-11-01T06:30:00Z", "second", None),
        ("2026-11-02T06:30:00Z", None, None),
    ]


# --- the property ---------------------------------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham"]


@pytest.mark.parametrize("zone", ZONES)
@settings(max_examples=8, deadline=None)
@given(
    year=st.integers(2012, 2030),
    hour=st.integers(0, 23),
    minute=st.sampled_from([0, 15, 30, 45]),
    offsets=st.sets(st.integers(0, 364), max_size=30),
    expression=st.sampled_from(["{m} {h} * * MON-FRI", "{m} {h} * * *"]),
)
def test_next_business_day_fires_once_per_business_day(
    zone: str, year: int, hour: int, minute: int, offsets: set[int], expression: str
) -> None:
    """Over a year, with random holidays, a weekday (or daily) job fires exactly once on each business day."""
    tz = ZoneInfo(zone)
    holidays = frozenset(date(year, 1, 1) + timedelta(days=i) for i in offsets)
    timing = Timing(expression.format(m=minute, h=hour), zone, rule=NEXT, holidays=holidays)
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=3)
    end = datetime(year + 1, 1, 1, tzinfo=UTC) + timedelta(days=3)
    fired = [r for r in timing.between(start, end) if r.fires]
    per_day = Counter(r.at.astimezone(tz).date() for r in fired)
    first, last = date(year, 1, 10), date(year, 12, 20)  # away from runs rolled in from other years
    inside = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    assert {d: per_day[d] for d in inside} == {d: int(calendars.is_business_day(d, holidays)) for d in inside}
    assert all(r.local.replace(tzinfo=None).time() == datetime(2000, 1, 1, hour, minute).time() for r in fired[1:-1])


# --- dates from a list ----------------------------------------------------------------------------------------------


def test_it_reads_a_list_of_dates_sorted_and_without_repeats() -> None:
    assert calendars.parse_dates(["2026-12-25", "2026-01-01", "2026-12-25"]) == [date(2026, 1, 1), date(2026, 12, 25)]
    assert calendars.parse_dates([]) == []


@pytest.mark.parametrize(
    "value",
    ["2026-12-25", None, {"d": 1}, ["2026-13-01"], ["2026-02-30"], ["25/12/2026"], ["2026-12-25T00:00"], [20261225]],
)
def test_it_refuses_bad_dates(value: object) -> None:
    with pytest.raises(calendars.CalendarError) as caught:
        calendars.parse_dates(value)
    assert caught.value.field == "dates"


def test_it_refuses_more_than_1000_dates() -> None:
    many = [(date(2026, 1, 1) + timedelta(days=i)).isoformat() for i in range(1001)]
    with pytest.raises(calendars.CalendarError, match="at most 1000"):
        calendars.parse_dates(many)
    assert len(calendars.parse_dates(many[:1000])) == 1000


# --- dates from iCalendar -------------------------------------------------------------------------------------------


def ics(*events: str) -> str:
    """Wrap VEVENT bodies in a VCALENDAR."""
    body = "".join(f"BEGIN:VEVENT\r\nUID:{i}@test\r\n{e}END:VEVENT\r\n" for i, e in enumerate(events))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"


def test_it_reads_all_day_events_as_dates() -> None:
    text = ics(
        "DTSTART;VALUE=DATE:20261225\r\nDTEND;VALUE=DATE:20261226\r\nSUMMARY:Christmas Day\r\n",
        "DTSTART;VALUE=DATE:20261228\r\nSUMMARY:Boxing Day (substitute)\r\n",
        "DTSTART;VALUE=DATE:20260403\r\nDTEND;VALUE=DATE:20260407\r\nSUMMARY:Easter, four days\r\n",
        "DTSTART:20261224T150000Z\r\nDTEND:20261224T160000Z\r\nSUMMARY:A meeting, not a holiday\r\n",
    )
    assert calendars.dates_from_ics(text) == [
        date(2026, 4, 3),
        date(2026, 4, 4),
        date(2026, 4, 5),
        date(2026, 4, 6),
        date(2026, 12, 25),
        date(2026, 12, 28),
    ]


def test_it_expands_a_yearly_holiday_and_leaves_out_its_exceptions() -> None:
    text = ics("DTSTART;VALUE=DATE:20261225\r\nRRULE:FREQ=YEARLY;COUNT=4\r\nEXDATE;VALUE=DATE:20271225\r\n")
    assert calendars.dates_from_ics(text) == [date(2026, 12, 25), date(2028, 12, 25), date(2029, 12, 25)]


def test_an_endless_recurrence_stops_after_ten_years() -> None:
    text = ics("DTSTART;VALUE=DATE:20260101\r\nRRULE:FREQ=YEARLY\r\n")
    assert calendars.dates_from_ics(text) == [date(2026 + i, 1, 1) for i in range(10)]


@pytest.mark.parametrize(
    "text,reason",
    [
        ("not a calendar", "starting BEGIN:VCALENDAR"),
        (None, "starting BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nthis is not a content line\r\nEND:VCALENDAR\r\n", "not valid iCalendar"),
        (ics("DTSTART:20261224T150000Z\r\n"), "no all-day events"),
        ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n", "no all-day events"),
        (ics("DTSTART;VALUE=DATE:20260101\r\nRRULE:FREQ=DAILY\r\n"), "at most 1000"),
        (ics("DTSTART;VALUE=DATE:20260101\r\nRRULE:FREQ=SOMETIMES\r\n"), "RRULE"),
    ],
)
def test_it_refuses_bad_ics(text: object, reason: str) -> None:
    with pytest.raises(calendars.CalendarError, match=reason) as caught:
        calendars.dates_from_ics(text)
    assert caught.value.field == "ics"
