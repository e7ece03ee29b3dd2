"""The dispatcher's hot path: its three statements, sent through the driver's executemany.

SQLAlchemy's per-value type processing cost more than the database work itself at a few
hundred firings per batch, so the dispatcher builds its rows already in the driver's form
(instants through models.stored_instant, the one stored form; JSON as text), and the SQL is
compiled once per dialect.
"""

from __future__ import annotations

from datetime import datetime
from operator import itemgetter

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ..extensions import is_postgres
from ..models import (
    ExecutionStatus,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    Task,
    TaskStatus,
    new_id,
    stored_instant,
)

SCHEDULES = ScheduledTask.__table__
TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__

INSERT_TASK = sa.insert(TASKS)
INSERT_EXECUTION = sa.insert(EXECUTIONS)
_ADVANCE_VALUES = {
    "next_run_at": sa.bindparam("b_next"),
    "last_run_at": sa.bindparam("b_last"),
    "last_error": sa.bindparam("b_error"),
    "total_runs": SCHEDULES.c.total_runs + sa.bindparam("b_runs", type_=sa.Integer),
    "updated_at": sa.bindparam("b_now"),
}


def _advance(locked: bool, new_status: bool):
    """Build the UPDATE that advances a schedule.

    SQLite (not `locked`) gets a conditional update: the batch already holds the write lock, so a
    mismatch means something is badly wrong and the batch is undone. On PostgreSQL the rows are
    locked FOR UPDATE by this transaction, so the key is enough; naming next_run_at too would let a
    planner with stale statistics pick the (status, next_run_at) index and scan every schedule due
    at the same instant, once per row. `status` is only SET when it changes: naming it rewrites
    every index that contains it and runs the status-count trigger, which made the statement
    several times slower.
    """
    where = [SCHEDULES.c.schedule_id == sa.bindparam("b_id")]
    if not locked:
        where += [
            SCHEDULES.c.next_run_at == sa.bindparam("b_old"),
            SCHEDULES.c.status == sa.literal_column(f"'{ScheduleStatus.ACTIVE}'"),
        ]
    values = {**_ADVANCE_VALUES, "status": sa.bindparam("b_status")} if new_status else _ADVANCE_VALUES
    return sa.update(SCHEDULES).where(*where).values(**values)


ADVANCE = {
    (locked, new_status): _advance(locked, new_status) for locked in (False, True) for new_status in (False, True)
}

_COMPILED: dict = {}


class Form:
    """Turns values into the driver's form for one dialect; a batch shares few instants, so they are memoized."""

    def __init__(self, session: Session) -> None:
        """Read the dialect of the session: SQLite stores instants as text."""
        self.text = not is_postgres(session)
        self._instants: dict[datetime, datetime | str] = {}

    def at(self, value: datetime | None) -> datetime | str | None:
        """Return an instant as the driver stores it (models.stored_instant)."""
        if value is None:
            return None
        stored = self._instants.get(value)
        if stored is None:
            stored = self._instants[value] = stored_instant(value, self.text)
        return stored


def stored_next_run_column():
    """Return next_run_at exactly as stored (text on SQLite), for the conditional update to compare."""
    return sa.type_coerce(SCHEDULES.c.next_run_at, sa.String).label("next_run_stored")


def input_json_column():
    """Return the schedule's input_data as JSON text, to copy it into tasks without decoding it."""
    return sa.cast(SCHEDULES.c.input_data, sa.Text).label("input_json")


def executemany(session: Session, statement: sa.Executable, rows: list[dict]) -> int:
    """Run a statement once per row dict (already in driver form); return the rows changed."""
    conn = session.connection()
    key = (id(statement), conn.dialect.name, tuple(rows[0]))
    compiled = _COMPILED.get(key)
    if compiled is None:
        keys = list(rows[0]) if statement.is_insert else None
        compiled = statement.compile(dialect=conn.dialect, column_keys=keys)
        missing = set(compiled.params) - set(rows[0])
        if missing:
            raise ValueError(f"rows lack {sorted(missing)}")
        _COMPILED[key] = compiled
    if compiled.positional:
        getter = itemgetter(*compiled.positiontup)
        params = [getter(row) for row in rows]
    else:
        params = rows
    return conn.exec_driver_sql(str(compiled), params).rowcount


def task_row(row: Row | ScheduledTask, task_id: str, input_json: str, now: datetime | str) -> dict:
    """Return the task a firing inserts, in driver form: PENDING, copied from the schedule."""
    return {
        "task_id": task_id,
        "client_id": row.client_id,
        "task_type": row.task_type,
        "capability_required": row.capability_required,
        "input_data": input_json,
        "priority": row.priority,
        "status": TaskStatus.PENDING,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def execution_row(
    schedule_id: str, task_id: str | None, at: datetime | str, now: datetime | str, note: str | None
) -> dict:
    """Return an execution row in driver form: PENDING with its task, or SKIPPED without one."""
    return {
        "execution_id": new_id("exec"),
        "schedule_id": schedule_id,
        "task_id": task_id,
        "scheduled_for": at,
        "executed_at": now,
        "status": ExecutionStatus.PENDING if task_id else ExecutionStatus.SKIPPED,
        "error_message": note,
    }
