"""Reading the audit log: newest first, paged, each caller seeing only what it may."""

from __future__ import annotations

import sqlalchemy as sa

from ..auth import Caller
from ..errors import not_found
from ..extensions import db
from ..models import AuditEntry, ScheduledTask
from ..scheduling.schedules import after_cursor


def list_entries(
    caller: Caller, schedule_id: str | None, limit: int, offset: int, cursor: str | None = None
) -> tuple[list[AuditEntry], int]:
    """Return a page of audit entries, newest first, and their total; a non-admin sees its own schedules'."""
    conditions = []
    if schedule_id is not None:
        owner = db.session.scalar(sa.select(ScheduledTask.client_id).where(ScheduledTask.schedule_id == schedule_id))
        if owner is None or not caller.may_see(owner):
            raise not_found()
        conditions.append(AuditEntry.schedule_id == schedule_id)
    if not caller.is_admin:
        conditions.append(AuditEntry.client_id == caller.agent_id)
    total = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(*conditions))
    if cursor:
        conditions.append(after_cursor(cursor, AuditEntry.at, AuditEntry.audit_id))
    rows = db.session.scalars(
        sa.select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.at.desc(), AuditEntry.audit_id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total or 0)
