"""Schedule totals per client and status, kept by database triggers.

Counting 100k rows on every list call costs milliseconds that grow with the table (bench/api_list.py
measures an indexed COUNT(*) beside these counts); instead, triggers on scheduled_tasks (migration
0002) append +1/-1 rows to schedule_count_deltas and the dispatcher tick folds them into
schedule_counts (models.ScheduleCountDelta and models.ScheduleCount). A total is the base count plus
the pending deltas, read in one statement (one snapshot); a read never writes.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..extensions import begin_write, is_postgres

# Fold the deltas once this many are pending, so a read never sums a long tail.
FOLD_THRESHOLD = 500


@functools.cache
def _total_statement(by_client: bool) -> sa.TextClause:
    """Return the one-snapshot total query, built once: base counts plus pending deltas."""
    client = " AND client_id = :client_id" if by_client else ""
    sql = (
        f"SELECT (SELECT COALESCE(SUM(n), 0) FROM schedule_counts WHERE status IN :statuses{client})"
        f" + (SELECT COALESCE(SUM(d), 0) FROM schedule_count_deltas WHERE status IN :statuses{client})"
    )
    return sa.text(sql).bindparams(sa.bindparam("statuses", expanding=True))


def total(session: Session, client_id: str | None, statuses: Sequence[str]) -> int:
    """Return how many schedules match: a client's (or everyone's) in these statuses."""
    params = {"statuses": list(statuses)}
    if client_id is not None:
        params["client_id"] = client_id
    return int(session.scalar(_total_statement(client_id is not None), params))


def fold(session: Session) -> None:
    """Move the pending deltas into the base counts, in one write transaction."""
    begin_write(session)
    try:
        if is_postgres(session):
            # One statement, one snapshot: a delta committed meanwhile is neither summed nor deleted.
            if not session.scalar(sa.text("SELECT pg_try_advisory_xact_lock(7215001)")):
                session.rollback()
                return
            session.execute(
                sa.text(
                    "WITH moved AS (DELETE FROM schedule_count_deltas RETURNING client_id, status, d) "
                    "INSERT INTO schedule_counts (client_id, status, n) "
                    "SELECT client_id, status, SUM(d) FROM moved GROUP BY client_id, status "
                    "ORDER BY client_id, status "
                    "ON CONFLICT (client_id, status) DO UPDATE SET n = schedule_counts.n + excluded.n"
                )
            )
        else:
            # SQLite writers are serialized (BEGIN IMMEDIATE), so two statements are safe.
            last = session.scalar(sa.text("SELECT MAX(id) FROM schedule_count_deltas"))
            if last is not None:
                session.execute(
                    sa.text(
                        "INSERT INTO schedule_counts (client_id, status, n) "
                        "SELECT client_id, status, SUM(d) FROM schedule_count_deltas WHERE id <= :last "
                        "GROUP BY client_id, status "
                        "ON CONFLICT (client_id, status) DO UPDATE SET n = schedule_counts.n + excluded.n"
                    ),
                    {"last": last},
                )
                session.execute(sa.text("DELETE FROM schedule_count_deltas WHERE id <= :last"), {"last": last})
        session.commit()
    except BaseException:
        session.rollback()
        raise


def fold_if_due(session: Session) -> bool:
    """Fold the pending deltas when more than FOLD_THRESHOLD wait; return whether it folded."""
    waiting = session.scalar(sa.text("SELECT COUNT(*) FROM schedule_count_deltas")) or 0
    session.rollback()  # end the read before a possible BEGIN IMMEDIATE
    if waiting <= FOLD_THRESHOLD:
        return False
    fold(session)
    return True
