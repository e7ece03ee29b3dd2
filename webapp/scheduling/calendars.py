"""Business days and holiday rules: where each run of a schedule goes, and the dates a calendar holds.

No database here. A schedule with a `holiday_rule` treats Saturdays, Sundays and its calendar's
dates as non-business days, local to its time zone. An occurrence on a non-business day is:
  SKIP                   recorded as skipped (reason HOLIDAY), at its own instant;
  NEXT_BUSINESS_DAY      moved to the same wall time on the nearest business day after it;
  PREVIOUS_BUSINESS_DAY  moved to the same wall time on the nearest business day before it.
A moved wall time is placed under the schedule's DST policy (so it keeps its wall time across a
change), and runs that land on one instant fire once. `Timing` is the whole rhythm of a schedule
(cron, DST policy, holidays): the planner, `upcoming` and the previews all read runs from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from itertools import takewhile

import icalendar
from dateutil import rrule

from . import cron

MAX_DATES = 1000
RRULE_YEARS = 10  # a recurring all-day event gives its dates this many years from its start
_DAY = timedelta(days=1)
_MICRO = timedelta(microseconds=1)
_LOOKBACK_DAYS = MAX_DATES + 7  # no run of non-business days is longer than every holiday plus a weekend


class HolidayRule(StrEnum):
    """What an occurrence on a non-business day does."""

    SKIP = "SKIP"
    NEXT_BUSINESS_DAY = "NEXT_BUSINESS_DAY"
    PREVIOUS_BUSINESS_DAY = "PREVIOUS_BUSINESS_DAY"


class Holiday(StrEnum):
    """What a holiday rule did to a run."""

    SKIPPED = "holiday"  # recorded SKIPPED with reason HOLIDAY; no task
    MOVED = "moved"  # fires on another business day


class CalendarError(ValueError):
    """Invalid calendar dates or iCalendar text."""

    def __init__(self, message: str, field: str = "dates") -> None:
        """Keep the message and the name of the input it is about."""
        super().__init__(message)
        self.message = message
        self.field = field


def _bounded(found: set[date], field: str) -> list[date]:
    """Return the dates sorted, refusing more than MAX_DATES."""
    if len(found) > MAX_DATES:
        raise CalendarError(f"A calendar holds at most {MAX_DATES} dates; this one has {len(found)}", field)
    return sorted(found)


def parse_dates(values: object) -> list[date]:
    """Read a list of ISO dates ("2026-12-25"); return them sorted and without repeats."""
    if not isinstance(values, list):
        raise CalendarError("dates must be a list of dates such as 2026-12-25")
    found: set[date] = set()
    for i, value in enumerate(values):
        if not isinstance(value, str) or len(value.strip()) != 10:
            raise CalendarError(f"dates[{i}] must be a date written YYYY-MM-DD, such as 2026-12-25; got {value!r}")
        try:
            found.add(date.fromisoformat(value.strip()))
        except ValueError:
            raise CalendarError(f"dates[{i}] is not a date: {value!r}; use YYYY-MM-DD, such as 2026-12-25") from None
    return _bounded(found, "dates")


def dates_from_ics(text: object) -> list[date]:
    """Return the dates of the all-day events in iCalendar text (a multi-day event gives each of its days)."""
    if not isinstance(text, str) or "BEGIN:VCALENDAR" not in text.upper():
        raise CalendarError("ics must be iCalendar text, starting BEGIN:VCALENDAR", "ics")
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (ValueError, KeyError, IndexError, TypeError) as err:
        raise CalendarError(f"ics is not valid iCalendar text: {err}", "ics") from None
    found: set[date] = set()
    events = [event for calendar in calendars for event in calendar.walk("VEVENT")]
    for event in events:
        start = event.get("DTSTART")
        if start is None or isinstance(start.dt, datetime) or not isinstance(start.dt, date):
            continue  # an event at a time of day is a meeting, not a holiday
        for first in _starts(event, start.dt):
            found.update(first + i * _DAY for i in range(_length(event, start.dt)))
            if len(found) > MAX_DATES:
                return _bounded(found, "ics")
    if not found:
        raise CalendarError("ics holds no all-day events (VEVENT with DTSTART;VALUE=DATE)", "ics")
    return _bounded(found, "ics")


def _length(event, first: date) -> int:
    """Return how many days an all-day event covers (DTEND is exclusive; no end means one day)."""
    end, duration = event.get("DTEND"), event.get("DURATION")
    if end is not None and isinstance(end.dt, date) and not isinstance(end.dt, datetime):
        return max(1, (end.dt - first).days)
    if duration is not None and isinstance(duration.dt, timedelta):
        return max(1, duration.dt.days)
    return 1


def _starts(event, first: date) -> list[date]:
    """Return the first days of an event: its own, or those of its RRULE over RRULE_YEARS, less EXDATEs."""
    rule = event.get("RRULE")
    if rule is None:
        return [first]
    start = datetime(first.year, first.month, first.day)
    try:
        recurrence = rrule.rrulestr(rule.to_ical().decode(), dtstart=start)
        limit = start.replace(year=start.year + RRULE_YEARS, day=1)
        starts = [at.date() for at in takewhile(lambda at: at < limit, recurrence)]
    except (ValueError, TypeError) as err:
        raise CalendarError(f"ics has an RRULE that cannot be read: {err}", "ics") from None
    return [d for d in starts[: MAX_DATES + 1] if d not in _excluded(event)]


def _excluded(event) -> set[date]:
    """Return the dates an event's EXDATE properties take out of its recurrence."""
    values = event.get("EXDATE") or []
    found = set()
    for value in values if isinstance(values, list) else [values]:
        for item in getattr(value, "dts", []):
            found.add(item.dt.date() if isinstance(item.dt, datetime) else item.dt)
    return found


def is_business_day(day: date, holidays: Iterable[date]) -> bool:
    """Tell whether a local date is Monday to Friday and not a holiday."""
    return day.weekday() < 5 and day not in holidays


def roll(day: date, holidays: frozenset[date], rule: str) -> date:
    """Return the nearest business day on or after (NEXT) or on or before (PREVIOUS) a date."""
    step = -_DAY if rule == HolidayRule.PREVIOUS_BUSINESS_DAY else _DAY
    while not is_business_day(day, holidays):  # ends: holidays are finite
        day += step
    return day


@dataclass(frozen=True)
class Run:
    """One run of a schedule as the dispatcher takes it: fired where `at` says, or recorded as skipped."""

    at: datetime  # the instant it fires (a moved run's moved instant), or is recorded skipped
    local: datetime
    note: str | None  # the DST note (cron.Note), if daylight saving touched it
    nominal: datetime  # the cron occurrence it comes from
    holiday: str | None = None  # Holiday.SKIPPED or Holiday.MOVED, if a holiday rule touched it

    @property
    def fires(self) -> bool:
        """Tell whether this run creates a task (a skipped one is only recorded, or not even that)."""
        return self.note != cron.Note.SKIPPED and self.holiday != Holiday.SKIPPED


@dataclass(frozen=True)
class Timing:
    """The whole rhythm of a cron schedule: expression, zone, DST policy and holiday rule."""

    expression: str
    tz: str
    gap: str = cron.DstGap.SHIFT
    repeat: str = cron.DstRepeat.FIRST
    rule: str | None = None
    holidays: frozenset[date] = frozenset()

    @classmethod
    def of(cls, schedule, dates: frozenset[date]) -> Timing:
        """Return the Timing of a cron schedule (a row or a model) whose calendar holds `dates`."""
        rule = getattr(schedule, "holiday_rule", None)  # rows from before the policy columns have none
        return cls(
            schedule.cron_expression,
            schedule.timezone,
            getattr(schedule, "dst_gap", None) or cron.DstGap.SHIFT,
            getattr(schedule, "dst_repeat", None) or cron.DstRepeat.FIRST,
            rule,
            dates if rule else frozenset(),
        )

    def instants(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Yield the instants in (after, until] at which a run fires (holiday skips left out)."""
        if self.rule is None:  # the engine alone, without building runs: the dispatcher's common case
            return cron.iter_between(self.expression, self.tz, after, until, self.gap, self.repeat)
        return (run.at for run in self.between(after, until) if run.fires)

    def run_at(self, instant: datetime) -> Run | None:
        """Return the run planned for exactly `instant`, if there is one."""
        found = next(self.runs(instant - _MICRO), None)
        return found if found is not None and found.at == instant else None

    def runs(self, after: datetime, skipped: bool = False) -> Iterator[Run]:
        """Yield the runs strictly after `after`, in time order (with `skipped`, DST-skipped times too)."""
        last = None
        for run in self._runs(self._scan_start(after), skipped):
            if run.at <= after:
                continue
            if run.fires:
                if last is not None and run.at <= last:
                    continue  # a moved run merged with one already there
                last = run.at
            yield run

    def next_run(self, after: datetime) -> Run:
        """Return the first run strictly after `after` (a holiday skip counts: it is recorded)."""
        found = next(self.runs(after), None)
        if found is None:
            raise cron.CronError(f"Cron expression {self.expression!r} has no run left")
        return found

    def between(self, after: datetime, until: datetime) -> Iterator[Run]:
        """Yield the runs in (after, until]."""
        return takewhile(lambda run: run.at <= until, self.runs(after))

    def moved_before(self, after: datetime) -> list[Run]:
        """Return the runs from occurrences after `after` that PREVIOUS_BUSINESS_DAY moved to `after` or earlier."""
        if self.rule != HolidayRule.PREVIOUS_BUSINESS_DAY:
            return []
        found = []
        for run in self._runs(after, False):
            if run.at > after:
                break  # targets only move forward from here
            if run.holiday == Holiday.MOVED and run.nominal > after:
                found.append(run)
        return found

    def _scan_start(self, after: datetime) -> datetime:
        """Return where to start reading occurrences so that runs moved forward into (after, ...) are seen."""
        if self.rule != HolidayRule.NEXT_BUSINESS_DAY:
            return after
        zone = cron.get_zone(self.tz)
        day = after.astimezone(zone).date()
        back = 0
        while back < _LOOKBACK_DAYS and not is_business_day(day - (back + 1) * _DAY, self.holidays):
            back += 1
        return after - (back + 2) * _DAY  # two more days: local dates and UTC differ by up to a day

    def _runs(self, start: datetime, skipped: bool) -> Iterator[Run]:
        """Yield runs from the occurrences after `start`, grouped by the business day they land on."""
        occurrences = cron.iter_occurrences(self.expression, self.tz, start, self.gap, self.repeat, skipped)
        if self.rule is None:
            yield from (Run(o.at, o.local, o.note, o.at) for o in occurrences)
            return
        key, group = None, []
        for occurrence in occurrences:
            target, run = self._apply(occurrence)
            if target != key and group:
                yield from _merged(group)
                group = []
            key = target
            group.append(run)
        yield from _merged(group)

    def _apply(self, o: cron.Occurrence) -> tuple[date, Run]:
        """Return the business day an occurrence lands on and the run it becomes."""
        day = o.local.date()
        if is_business_day(day, self.holidays) or not o.fires:
            return day, Run(o.at, o.local, o.note, o.at)
        if self.rule == HolidayRule.SKIP:
            return day, Run(o.at, o.local, o.note, o.at, Holiday.SKIPPED)
        target = roll(day, self.holidays, self.rule)
        wall = datetime.combine(target, o.wall_time.time())
        placed = cron.place(wall, self.tz, self.gap, self.repeat)
        # The second reading of a repeated hour stays the second; anything else takes the first.
        chosen = placed[-1] if o.note == cron.Note.SECOND else placed[0]
        if not chosen.fires:  # moved into a gap that the DST policy skips
            return target, Run(o.at, o.local, o.note, o.at, Holiday.SKIPPED)
        return target, Run(chosen.at, chosen.local, chosen.note, o.at, Holiday.MOVED)


def _merged(group: list[Run]) -> Iterator[Run]:
    """Yield one business day's runs in time order; runs on one instant fire once.

    Of runs that merge, a moved one is kept, so the run says where it came from (Christmas, moved
    to Monday, merged with Monday's own run).
    """
    last = None
    for run in sorted(group, key=lambda r: (r.at, r.holiday != Holiday.MOVED)):
        if run.fires:
            if run.at == last:
                continue
            last = run.at
        yield run
