"""Retention of the webhook outbox: finished deliveries and their events go after EVENT_RETENTION_DAYS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.events_helpers import attempts, deliveries, events
from webapp.events import retention
from webapp.extensions import db
from webapp.models import Event, Webhook, WebhookAttempt, WebhookDelivery, new_id

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=31)
RECENT = NOW - timedelta(days=29)


def outbox(app, make_agent, rows: list[tuple[str, datetime, datetime | None]]) -> list[str]:
    """Store one event per row with one delivery (status, occurred/created at, finished at) and an attempt
    for every finished one; return the event ids."""
    make_agent("client-1")
    ids = []
    with app.app_context():
        hook = Webhook(
            webhook_id=new_id("wh"), client_id="client-1", url="https://example.com/h", events=[], secret="s"
        )
        db.session.add(hook)
        for status, at, finished in rows:
            event = Event(
                event_id=new_id("evt"), event="execution.failed", client_id="client-1", occurred_at=at, data={}
            )
            delivery = WebhookDelivery(
                delivery_id=new_id("dlv"),
                webhook_id=hook.webhook_id,
                event_id=event.event_id,
                status=status,
                attempts=1,
                created_at=at,
                finished_at=finished,
                next_attempt_at=None if finished else NOW,
            )
            db.session.add_all([event, delivery])
            db.session.flush()
            if finished:
                attempt = WebhookAttempt(
                    delivery_id=delivery.delivery_id, number=1, attempted_at=finished, status_code=200, duration_ms=5
                )
                db.session.add(attempt)
            ids.append(event.event_id)
        db.session.commit()
    return ids


def test_ended_deliveries_older_than_the_retention_go_with_their_attempts_and_events(app, make_agent):
    delivered, failed, pending, fresh = outbox(
        app,
        make_agent,
        [("DELIVERED", OLD, OLD), ("FAILED", OLD, OLD), ("PENDING", OLD, None), ("DELIVERED", RECENT, RECENT)],
    )
    with app.app_context():
        pruned = retention.prune(NOW, 30)
    assert (pruned.deliveries, pruned.events) == (2, 2)
    assert {e.event_id for e in events(app)} == {pending, fresh}  # a pending delivery keeps its event, however old
    assert sorted(d.status for d in deliveries(app)) == ["DELIVERED", "PENDING"]
    assert len(attempts(app)) == 1  # the fresh delivery's
    with app.app_context():
        assert retention.prune(NOW, 30).deliveries == 0  # nothing left to prune


def test_zero_days_keeps_everything(app, make_agent):
    outbox(app, make_agent, [("DELIVERED", OLD, OLD)])
    with app.app_context():
        assert retention.prune(NOW, 0) == retention.Pruned()
    assert len(events(app)) == 1 and len(deliveries(app)) == 1


def test_prune_goes_in_bounded_chunks(app, make_agent, monkeypatch):
    monkeypatch.setattr(retention, "PRUNE_CHUNK", 2)
    outbox(app, make_agent, [("DELIVERED", OLD, OLD)] * 5)
    with app.app_context():
        first = retention.prune(NOW, 30, max_chunks=1)
        assert (first.deliveries, first.events) == (2, 0)  # one chunk, then the next run goes on
        rest = retention.prune(NOW, 30)
    assert (rest.deliveries, rest.events) == (3, 5)
    assert events(app) == [] and deliveries(app) == []


def test_the_timer_prunes_at_most_once_per_interval(app, make_agent):
    outbox(app, make_agent, [("DELIVERED", OLD, OLD)])
    pruner = retention.Pruner()
    with app.app_context():
        app.config["EVENT_RETENTION_DAYS"] = 30
        assert pruner.prune_if_due(NOW).deliveries == 1
        assert pruner.prune_if_due(NOW + timedelta(minutes=5)) is None
        assert pruner.prune_if_due(NOW + retention.PRUNE_EVERY) == retention.Pruned()


def test_the_cli_prunes_and_says_how_much(app, runner, make_agent, freeze_clock):
    freeze_clock(NOW)
    outbox(app, make_agent, [("DELIVERED", OLD, OLD), ("DELIVERED", RECENT, RECENT)])
    result = runner.invoke(args=["events", "prune", "--days", "30"])
    assert result.exit_code == 0, result.output
    assert "Deleted 1 webhook deliveries and 1 events older than 30 days." in result.output
    app.config["EVENT_RETENTION_DAYS"] = 0
    refused = runner.invoke(args=["events", "prune"])
    assert refused.exit_code == 1 and "keep everything" in refused.output
    assert runner.invoke(args=["events", "prune", "--days", "0"]).exit_code == 2  # a bad value changes nothing
    assert len(deliveries(app)) == 1


@pytest.mark.parametrize(("raw", "days"), [("", 30), ("0", 0), ("7", 7)])
def test_the_setting_is_read_from_the_environment(monkeypatch, tmp_path, raw, days):
    from webapp import config

    monkeypatch.setenv("EVENT_RETENTION_DAYS", raw)
    assert config.from_environment(str(tmp_path))["EVENT_RETENTION_DAYS"] == days


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5"])
def test_a_bad_setting_is_refused_by_name(monkeypatch, tmp_path, raw):
    from webapp import config

    monkeypatch.setenv("EVENT_RETENTION_DAYS", raw)
    with pytest.raises(ValueError, match="EVENT_RETENTION_DAYS must be a whole number of days"):
        config.from_environment(str(tmp_path))
