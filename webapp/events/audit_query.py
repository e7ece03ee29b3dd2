"""Reading the audit log: newest first, paged, each caller seeing only what it may."""

from __future__ import annotations

import sqlalchemy as sa

from .. import paging
from ..auth import Caller
from ..errors import not_found
from ..extensions import db
from ..models import AuditEntry, ScheduledTask


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
    return paging.newest_first(AuditEntry, conditions, AuditEntry.at, AuditEntry.audit_id, limit, offset, cursor)
