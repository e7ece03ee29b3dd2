"""A schedule's policies and its ledger in plain words, for the detail page and the history.

The rules themselves stay in scheduling/policies.py: the retry waits here are the ones
policies.backoff computes, never a second formula.
"""

from __future__ import annotations

from ..models import ExecutionReason, ExecutionStatus, ExecutionTrigger, OverlapPolicy, ScheduledTask
from ..scheduling import policies
from .timefmt import local_text

_UNITS = (("day", 86400), ("h", 3600), ("min", 60), ("s", 1))
_TIMES = {1: "once", 2: "twice"}
WAITS_SHOWN = 4  # a longer list of retry waits ends in "and so on"

OVERLAP = {
    OverlapPolicy.ALLOW: "Starts every run, even while the previous one is still going",
    OverlapPolicy.SKIP: "Skips a run while the previous one is still going",
    OverlapPolicy.BUFFER_ONE: "Holds one run while the previous one is still going and starts it as soon as that "
    "ends; further ones are skipped",
    OverlapPolicy.REPLACE: "Cancels the previous run if it is still going, and starts the new one",
}
MISFIRE = {
    "FIRE_LATEST": "After a pause in service, runs the latest missed occurrence once; older ones are recorded "
    "as missed",
    "FIRE_ALL": "After a pause in service, runs every missed occurrence, oldest first",
    "SKIP": "After a pause in service, runs none of the missed occurrences and waits for the next one",
}
TRIGGER = {
    ExecutionTrigger.SCHEDULE: "Schedule",
    ExecutionTrigger.RUN_NOW: "Run now",
    ExecutionTrigger.BACKFILL: "Backfill",
}
REASON = {
    ExecutionReason.MISSED: "Missed while the service was down or behind",
    ExecutionReason.OVERLAP: "The previous run was still going",
    ExecutionReason.OUTSIDE_CATCHUP_WINDOW: "Found too late: outside the catch-up window",
    ExecutionReason.REPLACED: "Replaced by a newer run",
    ExecutionReason.HOLIDAY: "A weekend day or a holiday",
}
REASON_SHORT = {
    ExecutionReason.MISSED: "missed",
    ExecutionReason.OVERLAP: "overlap",
    ExecutionReason.OUTSIDE_CATCHUP_WINDOW: "too late",
    ExecutionReason.REPLACED: "replaced",
    ExecutionReason.HOLIDAY: "holiday",
}


def span(seconds: float | None) -> str:
    """Write a duration exactly, in at most two units: "10 s", "1 min 30 s", "1 h", "2 days 3 h"; "0 s" for 0."""
    if seconds is None:
        return "—"
    if 0 < seconds < 1:
        return f"{seconds:.1f} s"
    left, parts = round(seconds), []
    for unit, size in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}")
    return " ".join(parts[:2]) or "0 s"


def times(count: int) -> str:
    """Write how many times: "once", "twice", "3 times"."""
    return _TIMES.get(count, f"{count} times")


def listing(items: list[str], last: str = "then") -> str:
    """Join words as "a", "a then b", "a, b then c"."""
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def retries(retry_policy: dict | None) -> str:
    """Say how a retry policy retries: "Retries twice, 10 s then 20 s apart, up to 1 h"."""
    full = policies.retry_policy(retry_policy)
    count = full["max_attempts"] - 1
    if count < 1:
        return "Does not retry: a failed attempt fails the run"
    waits = [span(policies.backoff(full, n).total_seconds()) for n in range(1, min(count, WAITS_SHOWN) + 1)]
    cap = span(full["max_interval_seconds"])
    if count == 1:
        return f"Retries once, {waits[0]} after a failure"
    if count > WAITS_SHOWN:
        return f"Retries {times(count)}, {', '.join(waits)} and so on apart, up to {cap}"
    return f"Retries {times(count)}, {listing(waits)} apart, up to {cap}"


def _bounds(s: ScheduledTask) -> str:
    """Say between which moments a cron schedule runs."""
    start = local_text(s.start_at, s.timezone) if s.start_at else None
    end = local_text(s.end_at, s.timezone) if s.end_at else None
    if start and end:
        return f"From {start} until {end}"
    if start:
        return f"From {start}, with no end"
    if end:
        return f"Until {end}, then completed"
    return "No start or end date"


def _limit(s: ScheduledTask) -> str:
    """Say how many runs a cron schedule may still make."""
    if s.max_runs is None:
        return "No limit on the number of runs"
    left = s.remaining_runs if s.remaining_runs is not None else s.max_runs
    plural = "run" if s.max_runs == 1 else "runs"
    return f"Completes after {s.max_runs} {plural}; {left} left"


def _missed(s: ScheduledTask) -> str:
    """Say what becomes of missed occurrences, with the catch-up window."""
    text = MISFIRE.get(s.misfire_policy or "FIRE_LATEST", s.misfire_policy)
    if s.catchup_window_seconds:
        return f"{text}. Never starts a run more than {span(s.catchup_window_seconds)} late"
    return text


def _auto_pause(s: ScheduledTask) -> str:
    """Say when the schedule pauses itself, and how close it is."""
    if s.pause_after_failures is None:
        return "Never pauses itself on failures"
    limit, now = s.pause_after_failures, s.consecutive_failures or 0
    return f"Pauses itself after {limit} failed run{'s' if limit != 1 else ''} in a row ({now} now)"


def policy_lines(s: ScheduledTask) -> list[dict]:
    """Return each policy of a schedule as {"name", "label", "text", "set"} (set: differs from the default)."""
    d = policies.DEFAULTS
    jitter = s.jitter_seconds or 0
    timeout = s.timeout_seconds or d["timeout_seconds"]
    lines = [
        ("overlap_policy", "Overlap", OVERLAP.get(s.overlap_policy or "ALLOW", s.overlap_policy), s.overlap_policy),
        ("misfire_policy", "Missed runs", _missed(s), (s.misfire_policy, s.catchup_window_seconds)),
    ]
    if s.cron_expression is not None:
        lines += [
            ("bounds", "Window", _bounds(s), (s.start_at, s.end_at)),
            ("max_runs", "Run limit", _limit(s), s.max_runs),
            (
                "jitter_seconds",
                "Jitter",
                f"Starts each run up to {span(jitter)} after its time, at a fixed offset per run"
                if jitter
                else "Starts each run on time (no jitter)",
                jitter,
            ),
        ]
    lines += [
        ("retry_policy", "Retries", retries(s.retry_policy), policies.retry_policy(s.retry_policy)),
        ("timeout_seconds", "Timeout", f"An attempt without a heartbeat for {span(timeout)} has failed", timeout),
        ("pause_after_failures", "Auto-pause", _auto_pause(s), s.pause_after_failures),
    ]
    plain = {
        "overlap_policy": d["overlap_policy"],
        "misfire_policy": (d["misfire_policy"], None),
        "bounds": (None, None),
        "max_runs": None,
        "jitter_seconds": 0,
        "retry_policy": policies.RETRY_DEFAULTS,
        "timeout_seconds": d["timeout_seconds"],
        "pause_after_failures": None,
    }
    return [
        {"name": name, "label": label, "text": text, "set": value != plain[name]} for name, label, text, value in lines
    ]


def outcome(status: str, reason: str | None) -> str:
    """Say what became of one occurrence, for the strip's titles: "Skipped: the previous run was still going"."""
    text = status.capitalize()
    if reason:
        return f"{text}: {REASON.get(reason, reason)[0].lower()}{REASON.get(reason, reason)[1:]}"
    return text


def strip_kind(status: str, reason: str | None) -> str:
    """Return the strip's mark for an occurrence: its status, with a skipped one's reason ("skipped-overlap")."""
    if status == ExecutionStatus.SKIPPED:
        return f"skipped-{(reason or 'missed').lower()}"
    return status.lower()
