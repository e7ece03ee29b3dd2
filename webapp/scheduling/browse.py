"""Browse schedules as an operator does: text search, a choice of order, and each one's last result."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from .. import paging
from ..errors import invalid
from ..extensions import db
from ..models import ExecutionStatus, ScheduledTask, ScheduleExecution, ScheduleStatus
from . import counts

SEARCH_MAX = 200
# An execution that has an outcome; the last of them is the schedule's last result.
FINISHED = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED)


def _name():
    """Return the name a schedule is shown by: its description, else its task type, case-folded."""
    return sa.func.lower(sa.func.coalesce(ScheduledTask.description, ScheduledTask.task_type))


def _due():
    """Return when a schedule will fire next: its next_run_at while ACTIVE, else nothing (it sorts last)."""
    return sa.case((ScheduledTask.status == ScheduleStatus.ACTIVE, ScheduledTask.next_run_at))


# Each order: its label and its ORDER BY (ties broken by id, so paging is stable).
SORTS = {
    "newest": ("Newest first", lambda: [ScheduledTask.created_at.desc(), ScheduledTask.schedule_id.desc()]),
    "next_run": ("Next run", lambda: [_due().is_(None), _due(), ScheduledTask.schedule_id]),
    "name": ("Name", lambda: [_name(), ScheduledTask.schedule_id]),
    "client": ("Client", lambda: [ScheduledTask.client_id, _name(), ScheduledTask.schedule_id]),
    "failures": ("Most failures", lambda: [ScheduledTask.failed_runs.desc(), _name(), ScheduledTask.schedule_id]),
}


@dataclass(frozen=True)
class Query:
    """What the operator asked for: filters, a search text and an order."""

    client_id: str | None = None
    status: str | None = None
    text: str | None = None
    sort: str = "newest"


def check(query: Query) -> Query:
    """Refuse an unknown status or order, or a search text too long to be a search."""
    if query.status is not None and query.status not in list(ScheduleStatus):
        raise invalid(f"status must be one of {', '.join(ScheduleStatus)}", "status")
    if query.sort not in SORTS:
        raise invalid(f"sort must be one of {', '.join(SORTS)}", "sort")
    if query.text is not None and len(query.text) > SEARCH_MAX:
        raise invalid(f"The search text is longer than {SEARCH_MAX} characters", "q")
    return query


def browse(query: Query, limit: int, offset: int) -> tuple[list[ScheduledTask], int]:
    """Return one page of the schedules that match, in the asked order, and how many match."""
    check(query)
    shown = [query.status] if query.status else [s for s in ScheduleStatus if s != ScheduleStatus.DELETED]
    where = [ScheduledTask.status.in_(shown)]
    if query.client_id:
        where.append(ScheduledTask.client_id == query.client_id)
    text = (query.text or "").strip().lower()
    if text:
        where.append(
            sa.or_(
                sa.func.lower(ScheduledTask.description).contains(text, autoescape=True),
                sa.func.lower(ScheduledTask.task_type).contains(text, autoescape=True),
                sa.func.lower(ScheduledTask.schedule_id).contains(text, autoescape=True),
            )
        )
    # A search is counted over the rows it matches; filters alone read the kept totals the API's list
    # reads, the same at 100k rows as at 10.
    total = paging.count(ScheduledTask, where) if text else counts.total(db.session(), query.client_id, shown)
    order = SORTS[query.sort][1]()
    rows = db.session.scalars(sa.select(ScheduledTask).where(*where).order_by(*order).limit(limit).offset(offset))
    return list(rows), total


def last_results(schedule_ids: list[str]) -> dict[str, ScheduleExecution]:
    """Return each schedule's last finished execution (completed or failed), by schedule id."""
    if not schedule_ids:
        return {}
    latest = (
        sa.select(ScheduleExecution.schedule_id, sa.func.max(ScheduleExecution.scheduled_for).label("at"))
        .where(ScheduleExecution.schedule_id.in_(schedule_ids), ScheduleExecution.status.in_(FINISHED))
        .group_by(ScheduleExecution.schedule_id)
        .subquery()
    )
    rows = db.session.scalars(
        sa.select(ScheduleExecution).join(
            latest,
            sa.and_(
                ScheduleExecution.schedule_id == latest.c.schedule_id,
                ScheduleExecution.scheduled_for == latest.c.at,
            ),
        )
    )
    return {e.schedule_id: e for e in rows}
