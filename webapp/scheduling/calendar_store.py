"""Every rule about a stored holiday calendar: create, list, read, change and delete, owned by a client."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .. import clock, paging
from ..api.schemas import CALENDAR_CREATE, CALENDAR_UPDATE
from ..api.validation import validate
from ..auth import Caller
from ..clock import iso_z
from ..errors import conflict, invalid, not_found
from ..extensions import db, is_postgres, write_transaction
from ..models import Agent, Calendar, ScheduledTask, ScheduleStatus, new_id
from . import calendars, planning
from .schedules import client_for

LIVE = tuple(s for s in ScheduleStatus if s != ScheduleStatus.DELETED)  # all but DELETED can run again


def _dates(data: dict) -> list[str] | None:
    """Return the ISO dates a body gives (from `dates` or from `ics`), or None when it gives neither."""
    if "dates" in data and "ics" in data:
        raise invalid("Give either dates or ics, not both", "ics")
    try:
        if "ics" in data:
            found = calendars.dates_from_ics(data["ics"])
        elif "dates" in data:
            found = calendars.parse_dates(data["dates"])
        else:
            return None
    except calendars.CalendarError as err:
        raise invalid(err.message, err.field) from None
    return [d.isoformat() for d in found]


def _get(session, caller: Caller, calendar_id: str, for_update: bool = False) -> Calendar:
    """Return the caller's calendar or raise 404 (someone else's is absent too)."""
    query = sa.select(Calendar).where(Calendar.calendar_id == calendar_id)
    if for_update and is_postgres(session):
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None or not caller.may_see(found.client_id):
        raise not_found("Calendar")
    return found


def create_calendar(caller: Caller, body: dict, now: datetime | None = None) -> Calendar:
    """Create a calendar from `{name, dates}` or `{name, ics}`; return it."""
    now = now or clock.utcnow()
    data = validate(CALENDAR_CREATE, body)
    client_id = client_for(caller, data.get("client_id"))
    dates = _dates(data)
    if dates is None:
        raise invalid('Give dates (a list such as ["2026-12-25"]) or ics (iCalendar text)', "dates")
    with write_transaction() as session:
        if session.get(Agent, client_id) is None:
            raise invalid(f"Unknown client_id: {client_id}", "client_id")
        calendar = Calendar(
            calendar_id=new_id("cal"),
            client_id=client_id,
            name=data["name"].strip(),
            dates=dates,
            created_at=now,
            updated_at=now,
        )
        session.add(calendar)
    return calendar


def update_calendar(caller: Caller, calendar_id: str, body: dict, now: datetime | None = None) -> Calendar:
    """Rename a calendar or replace its dates; the schedules that use it plan their next run again."""
    now = now or clock.utcnow()
    data = validate(CALENDAR_UPDATE, body)
    dates = _dates(data)
    with write_transaction() as session:
        calendar = _get(session, caller, calendar_id, for_update=True)
        if "name" in data:
            calendar.name = data["name"].strip()
        if dates is not None and dates != calendar.dates:
            calendar.dates = dates
            planning.replan_calendar(session, calendar, now)
        calendar.updated_at = now
    return calendar


def delete_calendar(caller: Caller, calendar_id: str) -> None:
    """Delete a calendar no live schedule uses (409 otherwise); deleted schedules let go of it."""
    with write_transaction() as session:
        calendar = _get(session, caller, calendar_id, for_update=True)
        users = _users(session, calendar_id)
        if users:
            shown = ", ".join(users[:3]) + (", …" if len(users) > 3 else "")
            raise conflict(
                f"Calendar is used by {len(users)} schedule(s) ({shown}); give them another calendar_id or delete "
                "them first",
                "calendar_id",
            )
        session.execute(
            sa.update(ScheduledTask).where(ScheduledTask.calendar_id == calendar_id).values(calendar_id=None)
        )
        session.delete(calendar)


def _users(session, calendar_id: str) -> list[str]:
    """Return the ids of the live schedules that use a calendar."""
    query = sa.select(ScheduledTask.schedule_id).where(
        ScheduledTask.calendar_id == calendar_id, ScheduledTask.status.in_(LIVE)
    )
    return list(session.scalars(query.order_by(ScheduledTask.schedule_id)))


def users(caller: Caller, calendar_id: str) -> list[str]:
    """Return the ids of the live schedules that use one of the caller's calendars."""
    _get(db.session, caller, calendar_id)
    return _users(db.session, calendar_id)


def get_calendar(caller: Caller, calendar_id: str) -> Calendar:
    """Return one calendar the caller may see."""
    return _get(db.session, caller, calendar_id)


def list_calendars(
    caller: Caller, client_id: str | None, limit: int, offset: int, cursor: str | None = None
) -> tuple[list[Calendar], int]:
    """Return a page of calendars, newest first, and the total that match."""
    if not caller.is_admin:
        if client_id and client_id != caller.agent_id:
            return [], 0
        client_id = caller.agent_id
    where = [Calendar.client_id == client_id] if client_id else []
    return paging.newest_first(Calendar, where, Calendar.created_at, Calendar.calendar_id, limit, offset, cursor)


def calendar_dict(c: Calendar) -> dict:
    """Serialize a calendar."""
    return {
        "calendar_id": c.calendar_id,
        "client_id": c.client_id,
        "name": c.name,
        "dates": list(c.dates or []),
        "created_at": iso_z(c.created_at),
        "updated_at": iso_z(c.updated_at),
    }
