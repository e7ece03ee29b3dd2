"""The schedule policies as data: defaults, the rules between them, jitter and backoff; no database here.

Where each policy acts:
- overlap_policy: decided in the firing transaction (overlap.py), the buffered run fired by attempts.py;
- misfire_policy, catchup_window_seconds, start_at, end_at, max_runs, jitter_seconds: the planner
  (catchup.py), which upcoming (backfill.py) shares;
- retry_policy, timeout_seconds: copied onto tasks when they fire, applied by attempts.py;
- pause_after_failures: attempts.py, when an execution fails for good.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..clock import iso_z
from ..errors import invalid
from . import cron
from .calendars import Timing

RETRY_DEFAULTS = {
    "max_attempts": 1,
    "initial_interval_seconds": 10,
    "backoff_coefficient": 2.0,
    "max_interval_seconds": 3600,
}
DEFAULTS = {
    "overlap_policy": "ALLOW",
    "misfire_policy": "FIRE_LATEST",
    "catchup_window_seconds": None,
    "start_at": None,
    "end_at": None,
    "max_runs": None,
    "jitter_seconds": 0,
    "retry_policy": None,
    "timeout_seconds": 300,
    "pause_after_failures": None,
}
# Fields a one-time (run_at) schedule refuses: they only make sense for a rhythm.
CRON_ONLY = ("start_at", "end_at", "max_runs", "jitter_seconds")
JITTER_SAMPLE = 50  # jitter must stay below the shortest gap between this many next occurrences
_MICRO = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Policy:
    """What the planner needs to know about one schedule, as plain data."""

    schedule_id: str
    cron_expression: str | None
    timezone: str = "UTC"
    misfire_policy: str = "FIRE_LATEST"
    catchup_window_seconds: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    remaining_runs: int | None = None
    jitter_seconds: int = 0
    dst_gap: str = "SHIFT"
    dst_repeat: str = "FIRST"
    holiday_rule: str | None = None
    holidays: frozenset[date] = frozenset()

    @functools.cached_property
    def timing(self) -> Timing:
        """Return the schedule's rhythm: its cron expression under its DST policy and holiday rule."""
        holidays = self.holidays if self.holiday_rule else frozenset()
        return Timing(self.cron_expression, self.timezone, self.dst_gap, self.dst_repeat, self.holiday_rule, holidays)


def policy_of(row, holidays: frozenset[date] = frozenset()) -> Policy:
    """Return the Policy of a schedule row or object (anything with the schedule's columns).

    `holidays` are the dates of its calendar; rows from before the DST and holiday columns have none.
    """
    return Policy(
        schedule_id=row.schedule_id,
        cron_expression=row.cron_expression,
        timezone=row.timezone,
        misfire_policy=row.misfire_policy or "FIRE_LATEST",
        catchup_window_seconds=row.catchup_window_seconds,
        start_at=row.start_at,
        end_at=row.end_at,
        remaining_runs=row.remaining_runs,
        jitter_seconds=row.jitter_seconds or 0,
        dst_gap=getattr(row, "dst_gap", None) or "SHIFT",
        dst_repeat=getattr(row, "dst_repeat", None) or "FIRST",
        holiday_rule=getattr(row, "holiday_rule", None),
        holidays=holidays,
    )


def retry_policy(value: dict | None) -> dict:
    """Return a full retry policy: the given keys over the defaults."""
    merged = dict(RETRY_DEFAULTS)
    merged.update(value or {})
    merged["backoff_coefficient"] = float(merged["backoff_coefficient"])
    return merged


def backoff(policy: dict | None, attempts: int) -> timedelta:
    """Return the wait before the next attempt after `attempts` failed ones.

    min(initial x coefficient^(attempts - 1), max interval), in whole seconds.
    """
    p = retry_policy(policy)
    exponent = max(attempts - 1, 0)
    seconds = p["max_interval_seconds"]
    # Compare in logarithm-free steps so a large exponent never overflows a float.
    wait = float(p["initial_interval_seconds"])
    for _ in range(exponent):
        wait *= p["backoff_coefficient"]
        if wait >= seconds:
            break
    return timedelta(seconds=round(min(wait, seconds)))


@functools.lru_cache(maxsize=8192)  # a firing asks for the same occurrence's offset several times
def jitter_offset(schedule_id: str, occurrence: datetime, jitter_seconds: int) -> timedelta:
    """Return the stable offset in [0, jitter_seconds) of one occurrence, from (schedule_id, occurrence) alone."""
    if not jitter_seconds:
        return timedelta(0)
    digest = hashlib.sha256(f"{schedule_id}|{iso_z(occurrence)}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % jitter_seconds)


def fire_at(policy: Policy, occurrence: datetime) -> datetime:
    """Return the instant an occurrence fires: the occurrence plus its jitter."""
    return occurrence + jitter_offset(policy.schedule_id, occurrence, policy.jitter_seconds)


def next_occurrence(policy: Policy, after: datetime, timing: Timing | None = None) -> datetime | None:
    """Return the first occurrence strictly after `after` within the bounds, or None past end_at.

    The schedule's Timing (or the `timing` given: a create or an edit not saved yet) decides the
    occurrences, under its DST policy and holiday rule.
    """
    if policy.start_at is not None and policy.start_at > after:
        after = policy.start_at - _MICRO  # start_at itself may be an occurrence
    occurrence = (timing or policy.timing).next_run(after).at
    if policy.end_at is not None and occurrence > policy.end_at:
        return None
    return occurrence


def occurrence_of(policy: Policy, next_run_at: datetime, cache: dict | None = None) -> datetime:
    """Return the nominal occurrence a stored next_run_at fires.

    Without jitter they are the same instant. With it, the occurrence is the one at or before
    next_run_at, less than jitter_seconds before it (jitter is smaller than any gap), whose offset
    leads to next_run_at; a next_run_at set off the rhythm by hand fires as its own occurrence.
    Cron occurrences fall on whole minutes, so those are tried first (their check is shared through
    `cache` by every schedule of the expression); a zone whose offset is not whole minutes is searched.
    """
    if not policy.jitter_seconds or not policy.cron_expression:
        return next_run_at
    low = next_run_at - timedelta(seconds=policy.jitter_seconds)
    minute = next_run_at.replace(second=0, microsecond=0)
    while minute > low:
        if fire_at(policy, minute) == next_run_at and next_instant(policy.timing, minute - _MICRO, cache) == minute:
            return minute
        minute -= _MINUTE
    for at in policy.timing.instants(low, next_run_at):
        if fire_at(policy, at) == next_run_at:
            return at
    return next_run_at


def next_instant(timing: Timing, after: datetime, cache: dict | None = None) -> datetime:
    """Return the instant of the timing's next run after `after` (a holiday skip included), memoized in `cache`.

    The planner and occurrence_of share one cache per dispatcher batch: schedules of one expression
    ask for the same instants.
    """
    key = (timing, after)
    found = None if cache is None else cache.get(key)
    if found is None:
        if timing.rule is None:  # the engine alone: the common case, and the fastest
            found = cron.next_after(timing.expression, timing.tz, after, timing.gap, timing.repeat)
        else:
            found = timing.next_run(after).at
        if cache is not None:
            cache[key] = found
    return found


def shortest_gap(expression: str, tz: str, after: datetime) -> timedelta | None:
    """Return the shortest gap between the next JITTER_SAMPLE occurrences, or None with fewer than two."""
    runs = [o.at for o in cron.occurrences(expression, tz, after, JITTER_SAMPLE)]
    gaps = [b - a for a, b in zip(runs, runs[1:], strict=False)]
    return min(gaps) if gaps else None


def check(values: dict, now: datetime, changed: set[str]) -> None:
    """Refuse a forbidden combination of a schedule's merged fields with a 400 naming the field.

    `values` holds the schedule as it would be saved (cron_expression, run_at, timezone and every
    policy field); `changed` names the fields the request sent, so an old end_at that has since
    passed does not block an unrelated edit.
    """
    if values.get("run_at") is not None:
        for name in CRON_ONLY:
            if values.get(name) not in (None, 0):
                hint = "send 0 to clear it" if name == "jitter_seconds" else "send null to clear it"
                raise invalid(f"{name} applies to cron schedules only; a run_at schedule fires once ({hint})", name)
    start_at, end_at = values.get("start_at"), values.get("end_at")
    if end_at is not None:
        if "end_at" in changed and end_at <= now:
            raise invalid("end_at is in the past", "end_at")
        if start_at is not None and end_at <= start_at:
            raise invalid("end_at must be after start_at", "end_at")
    expression = values.get("cron_expression")
    jitter = values.get("jitter_seconds") or 0
    if expression and jitter and changed & {"jitter_seconds", "cron_expression", "timezone"}:
        gap = shortest_gap(expression, values["timezone"], max(now, start_at or now))
        if gap is not None and timedelta(seconds=jitter) >= gap:
            raise invalid(
                f"jitter_seconds must be smaller than the shortest gap between runs ({int(gap.total_seconds())} s)",
                "jitter_seconds",
            )


def parse_bound(value: str | None, tz: str, name: str) -> datetime | None:
    """Parse start_at or end_at (ISO 8601; naive read in `tz`); None stays None."""
    if value is None:
        return None
    try:
        return cron.parse_instant(value, tz)
    except cron.CronError as err:
        raise invalid(err.message.replace("run_at", name), name) from None


def merged(data: dict, tz: str, current=None) -> dict:
    """Return every policy field as the schedule would store it: the request's values over the current ones.

    Without a current schedule (a create), unsent fields take their defaults. Instants are parsed
    in `tz`; a retry_policy is stored whole, its omitted keys filled with the defaults.
    """
    values = {}
    for name, default in DEFAULTS.items():
        if name not in data:
            values[name] = default if current is None else getattr(current, name)
            continue
        value = data[name]
        if name in ("start_at", "end_at"):
            value = parse_bound(value, tz, name)
        elif name == "retry_policy" and value is not None:
            value = retry_policy(value)
        values[name] = value
    if current is None:
        values["remaining_runs"] = values["max_runs"]
    return values


def public(schedule) -> dict:
    """Return the policy fields of a schedule for its API answer, defaults filled in."""
    return {
        "overlap_policy": schedule.overlap_policy or "ALLOW",
        "misfire_policy": schedule.misfire_policy or "FIRE_LATEST",
        "catchup_window_seconds": schedule.catchup_window_seconds,
        "start_at": iso_z(schedule.start_at),
        "end_at": iso_z(schedule.end_at),
        "max_runs": schedule.max_runs,
        "remaining_runs": schedule.remaining_runs,
        "jitter_seconds": schedule.jitter_seconds or 0,
        "retry_policy": retry_policy(schedule.retry_policy),
        "timeout_seconds": schedule.timeout_seconds or 300,
        "pause_after_failures": schedule.pause_after_failures,
        "consecutive_failures": schedule.consecutive_failures or 0,
        "paused_reason": schedule.paused_reason,
    }
