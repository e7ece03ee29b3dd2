"""What an edit would do: a schedule's next runs before and after it, computed without saving anything."""

from __future__ import annotations

from datetime import datetime

from .. import clock
from ..api.schemas import SCHEDULE_UPDATE
from ..api.validation import validate
from ..auth import Caller
from ..extensions import db
from ..models import ScheduledTask
from . import backfill, calendars, drafts, planning, schedules

CHANGE_WINDOW = 20


def preview_change(caller: Caller, schedule_id: str, body: dict, now: datetime | None = None) -> dict:
    """Answer {before, after, added, removed} over the next CHANGE_WINDOW runs for a body as PUT takes it.

    The change is applied in the session and rolled back: the same rules refuse the same bodies (400,
    404, 409), and nothing is written.
    """
    now = now or clock.utcnow()
    data = validate(SCHEDULE_UPDATE, body)
    if "input_data" in data:
        schedules.check_input_data(data["input_data"])
    session = db.session
    try:
        with session.no_autoflush:
            schedule = schedules.get_schedule(caller, schedule_id)
            before = _next_runs(session, schedule)
            schedules.apply_update(session, caller, schedule_id, data, now, record=False)
            after = _next_runs(session, schedule)
    finally:
        session.rollback()  # the schedule object returns to what is stored
    # A full list ends where its window does, not where the schedule does: compare up to the nearer end.
    ends = [runs[-1].at for runs in (before, after) if len(runs) == CHANGE_WINDOW]
    horizon = min(ends) if ends else None
    # A run counts where it fires: one that a holiday rule now skips is removed, though still recorded.
    before_at = {run.at for run in before if run.fires}
    after_at = {run.at for run in after if run.fires}

    def only(runs: list[calendars.Run], other: set[datetime]) -> list[dict]:
        """Serialize the firing runs, within the horizon, that the other list does not fire."""
        return [
            drafts.run_dict(run)
            for run in runs
            if run.fires and run.at not in other and (horizon is None or run.at <= horizon)
        ]

    return {
        "before": [drafts.run_dict(run) for run in before],
        "after": [drafts.run_dict(run) for run in after],
        "added": only(after, before_at),
        "removed": only(before, after_at),
    }


def _next_runs(session, schedule: ScheduledTask) -> list[calendars.Run]:
    """Return the next CHANGE_WINDOW runs as the dispatcher will take them, within bounds and runs left."""
    return backfill.planned_runs(schedule, planning.holidays(session, schedule.calendar_id), CHANGE_WINDOW)
