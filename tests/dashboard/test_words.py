"""Policies and the ledger in words: durations, retry waits (from policies.backoff), strip marks."""

from __future__ import annotations

import pytest

from webapp.dashboard import words


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0, "0 s"),
        (0.25, "0.2 s"),
        (10, "10 s"),
        (60, "1 min"),
        (90, "1 min 30 s"),
        (3600, "1 h"),
        (5400, "1 h 30 min"),
        (3661, "1 h 1 min"),  # two units at most
        (86400, "1 day"),
        (2 * 86400 + 3 * 3600, "2 days 3 h"),
        (None, "—"),
    ],
)
def test_span_writes_a_duration_exactly(seconds, text):
    """Whole units, the largest first, at most two of them."""
    assert words.span(seconds) == text


@pytest.mark.parametrize(
    "policy, text",
    [
        (None, "Does not retry: a failed attempt fails the run"),
        ({"max_attempts": 2}, "Retries once, 10 s after a failure"),
        ({"max_attempts": 3}, "Retries twice, 10 s then 20 s apart, up to 1 h"),
        (
            {"max_attempts": 4, "initial_interval_seconds": 30},
            "Retries 3 times, 30 s, 1 min then 2 min apart, up to 1 h",
        ),
        (
            {"max_attempts": 4, "initial_interval_seconds": 60, "backoff_coefficient": 1.0, "max_interval_seconds": 60},
            "Retries 3 times, 1 min, 1 min then 1 min apart, up to 1 min",
        ),
        (
            {"max_attempts": 4, "initial_interval_seconds": 600, "max_interval_seconds": 900},
            "Retries 3 times, 10 min, 15 min then 15 min apart, up to 15 min",  # the cap holds every wait
        ),
        (
            {"max_attempts": 10, "initial_interval_seconds": 5, "backoff_coefficient": 3.0},
            "Retries 9 times, 5 s, 15 s, 45 s, 2 min 15 s and so on apart, up to 1 h",
        ),
    ],
)
def test_retries_say_how_many_and_how_far_apart(policy, text):
    """The waits are the backoff the task loop applies, capped by the longest wait."""
    assert words.retries(policy) == text


@pytest.mark.parametrize(
    "status, reason, mark, said",
    [
        ("COMPLETED", None, "completed", "Completed"),
        ("SKIPPED", "OVERLAP", "skipped-overlap", "Skipped: the previous run was still going"),
        ("SKIPPED", None, "skipped-missed", "Skipped"),
        ("SKIPPED", "HOLIDAY", "skipped-holiday", "Skipped: a weekend day or a holiday"),
        ("CANCELLED", "REPLACED", "cancelled", "Cancelled: replaced by a newer run"),
        ("BUFFERED", None, "buffered", "Buffered"),
    ],
)
def test_each_occurrence_has_a_mark_and_words(status, reason, mark, said):
    """The strip's mark and title of an occurrence come from its status and reason."""
    assert words.strip_kind(status, reason) == mark
    assert words.outcome(status, reason) == said


def test_times_and_listing():
    """Counts and lists read as English."""
    assert [words.times(n) for n in (1, 2, 3)] == ["once", "twice", "3 times"]
    assert words.listing(["a"]) == "a"
    assert words.listing(["a", "b", "c"]) == "a, b then c"
