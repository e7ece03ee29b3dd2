"""One due schedule's firing as rows: plan it (catchup.py), apply its overlap policy (overlap.py),
count its runs, and build the tasks, executions and the schedule's advance in driver form.

No statement is run here; the dispatcher writes what `prepare` returns inside its batch
transaction. Where a schedule COMPLETES (run limit, end_at, one-time) or FAILS is decided here
and in the planner, so events about those transitions belong beside `prepare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Row

from ..models import ExecutionReason, ExecutionStatus, ScheduleStatus, new_id
from . import catchup, overlap, policies
from .bulkwrite import Form, execution_row, retry_of, task_row


@dataclass
class Firing:
    """The rows of one schedule's firing and what it amounts to."""

    tasks: list[dict] = field(default_factory=list)
    executions: list[dict] = field(default_factory=list)
    advance: dict = field(default_factory=dict)
    fired: int = 0
    skipped: int = 0
    lateness: list[float] = field(default_factory=list)
    replace: list[overlap.Going] = field(default_factory=list)
    failed: bool = False
    occurrences: list[datetime] = field(default_factory=list)  # every occurrence it writes an execution for


def prepare(
    row: Row,
    now: datetime,
    form: Form,
    cache: dict,
    going: list[overlap.Going],
    exclude: frozenset[datetime] = frozenset(),
    holidays: frozenset[date] = frozenset(),
) -> Firing:
    """Build one due schedule's firing at `now` (its calendar holds `holidays`).

    Occurrences in `exclude` already have an execution.
    """
    policy = policies.policy_of(row, holidays)
    stamp = form.at(now)
    first = policies.occurrence_of(policy, row.next_run_at, cache)
    plan = catchup.plan(policy, first, now, cache)
    advance = {"b_id": row.schedule_id, "b_old": row.next_run_stored, "b_now": stamp, "b_runs": 0}
    advance.update(b_next=form.at(plan.next_run), b_status=plan.status, b_error=plan.error)
    advance.update(b_last=form.at(row.last_run_at), b_remaining=row.remaining_runs)
    firing = Firing(advance=advance)
    if plan.status == ScheduleStatus.FAILED:
        firing.failed = True
        return firing
    decision = overlap.decide(row.overlap_policy, [at for at in plan.fires if at not in exclude], going)
    firing.replace = decision.replace
    sid = row.schedule_id
    skipped = [(at, reason, note) for at, reason, note in plan.skipped if at not in exclude]
    skipped += [(at, ExecutionReason.OVERLAP, _BUSY) for at in decision.skipped]
    records = [execution_row(sid, None, form.at(at), stamp, note, reason) for at, reason, note in skipped]
    records += [
        execution_row(sid, None, form.at(at), stamp, _REPLACED, ExecutionReason.REPLACED, status=_CANCELLED)
        for at in decision.replaced
    ]
    if decision.buffer is not None:
        records.append(execution_row(sid, None, form.at(decision.buffer), stamp, None, status=_BUFFERED))
    retry = retry_of(row.retry_json, cache)
    for at in decision.fire:
        task_id = new_id("task")
        firing.tasks.append(task_row(row, task_id, row.input_json, stamp, retry))
        records.append(execution_row(sid, task_id, form.at(at), stamp, None))
        firing.lateness.append((now - policies.fire_at(policy, at)).total_seconds())
    firing.executions = records
    firing.occurrences = [at for at, _, _ in skipped] + decision.replaced + decision.fire
    firing.occurrences += [decision.buffer] if decision.buffer is not None else []
    firing.fired, firing.skipped = len(decision.fire), len(skipped)
    runs = len(decision.fire) + (decision.buffer is not None)
    started = decision.fire + ([decision.buffer] if decision.buffer is not None else [])
    if started:
        advance.update(b_last=form.at(max(started)), b_runs=runs)
    _count_down(row, advance, runs)
    return firing


def _count_down(row: Row, advance: dict, runs: int) -> None:
    """Take the firings from remaining_runs; at 0 the schedule COMPLETES, with the reason in last_error."""
    if row.remaining_runs is None:
        return
    left = max(row.remaining_runs - runs, 0)
    advance["b_remaining"] = left
    if left == 0:
        advance.update(
            b_status=ScheduleStatus.COMPLETED,
            b_next=None,
            b_error=f"Completed: reached max_runs ({row.max_runs or row.total_runs:,} firings)",
        )


_BUSY = "The previous run was still going (overlap_policy)"
_REPLACED = "Replaced by a newer occurrence due in the same tick"
_CANCELLED, _BUFFERED = ExecutionStatus.CANCELLED, ExecutionStatus.BUFFERED


def restamp(firing: Firing, stamp: datetime | str, late_by: float) -> None:
    """Stamp a prepared firing with the instant it is written (driver form), `late_by` seconds after it was planned.

    A firing is prepared at its claim and written after; executed_at, the task's created_at and
    the lateness in /metrics must say when it was written, not when its slice began.
    """
    for task in firing.tasks:
        task["created_at"] = task["updated_at"] = stamp
    for record in firing.executions:
        record["executed_at"] = stamp
    if firing.advance:
        firing.advance["b_now"] = stamp
    firing.lateness = [late + late_by for late in firing.lateness]
