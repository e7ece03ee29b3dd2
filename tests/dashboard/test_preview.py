"""The live cron preview page and its partial."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.dashboard_helpers import Dashboard


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client."""
    return Dashboard(app, client).sign_in()


def preview(ui: Dashboard, htmx: bool = True, **args) -> str:
    """Return the preview for these query arguments."""
    response = ui.get("/preview?" + urlencode(args), htmx=htmx)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_preview_page_has_the_form_and_a_live_region(ui):
    """The page is a GET form that previews as the operator types, into an aria-live region."""
    html = preview(ui, htmx=False)
    assert "<html" in html
    assert 'hx-trigger="input delay:300ms, change delay:50ms, submit"' in html
    assert '<div id="preview" class="preview" aria-live="polite">' in html
    assert '<label for="cron_expression">' in html and '<label for="timezone">' in html
    assert "Type a cron expression" in html


def test_preview_partial_for_htmx(ui):
    """HTMX gets only the result; the same URL without HX-Request gets the page with the result in it."""
    args = {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/London", "start": "2025-06-02T00:00"}
    partial = preview(ui, **args)
    assert "<html" not in partial
    assert "At 09:00, Monday through Friday" in partial
    assert partial.count("<tr") == 1 + 8  # header and eight runs
    assert "Mon 2 Jun 2025, 09:00 BST" in partial
    assert "2025-06-02 08:00:00 UTC" in partial
    full = preview(ui, htmx=False, **args)
    assert "<html" in full and "At 09:00, Monday through Friday" in full
    assert 'value="0 9 * * 1-5"' in full


def test_preview_marks_a_run_shifted_by_spring_forward(ui):
    """02:30 does not exist in New York on 9 March 2025: that run is at 03:00 and marked shifted."""
    html = preview(ui, cron_expression="30 2 * * *", timezone="America/New_York", start="2025-03-08T00:00")
    assert "Sat 8 Mar 2025, 02:30 EST" in html
    assert '<tr class="dst dst-shifted">' in html
    assert "Sun 9 Mar 2025, 03:00 EDT" in html and "2025-03-09 07:00:00 UTC" in html
    assert html.count('<span class="tag tag-shifted"') == 2  # the run and the explanation
    assert "does not exist on the day clocks go forward" in html


def test_preview_marks_the_first_of_a_repeated_hour(ui):
    """01:30 happens twice in New York on 2 November 2025: it runs once, at the first, marked first."""
    html = preview(ui, cron_expression="30 1 * * *", timezone="America/New_York", start="2025-11-01T00:00")
    assert '<tr class="dst dst-first">' in html
    assert "Sun 2 Nov 2025, 01:30 EDT" in html and "2025-11-02 05:30:00 UTC" in html
    assert "Sun 2 Nov 2025, 01:30 EST" not in html


@pytest.mark.parametrize(
    "args, reason",
    [
        ({"cron_expression": "61 * * * *"}, "Invalid minute field"),
        ({"cron_expression": "* * *"}, "5 fields"),
        ({"cron_expression": "0 9 * * *", "timezone": "Mars/Olympus"}, "Unknown time zone"),
        ({"cron_expression": "0 9 * * *", "start": "next tuesday"}, "Invalid date-time"),
        ({"cron_expression": "0 0 30 2 *"}, "never fires"),
    ],
)
def test_preview_explains_bad_input(ui, args, reason):
    """Bad input shows the reason as an alert, never a stack trace."""
    html = preview(ui, **args)
    assert 'role="alert"' in html
    assert reason in html
    assert "Traceback" not in html


def test_preview_escapes_what_was_typed(ui):
    """Markup in the expression comes back as text."""
    html = preview(ui, cron_expression="<b>x</b> * * * *")
    assert "<b>x" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_preview_follows_the_builder(ui):
    """The form's preview sends the builder's fields; the server writes the expression."""
    html = preview(ui, kind="weekly", at_time="08:15", weekday="TUE", timezone="Asia/Tokyo")
    assert "At 08:15, only on Tuesday" in html
    assert 'data-expression="15 8 * * TUE"' in html
    assert " JST" in html


def test_preview_of_a_one_time_run(ui):
    """Once: the single run in the zone and in UTC; a past time is pointed out."""
    html = preview(ui, kind="once", run_at="2999-01-01T10:00", timezone="Asia/Tokyo")
    assert "Tue 1 Jan 2999, 10:00 JST" in html and "2999-01-01 01:00:00 UTC" in html
    html = preview(ui, kind="once", run_at="2001-01-01T10:00", timezone="UTC")
    assert "This time has passed." in html and "Cannot preview" not in html


def test_preview_count_is_bounded(ui):
    """Count is clamped to 1..50."""
    html = preview(ui, cron_expression="* * * * *", count="500")
    assert html.count("<tr class") + html.count("<tr>") == 51
