"""What a due schedule fires, what it skips, and where it goes next; no database here.

An occurrence is *missed* when a newer occurrence of the same schedule is also due at
`now`. The newest due occurrence fires; the missed ones just before it are recorded as
SKIPPED, up to SKIP_RECORD_CAP rows per schedule, so the history has no gap before the
firing; the oldest recorded row says how many earlier ones went unrecorded, and from when.
The work is bounded however long the service was down: the newest due occurrence and the
ones before it are found by searching backwards from `now` in growing windows, and the
unrecorded ones are counted up to COUNT_LIMIT and estimated from their density beyond that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ..clock import iso_z
from ..models import ScheduleStatus
from . import cron

SKIP_RECORD_CAP = 100
COUNT_LIMIT = 2000
_MICRO = timedelta(microseconds=1)
_WINDOWS = (
    timedelta(minutes=2),
    timedelta(hours=1),
    timedelta(days=1),
    timedelta(days=32),
    timedelta(days=366),
    timedelta(days=366 * 5),
)


class DueRow(Protocol):
    """The columns of a due schedule the planner reads (a claimed row, or any object with them)."""

    cron_expression: str | None
    timezone: str
    next_run_at: datetime


@dataclass
class Plan:
    """The decision for one due schedule."""

    fire: datetime | None = None
    skipped: list[tuple[datetime, str | None]] = field(default_factory=list)
    unrecorded: int = 0
    next_run: datetime | None = None
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    error: str | None = None


def _next(expression: str, tz: str, after: datetime, cache: dict) -> datetime:
    """Return cron.next_after, memoized per batch (many schedules share an expression)."""
    key = (expression, tz, after)
    found = cache.get(key)
    if found is None:
        found = cache[key] = cron.next_after(expression, tz, after)
    return found


def plan(row: DueRow, now: datetime, cache: dict) -> Plan:
    """Decide what a due schedule row does at `now`; never raise (errors become a FAILED plan)."""
    try:
        return _plan(row, now, cache)
    except Exception as err:  # noqa: BLE001 - one schedule's bad data must never stop the others
        reason = err.message if isinstance(err, cron.CronError) else f"{type(err).__name__}: {err}"
        return Plan(status=ScheduleStatus.FAILED, error=f"Next run cannot be computed: {reason}")


def _plan(row: DueRow, now: datetime, cache: dict) -> Plan:
    """Decide what a due schedule row does at `now`."""
    first = row.next_run_at
    if not row.cron_expression:
        return Plan(fire=first, status=ScheduleStatus.COMPLETED)
    expression, tz = row.cron_expression, row.timezone
    following = _next(expression, tz, first, cache)
    if following > now:  # the common case: nothing missed
        return Plan(fire=first, next_run=following)
    newest = _newest_due(expression, tz, following, now)
    missed = _recent_before(expression, tz, first, newest)
    unrecorded, exact = 0, True
    if missed[0] != first:
        # `first` itself plus every occurrence between it and the oldest recorded one.
        between, exact = _count_between(expression, tz, first, missed[0])
        unrecorded = between + 1
    notes = [_note(newest)] * len(missed)
    if unrecorded:
        count = f"{unrecorded:,}" if exact else f"about {unrecorded:,}"
        notes[0] += f"; {count} earlier missed occurrences, from {iso_z(first)} on, were skipped without a record"
    return Plan(
        fire=newest,
        skipped=list(zip(missed, notes, strict=True)),
        unrecorded=unrecorded,
        next_run=_next(expression, tz, newest, cache),
    )


def _note(newest: datetime) -> str:
    """Say why an occurrence was skipped."""
    return f"Missed; the newest due occurrence {iso_z(newest)} fired instead"


def _recent_before(expression: str, tz: str, first: datetime, newest: datetime) -> list[datetime]:
    """Return the newest SKIP_RECORD_CAP occurrences in [first, newest), oldest first.

    `first` (the schedule's next_run_at) counts as an occurrence; the search widens backwards
    from `newest` until it holds enough occurrences or reaches `first`.
    """
    for window in (*_WINDOWS, None):
        start = first if window is None else max(first, newest - window)
        found: deque[datetime] = deque([first] if start == first else [], maxlen=SKIP_RECORD_CAP)
        after = start if start == first else start - _MICRO
        found.extend(at for at in cron.iter_between(expression, tz, after, newest) if at < newest)
        if len(found) == SKIP_RECORD_CAP or start == first:
            return list(found)
    return [first]


def _newest_due(expression: str, tz: str, after: datetime, now: datetime) -> datetime:
    """Return the newest occurrence in (after, now], searching back from `now` in growing windows."""
    for window in (*_WINDOWS, None):
        start = after if window is None else max(after, now - window)
        last = deque(cron.iter_between(expression, tz, start, now), maxlen=1)
        if last:
            return last[0]
        if start == after:
            break
    return after


def _count_between(expression: str, tz: str, after: datetime, before: datetime) -> tuple[int, bool]:
    """Count occurrences strictly between two occurrences: exact up to COUNT_LIMIT, estimated beyond."""
    seen = 0
    last = after
    for at in cron.iter_between(expression, tz, after, before):
        if at >= before:
            return seen, True
        seen += 1
        last = at
        if seen >= COUNT_LIMIT:
            break
    else:
        return seen, True
    # Extrapolate from the density of the ones counted; the note says "about".
    sampled = (last - after).total_seconds()
    total = (before - after).total_seconds()
    return max(seen, round(seen * total / sampled) - 1), False
