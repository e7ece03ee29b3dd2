"""How the dashboard writes instants: local wall time, UTC on hover, relative times, form inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.dashboard_helpers import aware
from webapp.dashboard import timefmt


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "just now"), (90, "in 2 min"), (-3600 * 3, "3 h ago"), (86400 * 3, "in 3 days"), (86400 * 90, "in 3 months")],
)
def test_relative_time(seconds, text):
    """Relative times use the largest sensible unit."""
    now = aware(2025, 1, 1, 12, 0)
    assert timefmt.relative(now + timedelta(seconds=seconds), now) == text


def test_when_writes_local_time_with_utc_on_hover():
    """<time> carries the UTC instant; the text is local; the title says UTC."""
    html = str(timefmt.when(aware(2025, 7, 1, 12, 0), "America/New_York", now=aware(2025, 7, 1, 11, 56)))
    assert html == (
        '<time datetime="2025-07-01T12:00:00Z" title="2025-07-01 12:00:00 UTC">Tue 1 Jul 2025, 08:00 EDT</time>'
        ' <span class="rel">in 4 min</span>'
    )


@pytest.mark.parametrize(
    ("value", "tz", "kwargs", "text"),
    [
        (aware(2025, 1, 15, 14, 30), "America/New_York", {}, "Wed 15 Jan 2025, 09:30 EST"),
        (aware(2025, 7, 15, 13, 30), "America/New_York", {}, "Tue 15 Jul 2025, 09:30 EDT"),
        (aware(2025, 7, 15, 13, 30, 5), "UTC", {"seconds": True}, "Tue 15 Jul 2025, 13:30:05 UTC"),
        (aware(2025, 7, 15, 13, 30), "UTC", {"this_year": 2025}, "Tue 15 Jul, 13:30 UTC"),
        (None, "UTC", {}, "—"),
    ],
)
def test_local_text_writes_the_wall_time_and_zone_abbreviation(value, tz, kwargs, text):
    assert timefmt.local_text(value, tz, **kwargs) == text


def test_an_unknown_zone_falls_back_to_utc_rather_than_failing_a_page():
    assert timefmt.local_text(aware(2025, 7, 15, 13, 30), "Atlantis/Capital") == "Tue 15 Jul 2025, 13:30 UTC"


def test_utc_text_and_the_short_form_that_adds_the_date_only_when_it_differs():
    late = aware(2025, 7, 15, 23, 30)
    assert timefmt.utc_text(late) == "2025-07-15 23:30:00 UTC"
    assert timefmt.utc_short(late, "Europe/London") == "Tue 15 Jul, 23:30 UTC"  # 00:30 on the 16th in London
    assert timefmt.utc_short(late, "America/New_York") == "23:30 UTC"
    assert timefmt.utc_text(None) == "—"


def test_a_naive_instant_is_read_as_utc():
    assert timefmt.utc_text(datetime(2025, 7, 15, 23, 30)) == "2025-07-15 23:30:00 UTC"


def test_form_inputs_round_trip_through_the_zone():
    value = aware(2025, 3, 10, 13, 30)
    assert timefmt.local_input(value, "America/New_York") == "2025-03-10T09:30"
    assert timefmt.local_input(None, "UTC") == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2025-03-10T13:30:00Z", datetime(2025, 3, 10, 13, 30, tzinfo=UTC)),
        ("2025-03-10T09:30:00-04:00", datetime(2025, 3, 10, 13, 30, tzinfo=UTC)),
        ("", None),
        (None, None),
    ],
)
def test_parse_iso_reads_what_the_preview_service_writes(text, value):
    assert timefmt.parse_iso(text) == value


def test_when_leaves_out_the_year_in_compact_tables_and_the_relative_part_on_request():
    now = aware(2025, 7, 1, 11, 56)
    html = str(timefmt.when(aware(2025, 7, 1, 12, 0), "UTC", now=now, rel=False, compact=True))
    assert html == '<time datetime="2025-07-01T12:00:00Z" title="2025-07-01 12:00:00 UTC">Tue 1 Jul, 12:00 UTC</time>'
    assert str(timefmt.when(None)) == '<span class="muted">—</span>'
    assert timefmt.relative(now - timedelta(days=400), now) == "1 year ago"
