"""The execution history's pieces beyond paging: its filters, the strip's marks and legend, the ledger in words."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from werkzeug.datastructures import MultiDict

from ..models import ExecutionReason, ExecutionStatus, ExecutionTrigger, ScheduleExecution
from . import timefmt, words

FILTERS = ("status", "trigger")
# The strip's marks, in legend order: a status, or a skipped occurrence by its reason.
MARKS = (
    ("completed", "completed"),
    ("failed", "failed"),
    ("pending", "pending"),
    ("running", "running"),
    ("buffered", "buffered"),
    ("cancelled", "cancelled"),
    *((f"skipped-{r.lower()}", f"skipped: {words.REASON_SHORT[r]}") for r in ExecutionReason if r != "REPLACED"),
)
ALWAYS_SHOWN = ("completed", "failed", "pending")


def filters_from(args: MultiDict) -> dict:
    """Read the history filters from a query string: {"status": ..., "trigger": ...}, None when not chosen."""
    return {name: (args.get(name) or "").strip() or None for name in FILTERS}


def legend(recent: list[ScheduleExecution]) -> list[dict]:
    """Return the strip's legend: each mark present (and the usual three always) with its count."""
    counts = Counter(words.strip_kind(e.status, e.reason) for e in recent)
    return [
        {"mark": mark, "label": label, "count": counts[mark]}
        for mark, label in MARKS
        if counts[mark] or mark in ALWAYS_SHOWN
    ]


def duration_text(e: ScheduleExecution) -> str:
    """Say how long a run took from its first claim to its end ("" when it has not both)."""
    return timefmt.duration_text(e.started_at, e.finished_at)


def init_app(app: Flask) -> None:
    """Give the templates the ledger's words and enums."""
    app.jinja_env.globals.update(
        ExecutionTrigger=ExecutionTrigger,
        strip_kind=words.strip_kind,
        outcome=words.outcome,
        trigger_words=words.TRIGGER,
        reason_words=words.REASON,
        duration_text=duration_text,
        statuses_in_order=list(ExecutionStatus),
    )
