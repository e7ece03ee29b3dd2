"""Cron expressions evaluated in IANA time zones, with explicit daylight-saving rules.

Fixed-time schedules (neither the minute nor the hour field starts with ``*``) follow the
calendar, under a daylight-saving policy: a wall time skipped by a spring-forward gap fires at
the end of the gap (``dst_gap`` SHIFT, the default) or not that day (SKIP); a wall time repeated
by a fall-back fires at its first reading (``dst_repeat`` FIRST, the default), its second
(SECOND) or both (BOTH). Every other schedule follows elapsed time: an instant fires when its
local wall-clock reading matches the fields, and refuses a non-default policy.

Naive datetimes given as ``after``/``until`` are read as UTC, which is what SQLite returns.
"""

from __future__ import annotations

import calendar
import functools
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from itertools import islice, takewhile
from zoneinfo import ZoneInfo, available_timezones

from cron_descriptor import ExpressionDescriptor
from croniter import croniter

from .. import clock

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_FIELDS = (
    ("minute", 0, 59, "0-59"),
    ("hour", 0, 23, "0-23"),
    ("day-of-month", 1, 31, "1-31"),
    ("month", 1, 12, "1-12 or JAN-DEC"),
    ("day-of-week", 0, 6, "0-7 or SUN-SAT"),
)
_NAMES = {
    3: {m.lower() for m in calendar.month_abbr[1:]},
    4: {"sun", "mon", "tue", "wed", "thu", "fri", "sat"},
}
_FIELD_RE = re.compile(r"[0-9A-Za-z*/,-]+")
_MAX_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_BAD_ZONE_NAMES = frozenset({"localtime", "posixrules", "Factory"})
_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_PROBE = 86400  # offset changes in tzdata are at least a week apart, so daily probes miss none
_HORIZON_YEARS = 50  # Feb 29 falling on a given weekday can be 40 years apart
_LAST_DAY = date(9990, 1, 1)


class CronError(ValueError):
    """Invalid expression, timezone or instant."""

    def __init__(self, message: str, field: str = "cron_expression") -> None:
        """Keep the message and the name of the input it is about."""
        super().__init__(message)
        self.message = message
        self.field = field


class DstGap(StrEnum):
    """What a fixed wall time does on the day a spring-forward gap swallows it."""

    SHIFT = "SHIFT"  # fire once, at the end of the gap
    SKIP = "SKIP"  # do not fire that day


class DstRepeat(StrEnum):
    """What a fixed wall time does on the day a fall-back repeats it."""

    FIRST = "FIRST"
    SECOND = "SECOND"
    BOTH = "BOTH"


class Note(StrEnum):
    """How daylight saving affected an occurrence of a fixed-time schedule."""

    SHIFTED = "shifted"  # its wall time did not exist; it fires at the end of the gap
    SKIPPED = "skipped"  # its wall time did not exist; it does not fire (listed only when asked)
    FIRST = "first"  # the first reading of a repeated wall time
    SECOND = "second"  # the second reading of a repeated wall time


@dataclass(frozen=True)
class Occurrence:
    """One firing: the UTC instant, its local reading and how DST affected it.

    `wall` is the naive local time the expression names: it differs from `local` when a gap
    shifted or skipped it (02:30 that fired at 03:00), and holiday rules move that time.
    """

    at: datetime
    local: datetime
    note: str | None
    wall: datetime | None = None

    @property
    def wall_time(self) -> datetime:
        """Return the naive local wall time this occurrence stands for."""
        return self.wall if self.wall is not None else self.local.replace(tzinfo=None)

    @property
    def fires(self) -> bool:
        """Tell whether this occurrence fires (one skipped by a DST gap does not)."""
        return self.note != Note.SKIPPED


@dataclass(frozen=True, eq=False)  # identity hash: specs are cached, and hashing 1440 times is slow
class _Spec:
    """A parsed expression: the value sets and the flags the evaluators need."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    doms: frozenset[int]
    months: frozenset[int]
    dows: frozenset[int]
    day_or: bool
    fixed: bool
    times: tuple[tuple[int, int], ...]

    @property
    def fields(self) -> str:
        """Return the five-field form, with a macro expanded."""
        return MACROS.get(self.text, self.text)


@functools.lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """Return the loadable IANA names, without host aliases like localtime."""
    return frozenset(available_timezones()) - _BAD_ZONE_NAMES


def get_zone(name: str) -> ZoneInfo:
    """Return the zone for an IANA name, or raise CronError(field="timezone")."""
    if not isinstance(name, str) or not name.strip():
        raise CronError("Time zone must be an IANA name such as Europe/London", "timezone")
    if name not in zone_names():
        raise CronError(f"Unknown time zone {name!r}; use an IANA name such as America/New_York", "timezone")
    return ZoneInfo(name)


def _expand(index: int, field: str) -> tuple[int, ...]:
    """Expand one field to its sorted values, with croniter doing the parsing."""
    name, low, high, allowed = _FIELDS[index]
    bad = CronError(f"Invalid {name} field {field!r}; allowed values are {allowed}")
    if not _FIELD_RE.fullmatch(field):
        raise bad
    if any(word.lower() not in _NAMES.get(index, ()) for word in re.findall(r"[A-Za-z]+", field)):
        raise bad  # also keeps out croniter's extensions: L, W, H
    probe = ["*"] * 5
    probe[index] = field
    try:
        values = croniter.expand(" ".join(probe))[0][index]
    except (ValueError, TypeError, IndexError):  # croniter's errors are ValueErrors, bar one TypeError
        raise bad from None
    if "*" in values:  # croniter folds a full range, even inside a list, to "*"
        return tuple(range(low, high + 1))
    return tuple(sorted(set(values)))


@functools.lru_cache(maxsize=2048)
def _parse(expression: str) -> _Spec:
    """Parse and validate an expression into value sets."""
    text = " ".join(expression.split())
    if not text:
        raise CronError("Cron expression is empty")
    if text.startswith("@"):
        text = text.lower()
        if text not in MACROS:
            raise CronError(f"Unsupported macro {text!r}; use one of {', '.join(MACROS)}")
    fields = MACROS.get(text, text).split(" ")
    if len(fields) != 5:
        raise CronError(
            f"Cron expression needs 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    minutes, hours, doms, months, dows = (_expand(i, f) for i, f in enumerate(fields))
    # Vixie cron: a day field starting with "*" leaves the other to decide; otherwise either may match.
    day_or = not fields[2].startswith("*") and not fields[4].startswith("*")
    if not day_or and all(doms[0] > _MAX_MONTH_DAYS[m] for m in months):
        raise CronError(f"Cron expression {text!r} never fires: no such day in the chosen months")
    fixed = not fields[0].startswith("*") and not fields[1].startswith("*")
    times = tuple((h, m) for h in hours for m in minutes) if fixed else ()
    return _Spec(text, minutes, hours, frozenset(doms), frozenset(months), frozenset(dows), day_or, fixed, times)


def _spec(expression: str) -> _Spec:
    """Return the cached parse of an expression, rejecting non-strings."""
    if not isinstance(expression, str):
        raise CronError("Cron expression must be a string")
    return _parse(expression)


def normalize(expression: str) -> str:
    """Validate an expression and return its canonical stored form."""
    spec = _spec(expression)
    next_after(spec.text, "UTC", clock.utcnow())  # computing a next run is the real validity test
    return spec.text


def is_fixed_time(expression: str) -> bool:
    """Tell whether neither the minute nor the hour field starts with "*"."""
    return _spec(expression).fixed


def check_dst_policy(expression: str | None, gap: str = DstGap.SHIFT, repeat: str = DstRepeat.FIRST) -> None:
    """Refuse an unknown policy, or a non-default one on a schedule that is not fixed-time."""
    for value, kind, field in ((gap, DstGap, "dst_gap"), (repeat, DstRepeat, "dst_repeat")):
        if value not in kind.__members__:
            raise CronError(f"{field} must be one of {', '.join(kind)}", field)
    field = "dst_gap" if gap != DstGap.SHIFT else "dst_repeat" if repeat != DstRepeat.FIRST else None
    if field is None:
        return
    if expression is None:
        raise CronError(f"{field} applies to cron schedules; a run_at is one instant already", field)
    if not _spec(expression).fixed:
        raise CronError(
            f"{field} applies to fixed-time schedules only (minute and hour both fixed, e.g. 30 2 * * *); "
            f"{_spec(expression).text!r} follows real elapsed time, so a daylight-saving change neither skips "
            "nor repeats it",
            field,
        )


@functools.lru_cache(maxsize=8192)
def _month_days(spec: _Spec, year: int, month: int) -> tuple[int, ...]:
    """Return the days of a month that the day fields select."""
    first_weekday, length = calendar.monthrange(year, month)
    days = []
    for day in range(1, length + 1):
        dom, dow = day in spec.doms, (first_weekday + day) % 7 in spec.dows  # cron counts Sunday as 0
        if (dom or dow) if spec.day_or else (dom and dow):
            days.append(day)
    return tuple(days)


def _days(spec: _Spec, first: date, stop: date) -> Iterator[date]:
    """Yield the matching dates from `first` up to, not including, `stop`."""
    year, month, low = first.year, first.month, first.day
    while (year, month) <= (stop.year, stop.month):
        if month in spec.months:
            for day in _month_days(spec, year, month):
                if day >= low:
                    found = date(year, month, day)
                    if found >= stop:
                        return
                    yield found
        low = 1
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)


def _walls(spec: _Spec, start: datetime, stop: date) -> Iterator[datetime]:
    """Yield the matching naive wall-clock minutes from `start` onwards."""
    first = start.date()
    for day in _days(spec, first, stop):
        hour0, minute0 = (start.hour, start.minute) if day == first else (0, 0)
        for hour in spec.hours[bisect_left(spec.hours, hour0) :]:
            minutes = spec.minutes[bisect_left(spec.minutes, minute0) :] if hour == hour0 else spec.minutes
            for minute in minutes:
                yield datetime(day.year, day.month, day.day, hour, minute)


def _offset(zone: ZoneInfo, ts: int) -> timedelta | None:
    """Return the zone's UTC offset at a POSIX timestamp."""
    return datetime.fromtimestamp(ts, zone).utcoffset()


def _change_between(zone: ZoneInfo, low: int, high: int) -> int:
    """Return the first second in (low, high] with the offset `high` has."""
    target = _offset(zone, high)
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(zone, middle) == target:
            high = middle
        else:
            low = middle
    return high


@functools.lru_cache(maxsize=4096)
def _transitions(zone: ZoneInfo, year: int) -> tuple[int, ...]:
    """Return the instants in (Jan 1 of year, Jan 1 of year + 1] UTC where the offset changes."""
    start, end = calendar.timegm((year, 1, 1, 0, 0, 0)), calendar.timegm((year + 1, 1, 1, 0, 0, 0))
    changes, before = [], _offset(zone, start)
    for probe in range(start + _PROBE, end + 1, _PROBE):
        now = _offset(zone, probe)
        if now != before:
            changes.append(_change_between(zone, probe - _PROBE, probe))
            before = now
    return tuple(changes)


def _next_change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime | None:
    """Return the first offset change in (low, high], if any."""
    low_ts, high_ts = low.timestamp(), high.timestamp()
    for year in range(low.year, high.year + 1):
        table = _transitions(zone, year)
        i = bisect_right(table, low_ts)
        if i < len(table):
            return datetime.fromtimestamp(table[i], UTC) if table[i] <= high_ts else None
    return None


def _gap_end(wall: datetime, zone: ZoneInfo, before: timedelta, after: timedelta) -> datetime:
    """Return the first instant after the spring-forward gap that swallows `wall`."""
    # The transition lies between the readings at the old and new offsets.
    low = calendar.timegm((wall - after).timetuple())
    high = calendar.timegm((wall - before).timetuple()) + 1
    return datetime.fromtimestamp(_change_between(zone, low, high), UTC)


def _place(wall: datetime, zone: ZoneInfo, gap: str, repeat: str) -> list[tuple[datetime, str | None]]:
    """Map a naive wall time to its (instant, note) pairs under a DST policy."""
    local = wall.replace(tzinfo=zone)
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    assert before is not None and after is not None
    if before == after:
        return [((wall - before).replace(tzinfo=UTC), None)]
    if before > after:  # fall-back: fold=0 is the earlier of the two readings
        first, second = (wall - before).replace(tzinfo=UTC), (wall - after).replace(tzinfo=UTC)
        if repeat == DstRepeat.FIRST:
            return [(first, Note.FIRST)]
        if repeat == DstRepeat.SECOND:
            return [(second, Note.SECOND)]
        return [(first, Note.FIRST), (second, Note.SECOND)]
    return [(_gap_end(wall, zone, before, after), Note.SHIFTED if gap == DstGap.SHIFT else Note.SKIPPED)]


def place(wall: datetime, tz: str, gap: str = DstGap.SHIFT, repeat: str = DstRepeat.FIRST) -> list[Occurrence]:
    """Return the occurrences a naive local wall time gives in a zone under a DST policy (none fire if skipped)."""
    zone = get_zone(tz)
    return [Occurrence(at, at.astimezone(zone), note, wall) for at, note in _place(wall, zone, gap, repeat)]


def _day_times(spec: _Spec, zone: ZoneInfo, day: date, gap: str, repeat: str) -> list[tuple]:
    """Return the (instant, note, wall) triples of one local date, in time order."""
    found = []
    for hour, minute in spec.times:
        wall = datetime(day.year, day.month, day.day, hour, minute)
        found += [(at, note, wall) for at, note in _place(wall, zone, gap, repeat)]
    # BOTH interleaves: 01:00 and 01:30 first, then 01:00 and 01:30 second. The sort is stable, so
    # of several times that land on one instant (a gap's), the earliest wall time keeps its note.
    found.sort(key=lambda pair: pair[0])
    return found


def _calendar_times(
    spec: _Spec, zone: ZoneInfo, after: datetime, stop: date, gap: str, repeat: str, skipped: bool
) -> Iterator[tuple]:
    """Yield fixed-time (instant, note, wall) triples after `after`, walking local calendar dates.

    Times that land on one instant fire once. A time skipped by the gap policy is yielded only
    when `skipped` is set, and not at all when a firing shares its instant (that one stands).
    """
    last, held = after, None
    # Start a day early: a gap crossing midnight can shift yesterday's time into today.
    for day in _days(spec, after.astimezone(zone).date() - _DAY, stop):
        for at, note, wall in _day_times(spec, zone, day, gap, repeat):
            if note == Note.SKIPPED:
                if skipped and at > last and (held is None or at > held[0]):
                    if held is not None:
                        yield held
                    held = (at, note, wall)  # held until the next firing shows it has no twin
                continue
            if at > last:
                if held is not None and held[0] < at:
                    yield held
                held, last = None, at
                yield at, note, wall
    if held is not None:
        yield held


def _elapsed_times(spec: _Spec, zone: ZoneInfo, after: datetime, stop: date) -> Iterator[datetime]:
    """Yield instants after `after` whose real wall-clock reading matches, segment by segment."""
    start, strict = after, True
    while True:
        offset = start.astimezone(zone).utcoffset()
        assert offset is not None
        wall = start.replace(tzinfo=None) + offset
        first = wall.replace(second=0, microsecond=0)
        if strict or first != wall:
            first += _MINUTE
        clear = start  # no offset change in (start, clear]
        for wall_time in _walls(spec, first, stop):
            at = (wall_time - offset).replace(tzinfo=UTC)
            if at > clear:
                change = _next_change(zone, clear, at)
                if change is not None:  # the wall clock jumps; resume from the new offset
                    start, strict = change, False
                    break
                clear = at
            yield at
        else:
            return


def _as_utc(value: datetime, name: str) -> datetime:
    """Return an aware UTC datetime (clock.as_utc: a naive value is UTC); refuse anything else."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    return clock.as_utc(value)


def _firings(
    expression: str,
    tz: str,
    after: datetime,
    stop: date,
    gap: str = DstGap.SHIFT,
    repeat: str = DstRepeat.FIRST,
    skipped: bool = False,
) -> Iterator[Occurrence]:
    """Validate, then stream the occurrences strictly after `after`, before the local date `stop`."""
    spec, zone = _spec(expression), get_zone(tz)
    check_dst_policy(expression, gap, repeat)
    if spec.fixed:
        times = _calendar_times(spec, zone, after, stop, gap, repeat, skipped)
        return (Occurrence(at, at.astimezone(zone), note, wall) for at, note, wall in times)
    return (Occurrence(at, at.astimezone(zone), None) for at in _elapsed_times(spec, zone, after, stop))


def next_after(
    expression: str, tz: str, after: datetime, gap: str = DstGap.SHIFT, repeat: str = DstRepeat.FIRST
) -> datetime:
    """Return the first occurrence strictly after `after`, in UTC."""
    after = _as_utc(after, "after")
    stop = min(_LAST_DAY, after.date() + timedelta(days=366 * _HORIZON_YEARS))
    found = next(_firings(expression, tz, after, stop, gap, repeat), None)
    if found is None:
        raise CronError(f"Cron expression {expression!r} does not fire within {_HORIZON_YEARS} years")
    return found.at


def occurrences(
    expression: str,
    tz: str,
    after: datetime,
    count: int,
    gap: str = DstGap.SHIFT,
    repeat: str = DstRepeat.FIRST,
    skipped: bool = False,
) -> list[Occurrence]:
    """Return the next `count` occurrences strictly after `after` (fewer near year 9990).

    With `skipped`, times that a dst_gap of SKIP keeps from firing are listed too (note "skipped").
    """
    after = _as_utc(after, "after")
    return list(islice(_firings(expression, tz, after, _LAST_DAY, gap, repeat, skipped), max(count, 0)))


def iter_occurrences(
    expression: str,
    tz: str,
    after: datetime,
    gap: str = DstGap.SHIFT,
    repeat: str = DstRepeat.FIRST,
    skipped: bool = False,
) -> Iterator[Occurrence]:
    """Return a lazy ascending iterator of the occurrences strictly after `after`, with notes."""
    return _firings(expression, tz, _as_utc(after, "after"), _LAST_DAY, gap, repeat, skipped)


def iter_between(
    expression: str,
    tz: str,
    after: datetime,
    until: datetime,
    gap: str = DstGap.SHIFT,
    repeat: str = DstRepeat.FIRST,
) -> Iterator[datetime]:
    """Return a lazy ascending iterator of the UTC occurrences in (after, until]."""
    after, until = _as_utc(after, "after"), _as_utc(until, "until")
    stop = min(_LAST_DAY, until.date() + 3 * _DAY)  # local dates run up to a day ahead of UTC
    firings = _firings(expression, tz, after, stop, gap, repeat)
    return (o.at for o in takewhile(lambda o: o.at <= until, firings))


@functools.lru_cache(maxsize=1024)
def _describe(text: str) -> str:
    """Describe a validated five-field expression."""
    try:
        return ExpressionDescriptor(text, use_24hour_time_format=True, verbose=False).get_description()
    except Exception:  # the describer is stricter than the parser on a few forms; the text still stands
        return text


def describe(expression: str) -> str:
    """Describe an expression in English, e.g. "At 09:00"."""
    return _describe(_spec(expression).fields)


def parse_instant(value: str, tz: str) -> datetime:
    """Parse an ISO 8601 instant; a naive value is local to `tz` under the DST rules."""
    zone = get_zone(tz)
    if not isinstance(value, str) or not value.strip():
        raise CronError("run_at must be an ISO 8601 date-time such as 2025-11-29T14:00:00Z", "run_at")
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            return _place(parsed, zone, DstGap.SHIFT, DstRepeat.FIRST)[0][0]
        return parsed.astimezone(UTC)
    except OverflowError:
        # A valid date-time whose instant falls outside what can be stored (e.g. 9999-12-31T23:59 in Los Angeles).
        raise CronError(
            "The date-time is out of range: an instant must fall in the years 1 to 9999 in UTC", "run_at"
        ) from None
    except ValueError as err:
        reason = f" ({err})" if "isoformat" not in str(err) else ""
        raise CronError(f"Invalid date-time{reason}; use ISO 8601 such as 2025-11-29T14:00:00Z", "run_at") from None
