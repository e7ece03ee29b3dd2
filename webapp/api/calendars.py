"""The /aitp calendar endpoints: holiday calendars owned by a client."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, jsonify, request
from werkzeug.routing import BaseConverter

from ..auth import current_caller, require_agent
from ..scheduling import calendar_store
from .limits import SCHEDULE_PAGE_DEFAULT
from .pages import each, page_answer
from .schedules import json_body
from .schemas import CALENDAR_LIST_QUERY
from .validation import takes_query

bp = Blueprint("api_calendars", __name__, url_prefix="/aitp")


class CalendarId(BaseConverter):
    """A path segment that is a calendar id: cal-..."""

    regex = r"cal-[^/]+"


def register_converter(state) -> None:
    """Match calendar ids by their prefix, as schedule and task ids are."""
    state.app.url_map.converters["calendar_id"] = CalendarId


# Recorded before the routes, so the converter exists when the rules are bound.
bp.record_once(register_converter)


@bp.post("/calendars")
@require_agent
def create_calendar():
    """Create a calendar from a list of dates or iCalendar text; 201 with it."""
    calendar = calendar_store.create_calendar(current_caller(), json_body())
    return jsonify(calendar_store.calendar_dict(calendar)), 201


@bp.get("/calendars")
@require_agent
@takes_query(*CALENDAR_LIST_QUERY)
def list_calendars():
    """List the caller's calendars (an admin's: every client's), newest first."""
    fetch = partial(calendar_store.list_calendars, current_caller(), request.args.get("client_id") or None)
    return page_answer(
        "calendars", SCHEDULE_PAGE_DEFAULT, fetch, each(calendar_store.calendar_dict), "created_at", "calendar_id"
    )


@bp.get("/calendars/<calendar_id:calendar_id>")
@require_agent
def get_calendar(calendar_id: str):
    """Return one calendar."""
    return jsonify(calendar_store.calendar_dict(calendar_store.get_calendar(current_caller(), calendar_id)))


@bp.put("/calendars/<calendar_id:calendar_id>")
@require_agent
def update_calendar(calendar_id: str):
    """Rename a calendar or replace its dates; its schedules plan their next run again."""
    calendar = calendar_store.update_calendar(current_caller(), calendar_id, json_body())
    return jsonify(calendar_store.calendar_dict(calendar))


@bp.delete("/calendars/<calendar_id:calendar_id>")
@require_agent
def delete_calendar(calendar_id: str):
    """Delete a calendar that no live schedule uses."""
    calendar_store.delete_calendar(current_caller(), calendar_id)
    return jsonify({"calendar_id": calendar_id, "deleted": True})
