"""The catch-up planner on its own: what a due schedule fires, skips and does next (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.models import ScheduleStatus
from webapp.scheduling import catchup, cron
from webapp.scheduling.calendars import Timing
from webapp.scheduling.policies import Policy


def utc(text: str) -> datetime:
    """Parse an ISO instant with Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def plan(expression: str | None, due: str, now: str, tz: str = "UTC") -> catchup.Plan:
    """Plan a schedule (default policies) due at `due` as seen at `now`."""
    return catchup.plan(Policy("sched-x", expression, tz), utc(due), utc(now), {})


def test_an_on_time_occurrence_fires_alone_and_the_next_follows_the_rhythm():
    p = plan("*/5 * * * *", "2025-03-01T08:05:00Z", "2025-03-01T08:07:30Z")
    assert (p.fire, p.skipped, p.unrecorded) == (utc("2025-03-01T08:05:00Z"), [], 0)
    assert (p.next_run, p.status, p.error) == (utc("2025-03-01T08:10:00Z"), ScheduleStatus.ACTIVE, None)


def test_a_one_time_schedule_fires_its_instant_and_completes():
    p = plan(None, "2025-03-01T08:05:00Z", "2025-03-01T09:00:00Z")
    assert (p.fire, p.next_run, p.status, p.skipped) == (
        utc("2025-03-01T08:05:00Z"),
        None,
        ScheduleStatus.COMPLETED,
        [],
    )


def test_the_newest_due_occurrence_fires_and_the_older_ones_are_skipped_with_a_note():
    p = plan("*/5 * * * *", "2025-03-01T08:00:00Z", "2025-03-01T08:12:00Z", "Europe/Paris")
    assert [at for at, _, _ in p.skipped] == [utc("2025-03-01T08:00:00Z"), utc("2025-03-01T08:05:00Z")]
    note = "Missed; the newest due occurrence 2025-03-01T08:10:00Z fired instead"
    assert all(n == note and reason == "MISSED" for _, reason, n in p.skipped)
    assert p.fire == utc("2025-03-01T08:10:00Z")
    assert p.next_run == cron.next_after("*/5 * * * *", "Europe/Paris", p.fire)


def test_a_sparse_schedule_records_every_missed_occurrence_under_the_cap():
    p = plan("0 9 * * MON", "2025-01-06T14:00:00Z", "2025-03-31T12:00:00Z", "America/New_York")
    # Mondays 9 AM New York from Jan 6 to Mar 24 missed (12 of them, across the DST change); Mar 31 not yet due.
    assert p.fire == utc("2025-03-24T13:00:00Z")
    assert [at for at, _, _ in p.skipped][0] == utc("2025-01-06T14:00:00Z")
    assert len(p.skipped) == 11 and p.unrecorded == 0
    assert all("without a record" not in note for _, _, note in p.skipped)
    assert p.next_run == utc("2025-03-31T13:00:00Z")


def test_past_the_cap_the_newest_are_recorded_and_the_oldest_row_counts_the_rest_exactly():
    # Every minute from 08:00 to 11:00 is due: 11:00 fires, 180 were missed, 100 are recorded.
    p = plan("* * * * *", "2025-03-01T08:00:00Z", "2025-03-01T11:00:30Z")
    assert p.fire == utc("2025-03-01T11:00:00Z")
    skipped = [at for at, _, _ in p.skipped]
    assert len(skipped) == catchup.SKIP_RECORD_CAP
    assert (skipped[0], skipped[-1]) == (utc("2025-03-01T09:20:00Z"), utc("2025-03-01T10:59:00Z"))
    assert p.unrecorded == 80
    assert p.skipped[0][2].endswith(
        "; 80 earlier missed occurrences, from 2025-03-01T08:00:00Z on, were skipped without a record"
    )
    assert p.next_run == utc("2025-03-01T11:01:00Z")


def test_a_very_long_outage_estimates_the_unrecorded_count_and_says_so():
    p = plan("* * * * *", "2024-03-01T00:00:00Z", "2025-03-01T00:00:30Z")  # a year of minutes
    assert p.fire == utc("2025-03-01T00:00:00Z")
    minutes = int((utc("2025-03-01T00:00:00Z") - utc("2024-03-01T00:00:00Z")) / timedelta(minutes=1))
    assert p.unrecorded + len(p.skipped) == pytest.approx(minutes, rel=0.01)
    assert "about " in p.skipped[0][2]


@pytest.mark.parametrize(
    ("expression", "tz", "reason"),
    [
        ("61 * * * *", "UTC", "Invalid minute field"),
        ("0 9 * * *", "Atlantis/Capital", "Unknown time zone"),
        ("0 0 30 2 *", "UTC", ""),  # February 30th never comes
    ],
)
def test_a_schedule_that_cannot_be_computed_fails_alone_without_raising(expression, tz, reason):
    p = plan(expression, "2025-03-01T08:00:00Z", "2025-03-01T09:00:00Z", tz)
    assert p.status == ScheduleStatus.FAILED and p.fire is None and p.next_run is None
    assert p.error.startswith("Next run cannot be computed: ") and reason in p.error


def test_schedules_sharing_an_expression_share_the_batch_cache():
    cache: dict = {}
    policies = [Policy(f"sched-{i}", "*/5 * * * *", "UTC") for i in range(3)]
    plans = [catchup.plan(p, utc("2025-03-01T08:05:00Z"), utc("2025-03-01T08:06:00Z"), cache) for p in policies]
    assert {p.next_run for p in plans} == {utc("2025-03-01T08:10:00Z")}
    timing = Timing("*/5 * * * *", "UTC")  # the whole rhythm is the key: expression, zone, DST policy, holidays
    assert cache == {(timing, utc("2025-03-01T08:05:00Z")): utc("2025-03-01T08:10:00Z")}
