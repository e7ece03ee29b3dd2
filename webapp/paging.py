"""Pages of a list, newest first: the total, then one page by offset or after a keyset cursor."""

from __future__ import annotations

import base64
from datetime import datetime

import sqlalchemy as sa

from . import clock
from .clock import iso_z
from .errors import invalid
from .extensions import db


def encode_cursor(at: datetime, row_id: str) -> str:
    """Return the keyset cursor that continues a listing after the row (at, row_id)."""
    raw = f"{iso_z(at)}|{row_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def page_cursor(rows: list, limit: int, at: str, row_id: str) -> str | None:
    """Return the cursor after a full page's last row (attributes `at` and `row_id`), or None on a short page."""
    if len(rows) < limit or not rows:
        return None
    return encode_cursor(getattr(rows[-1], at), getattr(rows[-1], row_id))


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Read a keyset cursor back; refuse a malformed one with a 400."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, row_id = raw.split("|", 1)
        if "\x00" in row_id:
            raise ValueError("NUL in a cursor")  # PostgreSQL cannot compare text holding NUL
        return clock.parse_iso(created), row_id
    except (ValueError, UnicodeDecodeError):
        raise invalid("cursor is not one this service issued", "cursor") from None


def after_cursor(cursor: str, at_column, id_column):
    """Return the condition "comes after the cursor's row" in a newest-first (at, id) order."""
    at, row_id = _decode_cursor(cursor)
    return sa.tuple_(at_column, id_column) < sa.tuple_(sa.literal(at, at_column.type), sa.literal(row_id))


def count(model, where: list) -> int:
    """Return how many rows of a model match every condition."""
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


def newest_page(query: sa.Select, at_column, id_column, limit: int, offset: int, cursor: str | None) -> sa.Select:
    """Narrow a query to one page, newest first by (at, id): after the cursor's row if any, then offset and limit.

    A cursor (from page_cursor) continues after its row in constant time, where a deep offset has to
    walk the index up to it.
    """
    if cursor:
        query = query.where(after_cursor(cursor, at_column, id_column))
    return query.order_by(at_column.desc(), id_column.desc()).limit(limit).offset(offset)


def newest_first(
    model, where: list, at_column, id_column, limit: int, offset: int, cursor: str | None
) -> tuple[list, int]:
    """Return one page of a model's rows that match `where`, newest first, and the total that match."""
    total = count(model, where)
    query = newest_page(sa.select(model).where(*where), at_column, id_column, limit, offset, cursor)
    return list(db.session.scalars(query).all()), total
