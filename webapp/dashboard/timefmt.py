"""How the dashboard writes instants: local wall time, UTC on hover, and "in 4 min"."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask
from markupsafe import Markup

from .. import clock
from ..clock import as_utc, iso_z
from ..scheduling.answers import duration_seconds


def zone(name: str | None) -> ZoneInfo:
    """Return the zone of an IANA name, falling back to UTC for a name that no longer exists."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_text(
    value: datetime | None, tz: str | None = "UTC", seconds: bool = False, this_year: int | None = None
) -> str:
    """Write an instant in a zone, e.g. "Mon 10 Mar 2025, 09:30 EDT" (no year when it is this_year)."""
    if value is None:
        return "—"
    local = as_utc(value).astimezone(zone(tz))
    hours = f"{local:%H:%M:%S}" if seconds else f"{local:%H:%M}"
    year = "" if local.year == this_year else f" {local.year}"
    return f"{local:%a} {local.day} {local:%b}{year}, {hours} {local.tzname()}"


def utc_text(value: datetime | None) -> str:
    """Write an instant in UTC, e.g. "2025-03-10 13:30 UTC"."""
    if value is None:
        return "—"
    return f"{as_utc(value):%Y-%m-%d %H:%M:%S} UTC"


def utc_short(value: datetime, tz: str | None) -> str:
    """Write the UTC time of an instant, with its date only when that differs from the local date."""
    utc = as_utc(value)
    if utc.date() == utc.astimezone(zone(tz)).date():
        return f"{utc:%H:%M} UTC"
    return f"{utc:%a} {utc.day} {utc:%b}, {utc:%H:%M} UTC"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """Write a count with its noun in the right number: "1 run", "3 runs", "0 runs"."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def _amount(seconds: float) -> str:
    """Write a positive duration in its largest sensible unit, e.g. "4 min", "3 h", "2 days", "4 years"."""
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours = round(seconds / 3600)
    if hours < 48:
        return f"{hours} h"
    days = round(seconds / 86400)
    if days < 60:
        return plural(days, "day")
    if days < 365:
        return plural(round(days / 30.44), "month")
    return plural(round(days / 365.25), "year")


def time_of_day(value: datetime, tz: str | None = "UTC") -> str:
    """Write the wall-clock time of an instant in a zone, e.g. "14:02:10"."""
    return f"{as_utc(value).astimezone(zone(tz)):%H:%M:%S}"


def duration_text(start: datetime | None, end: datetime | None) -> str:
    """Write how long a run took, e.g. "0.4 s", "12 s", "3 min 5 s", "2 h 10 min"; "" when unknown."""
    seconds = duration_seconds(start, end)  # the API's duration_seconds, written for people
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def relative(value: datetime | None, now: datetime | None = None) -> str:
    """Write how far an instant is from now: "in 4 min", "2 h ago", "just now"."""
    if value is None:
        return ""
    delta = (as_utc(value) - (now or clock.utcnow())).total_seconds()
    if abs(delta) < 5:
        return "just now"
    return f"in {_amount(delta)}" if delta > 0 else f"{_amount(-delta)} ago"


def when(
    value: datetime | None,
    tz: str | None = "UTC",
    now: datetime | None = None,
    rel: bool = True,
    seconds: bool = False,
    compact: bool = False,
    viewer: bool = False,
) -> Markup:
    """Render an instant as <time>: local text, UTC in the title, then the relative time.

    compact leaves out the year when it is the current one (for tables); viewer marks it for
    static/app.js to show in the browser's own zone (the text stays in tz without script).
    """
    if value is None:
        return Markup('<span class="muted">—</span>')
    this_year = (now or clock.utcnow()).year if compact else None
    zone_attr = Markup(' data-zone="viewer"') if viewer else ""
    html = Markup('<time datetime="{}" title="{}"{}>{}</time>').format(
        iso_z(value), utc_text(value), zone_attr, local_text(value, tz, seconds, this_year)
    )
    if rel:
        html += Markup(' <span class="rel">{}</span>').format(relative(value, now))
    return html


def local_input(value: datetime | None, tz: str | None) -> str:
    """Write an instant for an <input type=datetime-local> in the zone, e.g. "2025-03-10T09:30"."""
    if value is None:
        return ""
    return as_utc(value).astimezone(zone(tz)).strftime("%Y-%m-%dT%H:%M")


def parse_iso(text: str | None) -> datetime | None:
    """Read an ISO 8601 instant written by the preview service (with Z or an offset)."""
    if not text:
        return None
    return clock.parse_iso(text)


def init_app(app: Flask) -> None:
    """Register the template helpers."""
    app.jinja_env.globals.update(
        when=when,
        relative=relative,
        time_of_day=time_of_day,
        local_text=local_text,
        utc_text=utc_text,
        utc_short=utc_short,
        parse_iso=parse_iso,
    )
    app.jinja_env.filters.update(
        iso_z=iso_z, local_text=local_text, utc_text=utc_text, relative=relative, plural=plural
    )
