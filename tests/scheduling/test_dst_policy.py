"""The daylight-saving policy of fixed-time schedules: dst_gap (SHIFT, SKIP) and dst_repeat (FIRST, SECOND, BOTH).

Reference dates (2025), as published in the tz database:
  America/New_York     spring 2025-03-09 02:00 EST -> 03:00 EDT (07:00Z); autumn 2025-11-02 02:00 EDT -> 01:00 EST
                       (06:00Z)
  Europe/London        spring 2025-03-30 01:00 GMT -> 02:00 BST (01:00Z); autumn 2025-10-26 02:00 BST -> 01:00 GMT
                       (01:00Z)
  Australia/Sydney     spring 2025-10-05 02:00 AEST -> 03:00 AEDT (10-04 16:00Z); autumn 2025-04-06 03:00 AEDT ->
                       02:00 AEST (04-05 16:00Z)
  Australia/Lord_Howe  spring 2025-10-05 02:00 +10:30 -> 02:30 +11 (10-04 15:30Z); autumn 2025-04-06 02:00 +11 ->
                       01:30 +10:30 (04-05 15:00Z)
  Pacific/Chatham      spring 2025-09-28 02:45 +12:45 -> 03:45 +13:45 (09-27 14:00Z); autumn 2025-04-06 03:45 +13:45
                       -> 02:45 +12:45 (04-05 14:00Z)
So the wall times 02:30 (New York, Sydney), 01:30 (London), 02:15 (Lord Howe) and 03:00 (Chatham) do not exist on
the spring day, and 01:30 (New York, London), 02:30 (Sydney), 01:45 (Lord Howe) and 03:00 (Chatham) happen twice
on the autumn day.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.clock import iso_z
from webapp.scheduling import cron
from webapp.scheduling.cron import DstGap, DstRepeat


def utc(text: str) -> datetime:
    """Parse an ISO string with Z into an aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def runs(expression: str, tz: str, after: str, count: int, gap: str, repeat: str, skipped: bool = False) -> list:
    """List the next occurrences under a policy as (UTC, local, note) strings."""
    found = cron.occurrences(expression, tz, utc(after), count, gap=gap, repeat=repeat, skipped=skipped)
    return [(iso_z(o.at), o.local.isoformat(), o.note) for o in found]


# --- spring forward: dst_gap ----------------------------------------------------------------------------------------

GAP_TABLE = [
    # America/New_York: 02:30 does not exist on 2025-03-09
    (
        "30 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00Z",
        "SHIFT",
        [
            ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "shifted"),
            ("2025-03-10T06:30:00Z", "2025-03-10T02:30:00-04:00", None),
        ],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        "2025-03-08T12:00:00Z",
        "SKIP",
        [
            ("2025-03-10T06:30:00Z", "2025-03-10T02:30:00-04:00", None),
            ("2025-03-11T06:30:00Z", "2025-03-11T02:30:00-04:00", None),
        ],
    ),
    # Europe/London: 01:30 does not exist on 2025-03-30
    (
        "30 1 * * *",
        "Europe/London",
        "2025-03-29T12:00:00Z",
        "SHIFT",
        [
            ("2025-03-30T01:00:00Z", "2025-03-30T02:00:00+01:00", "shifted"),
            ("2025-03-31T00:30:00Z", "2025-03-31T01:30:00+01:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2025-03-29T12:00:00Z",
        "SKIP",
        [
            ("2025-03-31T00:30:00Z", "2025-03-31T01:30:00+01:00", None),
            ("2025-04-01T00:30:00Z", "2025-04-01T01:30:00+01:00", None),
        ],
    ),
    # Australia/Sydney: 02:30 does not exist on 2025-10-05
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-10-04T00:00:00Z",
        "SHIFT",
        [
            ("2025-10-04T16:00:00Z", "2025-10-05T03:00:00+11:00", "shifted"),
            ("2025-10-05T15:30:00Z", "2025-10-06T02:30:00+11:00", None),
        ],
    ),
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-10-04T00:00:00Z",
        "SKIP",
        [
            ("2025-10-05T15:30:00Z", "2025-10-06T02:30:00+11:00", None),
            ("2025-10-06T15:30:00Z", "2025-10-07T02:30:00+11:00", None),
        ],
    ),
    # Australia/Lord_Howe: a 30-minute gap, 02:00-02:30, on 2025-10-05
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T00:00:00Z",
        "SHIFT",
        [
            ("2025-10-04T15:30:00Z", "2025-10-05T02:30:00+11:00", "shifted"),
            ("2025-10-05T15:15:00Z", "2025-10-06T02:15:00+11:00", None),
        ],
    ),
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T00:00:00Z",
        "SKIP",
        [
            ("2025-10-05T15:15:00Z", "2025-10-06T02:15:00+11:00", None),
            ("2025-10-06T15:15:00Z", "2025-10-07T02:15:00+11:00", None),
        ],
    ),
    # Pacific/Chatham: 02:45-03:45 does not exist on 2025-09-28
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-09-27T00:00:00Z",
        "SHIFT",
        [
            ("2025-09-27T14:00:00Z", "2025-09-28T03:45:00+13:45", "shifted"),
            ("2025-09-28T13:15:00Z", "2025-09-29T03:00:00+13:45", None),
        ],
    ),
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-09-27T00:00:00Z",
        "SKIP",
        [
            ("2025-09-28T13:15:00Z", "2025-09-29T03:00:00+13:45", None),
            ("2025-09-29T13:15:00Z", "2025-09-30T03:00:00+13:45", None),
        ],
    ),
]


@pytest.mark.parametrize("expression,tz,after,gap,expected", GAP_TABLE)
@pytest.mark.parametrize("repeat", list(DstRepeat))
def test_it_applies_the_gap_policy(expression: str, tz: str, after: str, gap: str, expected: list, repeat: str) -> None:
    """The gap policy alone decides the spring day; the repeat policy has nothing to repeat there."""
    assert runs(expression, tz, after, len(expected), gap, repeat) == expected


# With `skipped`, the preview lists the run a SKIP policy drops, at the instant the gap ends.
SKIPPED_TABLE = [
    ("30 2 * * *", "America/New_York", "2025-03-08T12:00:00Z", ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00")),
    ("30 1 * * *", "Europe/London", "2025-03-29T12:00:00Z", ("2025-03-30T01:00:00Z", "2025-03-30T02:00:00+01:00")),
    ("30 2 * * *", "Australia/Sydney", "2025-10-04T00:00:00Z", ("2025-10-04T16:00:00Z", "2025-10-05T03:00:00+11:00")),
    (
        "15 2 * * *",
        "Australia/Lord_Howe",
        "2025-10-04T00:00:00Z",
        ("2025-10-04T15:30:00Z", "2025-10-05T02:30:00+11:00"),
    ),
    ("0 3 * * *", "Pacific/Chatham", "2025-09-27T00:00:00Z", ("2025-09-27T14:00:00Z", "2025-09-28T03:45:00+13:45")),
]


@pytest.mark.parametrize("expression,tz,after,skipped", SKIPPED_TABLE)
def test_it_lists_the_skipped_run_only_when_asked(expression: str, tz: str, after: str, skipped: tuple) -> None:
    listed = runs(expression, tz, after, 3, "SKIP", "FIRST", skipped=True)
    assert listed[0] == (*skipped, "skipped")
    assert listed[1:] == runs(expression, tz, after, 2, "SKIP", "FIRST")


def test_a_skipped_gap_time_gives_way_to_a_real_time_at_the_same_instant() -> None:
    # 02:00 and 02:30 do not exist in New York on 2025-03-09; 03:00 does, at the very instant the gap ends.
    listed = runs("0,30 2,3 * * *", "America/New_York", "2025-03-09T05:00:00Z", 3, "SKIP", "FIRST", skipped=True)
    assert listed == [
        ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", None),
        ("2025-03-09T07:30:00Z", "2025-03-09T03:30:00-04:00", None),
        ("2025-03-10T06:00:00Z", "2025-03-10T02:00:00-04:00", None),
    ]


def test_several_skipped_times_in_one_gap_are_listed_once() -> None:
    listed = runs("0,30 2 * * *", "America/New_York", "2025-03-09T05:00:00Z", 2, "SKIP", "FIRST", skipped=True)
    assert listed == [
        ("2025-03-09T07:00:00Z", "2025-03-09T03:00:00-04:00", "skipped"),
        ("2025-03-10T06:00:00Z", "2025-03-10T02:00:00-04:00", None),
    ]


# --- fall back: dst_repeat ------------------------------------------------------------------------------------------

REPEAT_TABLE = [
    # America/New_York: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST) on 2025-11-02
    (
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        "FIRST",
        [
            ("2025-11-02T05:30:00Z", "2025-11-02T01:30:00-04:00", "first"),
            ("2025-11-03T06:30:00Z", "2025-11-03T01:30:00-05:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        "SECOND",
        [
            ("2025-11-02T06:30:00Z", "2025-11-02T01:30:00-05:00", "second"),
            ("2025-11-03T06:30:00Z", "2025-11-03T01:30:00-05:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "America/New_York",
        "2025-11-01T12:00:00Z",
        "BOTH",
        [
            ("2025-11-02T05:30:00Z", "2025-11-02T01:30:00-04:00", "first"),
            ("2025-11-02T06:30:00Z", "2025-11-02T01:30:00-05:00", "second"),
            ("2025-11-03T06:30:00Z", "2025-11-03T01:30:00-05:00", None),
        ],
    ),
    # Europe/London: 01:30 happens at 00:30Z (BST) and 01:30Z (GMT) on 2025-10-26
    (
        "30 1 * * *",
        "Europe/London",
        "2025-10-25T12:00:00Z",
        "FIRST",
        [
            ("2025-10-26T00:30:00Z", "2025-10-26T01:30:00+01:00", "first"),
            ("2025-10-27T01:30:00Z", "2025-10-27T01:30:00+00:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2025-10-25T12:00:00Z",
        "SECOND",
        [
            ("2025-10-26T01:30:00Z", "2025-10-26T01:30:00+00:00", "second"),
            ("2025-10-27T01:30:00Z", "2025-10-27T01:30:00+00:00", None),
        ],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2025-10-25T12:00:00Z",
        "BOTH",
        [
            ("2025-10-26T00:30:00Z", "2025-10-26T01:30:00+01:00", "first"),
            ("2025-10-26T01:30:00Z", "2025-10-26T01:30:00+00:00", "second"),
            ("2025-10-27T01:30:00Z", "2025-10-27T01:30:00+00:00", None),
        ],
    ),
    # Australia/Sydney: 02:30 happens at 15:30Z (+11) and 16:30Z (+10) on 2025-04-06 local
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-04-05T00:00:00Z",
        "FIRST",
        [
            ("2025-04-05T15:30:00Z", "2025-04-06T02:30:00+11:00", "first"),
            ("2025-04-06T16:30:00Z", "2025-04-07T02:30:00+10:00", None),
        ],
    ),
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-04-05T00:00:00Z",
        "SECOND",
        [
            ("2025-04-05T16:30:00Z", "2025-04-06T02:30:00+10:00", "second"),
            ("2025-04-06T16:30:00Z", "2025-04-07T02:30:00+10:00", None),
        ],
    ),
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2025-04-05T00:00:00Z",
        "BOTH",
        [
            ("2025-04-05T15:30:00Z", "2025-04-06T02:30:00+11:00", "first"),
            ("2025-04-05T16:30:00Z", "2025-04-06T02:30:00+10:00", "second"),
            ("2025-04-06T16:30:00Z", "2025-04-07T02:30:00+10:00", None),
        ],
    ),
    # Australia/Lord_Howe: 01:45 happens at 14:45Z (+11) and 15:15Z (+10:30), half an hour apart
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T00:00:00Z",
        "FIRST",
        [
            ("2025-04-05T14:45:00Z", "2025-04-06T01:45:00+11:00", "first"),
            ("2025-04-06T15:15:00Z", "2025-04-07T01:45:00+10:30", None),
        ],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T00:00:00Z",
        "SECOND",
        [
            ("2025-04-05T15:15:00Z", "2025-04-06T01:45:00+10:30", "second"),
            ("2025-04-06T15:15:00Z", "2025-04-07T01:45:00+10:30", None),
        ],
    ),
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2025-04-05T00:00:00Z",
        "BOTH",
        [
            ("2025-04-05T14:45:00Z", "2025-04-06T01:45:00+11:00", "first"),
            ("2025-04-05T15:15:00Z", "2025-04-06T01:45:00+10:30", "second"),
            ("2025-04-06T15:15:00Z", "2025-04-07T01:45:00+10:30", None),
        ],
    ),
    # Pacific/Chatham: 03:00 happens at 13:15Z (+13:45) and 14:15Z (+12:45)
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-04-05T00:00:00Z",
        "FIRST",
        [
            ("2025-04-05T13:15:00Z", "2025-04-06T03:00:00+13:45", "first"),
            ("2025-04-06T14:15:00Z", "2025-04-07T03:00:00+12:45", None),
        ],
    ),
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-04-05T00:00:00Z",
        "SECOND",
        [
            ("2025-04-05T14:15:00Z", "2025-04-06T03:00:00+12:45", "second"),
            ("2025-04-06T14:15:00Z", "2025-04-07T03:00:00+12:45", None),
        ],
    ),
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2025-04-05T00:00:00Z",
        "BOTH",
        [
            ("2025-04-05T13:15:00Z", "2025-04-06T03:00:00+13:45", "first"),
            ("2025-04-05T14:15:00Z", "2025-04-06T03:00:00+12:45", "second"),
            ("2025-04-06T14:15:00Z", "2025-04-07T03:00:00+12:45", None),
        ],
    ),
]


@pytest.mark.parametrize("expression,tz,after,repeat,expected", REPEAT_TABLE)
@pytest.mark.parametrize("gap", list(DstGap))
def test_it_applies_the_repeat_policy(
    expression: str, tz: str, after: str, repeat: str, expected: list, gap: str
) -> None:
    """The repeat policy alone decides the autumn day; the gap policy has no gap to act on there."""
    assert runs(expression, tz, after, len(expected), gap, repeat) == expected


def test_both_fires_several_repeated_times_in_time_order() -> None:
    # 01:00 and 01:30 EDT, then 01:00 and 01:30 EST: the second readings come after both first ones.
    assert runs("0,30 1 * * *", "America/New_York", "2025-11-02T04:00:00Z", 5, "SHIFT", "BOTH") == [
        ("2025-11-02T05:00:00Z", "2025-11-02T01:00:00-04:00", "first"),
        ("2025-11-02T05:30:00Z", "2025-11-02T01:30:00-04:00", "first"),
        ("2025-11-02T06:00:00Z", "2025-11-02T01:00:00-05:00", "second"),
        ("2025-11-02T06:30:00Z", "2025-11-02T01:30:00-05:00", "second"),
        ("2025-11-03T06:00:00Z", "2025-11-03T01:00:00-05:00", None),
    ]


@pytest.mark.parametrize(
    "repeat,after,expected",
    [
        # Asked between the two readings: FIRST has had its run that day, SECOND and BOTH still fire at 06:30Z.
        ("FIRST", "2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"),
        ("SECOND", "2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"),
        ("BOTH", "2025-11-02T05:30:00Z", "2025-11-02T06:30:00Z"),
        ("BOTH", "2025-11-02T06:30:00Z", "2025-11-03T06:30:00Z"),
        ("SECOND", "2025-11-01T12:00:00Z", "2025-11-02T06:30:00Z"),
    ],
)
def test_next_after_follows_the_repeat_policy(repeat: str, after: str, expected: str) -> None:
    found = cron.next_after("30 1 * * *", "America/New_York", utc(after), repeat=repeat)
    assert iso_z(found) == expected


def test_iter_between_follows_the_policy() -> None:
    fired = cron.iter_between(
        "30 1 * * *", "America/New_York", utc("2025-11-01T12:00:00Z"), utc("2025-11-03T12:00:00Z"), repeat="BOTH"
    )
    assert [iso_z(t) for t in fired] == [
        "2025-11-02T05:30:00Z",
        "2025-11-02T06:30:00Z",
        "2025-11-03T06:30:00Z",
    ]
    skipped = cron.iter_between(
        "30 2 * * *", "America/New_York", utc("2025-03-08T12:00:00Z"), utc("2025-03-10T12:00:00Z"), gap="SKIP"
    )
    assert [iso_z(t) for t in skipped] == ["2025-03-10T06:30:00Z"]


# --- validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression,gap,repeat,field",
    [
        ("0 * * * *", "SKIP", "FIRST", "dst_gap"),
        ("*/15 * * * *", "SHIFT", "BOTH", "dst_repeat"),
        ("5 */2 * * *", "SHIFT", "SECOND", "dst_repeat"),
        ("@hourly", "SKIP", "BOTH", "dst_gap"),
        (None, "SKIP", "FIRST", "dst_gap"),
        ("30 2 * * *", "LATER", "FIRST", "dst_gap"),
        ("30 2 * * *", "SHIFT", "first", "dst_repeat"),
        ("30 2 * * *", "SHIFT", None, "dst_repeat"),
    ],
)
def test_it_refuses_a_policy_that_cannot_apply(expression: str | None, gap: str, repeat: str, field: str) -> None:
    with pytest.raises(cron.CronError) as caught:
        cron.check_dst_policy(expression, gap, repeat)
    assert caught.value.field == field
    assert field in caught.value.message


def test_it_says_why_an_interval_schedule_refuses_a_policy() -> None:
    with pytest.raises(cron.CronError, match="fixed-time schedules only .* follows real elapsed time"):
        cron.check_dst_policy("*/15 * * * *", "SKIP", "FIRST")


@pytest.mark.parametrize("expression", ["0 * * * *", "*/5 * * * *", None])
def test_it_accepts_the_defaults_on_any_schedule(expression: str | None) -> None:
    cron.check_dst_policy(expression, "SHIFT", "FIRST")
    if expression:
        assert len(cron.occurrences(expression, "America/New_York", utc("2025-11-02T04:00:00Z"), 3)) == 3


def test_the_engine_refuses_a_policy_on_an_interval_schedule() -> None:
    with pytest.raises(cron.CronError):
        cron.next_after("0 * * * *", "UTC", utc("2025-01-01T00:00:00Z"), gap="SKIP")


# --- properties -----------------------------------------------------------------------------------------------------

ZONES = ["America/New_York", "Europe/London", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham"]


def _readings(zone: ZoneInfo, day: date, hour: int, minute: int, offsets: set) -> list[datetime]:
    """Return every instant whose reading in `zone` is `day` at hour:minute, found without fold."""
    wall = datetime(day.year, day.month, day.day, hour, minute)
    found = {(wall - o).replace(tzinfo=UTC) for o in offsets}
    return sorted(t for t in found if t.astimezone(zone).replace(tzinfo=None) == wall)


@pytest.mark.parametrize("zone", ZONES)
@settings(max_examples=10, deadline=None)
@given(year=st.integers(2012, 2030), hour=st.integers(0, 23), minute=st.sampled_from([0, 15, 30, 45]))
def test_a_daily_job_fires_at_the_readings_the_policy_picks(zone: str, year: int, hour: int, minute: int) -> None:
    """SKIP with BOTH fires at every real reading; FIRST takes the earliest of each day, SECOND the latest."""
    tz = ZoneInfo(zone)
    offsets = {datetime(year, m, 1, tzinfo=UTC).astimezone(tz).utcoffset() for m in range(1, 13)}
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    days = [date(year, 1, 1) + timedelta(days=i) for i in range(366 if calendar.isleap(year) else 365)]
    readings = {d: _readings(tz, d, hour, minute, offsets) for d in days}
    expression = f"{minute} {hour} * * *"
    for repeat, pick in (("BOTH", lambda r: r), ("FIRST", lambda r: r[:1]), ("SECOND", lambda r: r[-1:])):
        found = cron.occurrences(expression, zone, start, 400, gap="SKIP", repeat=repeat)
        fired = [o.at for o in found if o.local.year == year]
        assert fired == [t for d in days for t in pick(readings[d])], repeat
