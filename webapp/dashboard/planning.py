"""What the schedules plan to do in a window: occurrences with jitter and DST notes, and per-minute load.

Read-only and bounded: a window holds at most MAX_PER_SCHEDULE planned firings per schedule (a busier
schedule is summarized by its count), and the forecast computes each distinct (expression, zone) once
for all the schedules that share it without jitter or bounds.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import ScheduledTask, ScheduleStatus
from ..scheduling import cron, policies

MAX_PER_SCHEDULE = 1500
_MICRO = timedelta(microseconds=1)
NOTES = {
    "shifted": "moved past a daylight-saving gap",
    "merged": "repeated wall time, fires once",
    "first": "first of a repeated wall time",
    "second": "second of a repeated wall time",
}


@dataclass(frozen=True)
class Planned:
    """One planned firing: the nominal occurrence, the instant it fires (jitter applied) and a note."""

    occurrence: datetime
    fire_at: datetime
    note: str | None


@dataclass
class Plan:
    """A schedule's planned firings in a window; `more` counts those past MAX_PER_SCHEDULE."""

    runs: list[Planned] = field(default_factory=list)
    more: int = 0


def _dst(schedule: ScheduledTask) -> tuple[str, str]:
    """Return the schedule's daylight-saving policies (defaults where it has none)."""
    return (
        getattr(schedule, "dst_gap", None) or cron.DstGap.SHIFT,
        getattr(schedule, "dst_repeat", None) or cron.DstRepeat.FIRST,
    )


def planned(schedule: ScheduledTask, start: datetime, end: datetime, limit: int = MAX_PER_SCHEDULE) -> Plan:
    """Return the firings an ACTIVE schedule plans in [start, end), as the dispatcher will make them."""
    plan = Plan()
    if schedule.status != ScheduleStatus.ACTIVE:
        return plan
    if schedule.cron_expression is None:
        if schedule.run_at is not None and start <= schedule.run_at < end:
            plan.runs.append(Planned(schedule.run_at, schedule.run_at, None))
        return plan
    policy = policies.policy_of(schedule)
    jitter = timedelta(seconds=policy.jitter_seconds or 0)
    gap, repeat = _dst(schedule)
    after = max(start - jitter, policy.start_at - _MICRO if policy.start_at else start - jitter) - _MICRO
    try:
        for o in cron.iter_occurrences(schedule.cron_expression, schedule.timezone, after, gap, repeat):
            if o.at >= end or (policy.end_at is not None and o.at > policy.end_at):
                break
            fire = policies.fire_at(policy, o.at)
            if not start <= fire < end:
                continue
            if len(plan.runs) >= limit:
                plan.more += 1
                continue
            note = NOTES.get(o.note or "", o.note)
            if jitter:
                offset = int((fire - o.at).total_seconds())
                note = f"{note}; " if note else ""
                note += f"+{offset} s jitter"
            plan.runs.append(Planned(o.at, fire, note))
    except cron.CronError:
        return plan
    return plan


def active_schedules(client_id: str | None = None, limit: int = 2000) -> list[ScheduledTask]:
    """Return ACTIVE and PAUSED schedules (one client's, or all), oldest first, at most `limit`."""
    query = sa.select(ScheduledTask).where(ScheduledTask.status.in_([ScheduleStatus.ACTIVE, ScheduleStatus.PAUSED]))
    if client_id:
        query = query.where(ScheduledTask.client_id == client_id)
    return list(db.session.scalars(query.order_by(ScheduledTask.created_at, ScheduledTask.schedule_id).limit(limit)))


@dataclass
class Busy:
    """One busy minute: when, how many firings, and (some of) the schedules that make them."""

    minute: datetime
    firings: int
    schedules: list[tuple[ScheduledTask, int]]
    more: int


@dataclass
class Forecast:
    """Planned firings per minute over a window, and which schedules fill each minute."""

    start: datetime
    minutes: int
    counts: list[int]
    who: dict[int, Counter] = field(default_factory=dict)  # minute -> group -> firings of each member
    groups: dict[tuple, list[ScheduledTask]] = field(default_factory=dict)
    total: int = 0

    def busiest(self, n: int = 10, shown: int = 8) -> list[Busy]:
        """Return the n busiest minutes, each with up to `shown` of its schedules, busiest first."""
        order = sorted((i for i, c in enumerate(self.counts) if c), key=lambda i: (-self.counts[i], i))[:n]
        out = []
        for i in order:
            members = [(s, k) for key, k in self.who[i].most_common() for s in self.groups[key]]
            out.append(Busy(self.start + timedelta(minutes=i), self.counts[i], members[:shown], len(members) - shown))
        return out

    @property
    def peak(self) -> int:
        """Return the most firings planned in any one minute."""
        return max(self.counts, default=0)


def forecast(start: datetime, hours: int = 24) -> Forecast:
    """Count the planned firings of every ACTIVE schedule per minute over the next `hours` from `start`."""
    start = start.replace(second=0, microsecond=0)
    minutes = hours * 60
    end = start + timedelta(minutes=minutes)
    result = Forecast(start=start, minutes=minutes, counts=[0] * minutes)
    rows = db.session.scalars(sa.select(ScheduledTask).where(ScheduledTask.status == ScheduleStatus.ACTIVE)).all()
    shared: dict[tuple, list[ScheduledTask]] = defaultdict(list)
    for s in rows:
        plain = s.cron_expression and not s.jitter_seconds and s.start_at is None and s.end_at is None
        if plain and s.remaining_runs is None:
            shared[(s.cron_expression, s.timezone, *_dst(s))].append(s)
        else:
            runs = planned(s, start, end, limit=minutes * 60).runs
            _add(result, (s.schedule_id,), [s], runs[: s.remaining_runs] if s.remaining_runs is not None else runs)
    for key, group in shared.items():
        _add(result, key, group, planned(group[0], start, end, limit=minutes * 60).runs)
    return result


def _add(result: Forecast, key: tuple, members: list[ScheduledTask], runs: list[Planned]) -> None:
    """Add the planned firings that a group of schedules shares to the per-minute counts."""
    for run in runs:
        i = int((run.fire_at - result.start).total_seconds() // 60)
        if 0 <= i < result.minutes:
            result.counts[i] += len(members)
            result.who.setdefault(i, Counter())[key] += 1
            result.groups[key] = members
            result.total += len(members)


def jitter_suggestion(schedule: ScheduledTask, now: datetime) -> int | None:
    """Return a jitter_seconds that spreads a cron schedule's firings (up to 5 min, below its shortest gap)."""
    if not schedule.cron_expression or schedule.status != ScheduleStatus.ACTIVE:
        return None
    try:
        gap = policies.shortest_gap(schedule.cron_expression, schedule.timezone, now)
    except cron.CronError:
        return None
    if gap is None:
        return None
    seconds = min(300, int(gap.total_seconds()) - 1)
    return seconds if seconds > (schedule.jitter_seconds or 0) else None
