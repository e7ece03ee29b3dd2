"""What a due schedule fires, what it skips, and where it goes next; no database here.

A pure function of the schedule's policy (policies.Policy), its first due occurrence and `now`.
An occurrence is *missed* when a newer occurrence of the same schedule is also due at
`now`. misfire_policy says which due occurrences fire; the others are recorded as SKIPPED
with their reason, up to SKIP_RECORD_CAP rows per schedule, so the history has no gap before
the firing; the oldest recorded row says how many earlier ones went unrecorded, and from when.
The work is bounded however long the service was down: the newest due occurrence and the
ones before it are found by searching backwards from `now` in growing windows, and the
unrecorded ones are counted up to COUNT_LIMIT and estimated from their density beyond that.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..clock import iso_z
from ..models import ExecutionReason, MisfirePolicy, ScheduleStatus
from . import cron, policies
from .calendars import Timing
from .policies import Policy

HOLIDAY_NOTE = "Holiday: not a business day, and the holiday rule is SKIP"
SKIP_RECORD_CAP = 100
FIRE_ALL_CAP = 100  # FIRE_ALL fires at most this many missed occurrences per tick
_MISSED, _OUTSIDE = ExecutionReason.MISSED, ExecutionReason.OUTSIDE_CATCHUP_WINDOW
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


@dataclass
class Plan:
    """The decision for one due schedule: what fires, what is skipped and why, where it goes next."""

    fires: list[datetime] = field(default_factory=list)  # nominal occurrences, oldest first
    skipped: list[tuple[datetime, str, str]] = field(default_factory=list)  # (occurrence, reason, note)
    unrecorded: int = 0
    next_run: datetime | None = None  # the instant the next occurrence fires (jitter applied)
    status: ScheduleStatus = ScheduleStatus.ACTIVE
    error: str | None = None  # why the schedule FAILED or COMPLETED, for last_error
    newest: datetime | None = None  # the newest due occurrence, fired or not

    @property
    def fire(self) -> datetime | None:
        """Return the newest occurrence that fires, or None."""
        return self.fires[-1] if self.fires else None


def _next(timing: Timing, after: datetime, cache: dict) -> datetime:
    """Return the instant of the next run (a holiday skip included), memoized per batch."""
    return policies.next_instant(timing, after, cache)


def plan(policy: Policy, first: datetime, now: datetime, cache: dict) -> Plan:
    """Decide what a due schedule does at `now`, from its policy and its first due occurrence `first`.

    Never raises: a schedule whose next run cannot be computed gets a FAILED plan.
    """
    try:
        return _plan(policy, first, now, cache)
    except Exception as err:  # noqa: BLE001 - one schedule's bad data must never stop the others
        reason = err.message if isinstance(err, cron.CronError) else f"{type(err).__name__}: {err}"
        return Plan(status=ScheduleStatus.FAILED, error=f"Next run cannot be computed: {reason}")


def _plan(policy: Policy, first: datetime, now: datetime, cache: dict) -> Plan:
    """Decide what a due schedule does at `now`.

    1. Find the due occurrences: `first` and every later one whose fire instant has come (at
       most `end_at`); the newest SKIP_RECORD_CAP are listed, the older ones only counted.
    2. An occurrence due longer ago than catchup_window_seconds is OUTSIDE_CATCHUP_WINDOW.
    3. Of the rest, misfire_policy decides: FIRE_LATEST fires the newest, FIRE_ALL the newest
       FIRE_ALL_CAP, SKIP none when several were due; the others are MISSED. At most
       remaining_runs fire.
    4. The next occurrence after the newest due one (never past end_at) sets next_run; with none
       left the schedule COMPLETES.
    """
    if not policy.cron_expression:
        if _outside(policy, first, now):
            return Plan(skipped=[(first, _OUTSIDE, _outside_note(policy, first, now))], status=ScheduleStatus.COMPLETED)
        return Plan(fires=[first], status=ScheduleStatus.COMPLETED, newest=first)
    holiday = _holiday(policy, first, cache)
    if holiday is not None:
        return holiday
    due, unrecorded, note = _due(policy, first, now, cache)
    newest = due[-1]
    in_window = [at for at in due if not _outside(policy, at, now)]
    skipped = [(at, _OUTSIDE, _outside_note(policy, at, now)) for at in due if at not in in_window]
    several = len(due) + unrecorded > 1
    if not several or policy.misfire_policy == MisfirePolicy.FIRE_LATEST:
        fires = in_window[-1:] if in_window and in_window[-1] == newest else []
    elif policy.misfire_policy == MisfirePolicy.FIRE_ALL:
        fires = in_window[-FIRE_ALL_CAP:]
    else:  # SKIP: several were due, none fires
        fires = []
    if policy.remaining_runs is not None:
        fires = fires[: max(policy.remaining_runs, 0)]
    missed = [at for at in in_window if at not in fires]
    if missed:
        why = _missed_note(policy, newest, fires)
        skipped += [(at, _MISSED, why) for at in missed]
    skipped.sort()
    if unrecorded and skipped:
        at, reason, text = skipped[0]
        skipped[0] = (at, reason, text + note)
    result = Plan(fires=fires, skipped=skipped, unrecorded=unrecorded, newest=newest)
    _advance(policy, result, newest, cache)
    return result


def _advance(policy: Policy, result: Plan, newest: datetime, cache: dict) -> None:
    """Set the plan's next run after `newest` (never past end_at, which COMPLETES the schedule)."""
    following = _next(policy.timing, newest, cache)
    if policy.end_at is not None and following > policy.end_at:
        result.status = ScheduleStatus.COMPLETED
        result.error = f"Completed: no occurrence is left before end_at {iso_z(policy.end_at)}"
    else:
        result.next_run = policies.fire_at(policy, following)


def _holiday(policy: Policy, first: datetime, cache: dict) -> Plan | None:
    """Return the plan of a due run that the holiday rule skips (recorded, no task), or None.

    One such run is taken per tick; a run of several (a long weekend while down) goes on the next.
    """
    timing = policy.timing
    if timing.rule is None:
        return None
    current = timing.run_at(first)
    if current is None or current.fires:
        return None
    result = Plan(skipped=[(first, ExecutionReason.HOLIDAY, HOLIDAY_NOTE)], newest=first)
    _advance(policy, result, first, cache)
    return result


def _due(policy: Policy, first: datetime, now: datetime, cache: dict) -> tuple[list[datetime], int, str]:
    """Return the listed due occurrences (oldest first, `first` among them unless too old), how many
    older ones went unlisted, and the note that says so."""
    timing = policy.timing
    until = min(now, policy.end_at) if policy.end_at else now
    following = _next(timing, first, cache)
    if following > until or policies.fire_at(policy, following) > now:  # the common case: nothing missed
        return [first], 0, ""
    newest = _newest_due(timing, following, until)
    if policies.fire_at(policy, newest) > now:  # its jitter has not come yet: the one before is the newest due
        newest = _recent_before(timing, first, newest)[-1]
    due = _recent_before(timing, first, newest) + [newest] if newest != first else [first]
    unrecorded, exact = 0, True
    if due[0] != first:
        # `first` itself plus every occurrence between it and the oldest listed one.
        between, exact = count_between(timing, first, due[0])
        unrecorded = between + 1
    if not unrecorded:
        return due, 0, ""
    count = f"{unrecorded:,}" if exact else f"about {unrecorded:,}"
    return (
        due,
        unrecorded,
        f"; {count} earlier missed occurrences, from {iso_z(first)} on, were skipped without a record",
    )


def _outside(policy: Policy, occurrence: datetime, now: datetime) -> bool:
    """Tell whether an occurrence was due longer ago than the catch-up window."""
    window = policy.catchup_window_seconds
    return window is not None and now - policies.fire_at(policy, occurrence) > timedelta(seconds=window)


def _outside_note(policy: Policy, occurrence: datetime, now: datetime) -> str:
    """Say why an occurrence outside the catch-up window did not fire."""
    late = int((now - policies.fire_at(policy, occurrence)).total_seconds())
    return f"Found due {late:,} s after its time, outside the catch-up window of {policy.catchup_window_seconds:,} s"


def _missed_note(policy: Policy, newest: datetime, fires: list[datetime]) -> str:
    """Say why a missed occurrence was skipped."""
    if policy.misfire_policy == MisfirePolicy.SKIP and not fires:
        return "Missed; misfire_policy SKIP fires none of several due occurrences"
    if policy.misfire_policy == MisfirePolicy.FIRE_ALL:
        return f"Missed; at most the newest {FIRE_ALL_CAP} due occurrences fire at once"
    if fires and fires[-1] == newest:
        return _note(newest)
    return f"Missed; the newest due occurrence {iso_z(newest)} did not fire either"


def _note(newest: datetime) -> str:
    """Say why an occurrence was skipped."""
    return f"Missed; the newest due occurrence {iso_z(newest)} fired instead"


def _recent_before(timing: Timing, first: datetime, newest: datetime) -> list[datetime]:
    """Return the newest SKIP_RECORD_CAP occurrences in [first, newest), oldest first.

    `first` (the schedule's next_run_at) counts as an occurrence; the search widens backwards
    from `newest` until it holds enough occurrences or reaches `first`.
    """
    for window in (*_WINDOWS, None):
        start = first if window is None else max(first, newest - window)
        found: deque[datetime] = deque([first] if start == first else [], maxlen=SKIP_RECORD_CAP)
        after = start if start == first else start - _MICRO
        found.extend(at for at in timing.instants(after, newest) if at < newest)
        if len(found) == SKIP_RECORD_CAP or start == first:
            return list(found)
    return [first]


def _newest_due(timing: Timing, after: datetime, now: datetime) -> datetime:
    """Return the newest occurrence in (after, now], searching back from `now` in growing windows."""
    for window in (*_WINDOWS, None):
        start = after if window is None else max(after, now - window)
        last = deque(timing.instants(start, now), maxlen=1)
        if last:
            return last[0]
        if start == after:
            break
    return after


def count_between(timing: Timing, after: datetime, before: datetime) -> tuple[int, bool]:
    """Count occurrences strictly between two occurrences: exact up to COUNT_LIMIT, estimated beyond."""
    seen = 0
    last = after
    for at in timing.instants(after, before):
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
