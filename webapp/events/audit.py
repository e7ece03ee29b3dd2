"""The audit log: who changed a schedule, when, and each changed field's old and new value.

Entries are written in the transaction of the change. Actors: AGENT (an API key), OPERATOR (a
dashboard login) or SYSTEM (the dispatcher: COMPLETED, FAILED, auto-pause).
"""

from __future__ import annotations

import json
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..auth import Caller
from ..clock import iso_z
from ..models import AuditEntry, ScheduledTask, new_id
from ..scheduling.bulkwrite import Form

SYSTEM_ID = "scheduler"
INSERT_AUDIT = sa.insert(AuditEntry.__table__)
# Bookkeeping that moves on every firing; a change's entry is about what people and rules decide.
_NOT_AUDITED = {"schedule_id", "client_id", "created_at", "updated_at", "last_run_at", "total_runs", "failed_runs"}


def actor(caller: Caller | None) -> tuple[str, str | None]:
    """Return (type, id) of who acts: an agent, an operator, or the system itself (None)."""
    if caller is None:
        return "SYSTEM", SYSTEM_ID
    if caller.agent_id is not None:
        return "AGENT", caller.agent_id
    return "OPERATOR", caller.operator


def _plain(value):
    """Return a value as JSON holds it (instants as ISO 8601 with Z)."""
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def snapshot(schedule: ScheduledTask) -> dict:
    """Return the audited fields of a schedule, JSON-ready."""
    return {
        column.key: _plain(getattr(schedule, column.key))
        for column in ScheduledTask.__table__.columns
        if column.key not in _NOT_AUDITED
    }


def diff(before: dict, after: dict) -> dict:
    """Return {field: [old, new]} for every field that changed."""
    return {k: [before.get(k), after.get(k)] for k in after if before.get(k) != after.get(k)}


def record(
    session: Session, caller: Caller | None, action: str, schedule: ScheduledTask, changes: dict, at: datetime
) -> None:
    """Add an audit entry to the session's transaction."""
    kind, who = actor(caller)
    session.add(
        AuditEntry(
            audit_id=new_id("aud"),
            at=at,
            actor_type=kind,
            actor_id=who,
            action=action,
            schedule_id=schedule.schedule_id,
            client_id=schedule.client_id,
            changes=changes,
        )
    )


def system_row(form: Form, action: str, schedule_id: str, client_id: str, changes: dict, at) -> dict:
    """Return a SYSTEM audit row in driver form, for the dispatcher's batched writes."""
    return {
        "audit_id": new_id("aud"),
        "at": form.at(at),
        "actor_type": "SYSTEM",
        "actor_id": SYSTEM_ID,
        "action": action,
        "schedule_id": schedule_id,
        "client_id": client_id,
        "changes": json.dumps(changes, separators=(",", ":"), default=str),
    }


def entry_dict(entry: AuditEntry) -> dict:
    """Serialize an audit entry as the API answers it."""
    return {
        "audit_id": entry.audit_id,
        "at": iso_z(entry.at),
        "actor": {"type": entry.actor_type, "id": entry.actor_id},
        "action": entry.action,
        "schedule_id": entry.schedule_id,
        "changes": entry.changes,
    }
