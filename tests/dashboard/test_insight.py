"""The operator pages of events and load: webhooks, the Changes section, tasks, calendar, forecast."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.dashboard_helpers import Dashboard
from tests.receiver import Receiver, start
from webapp.auth import Caller
from webapp.events import delivery
from webapp.extensions import db
from webapp.models import AuditEntry, ScheduledTask, Webhook, WebhookDelivery
from webapp.scheduling import dispatcher, tasks


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard with one agent, client-1, that may reach local receivers."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    ui = Dashboard(app, client).sign_in("carol")
    ui.agent("client-1", ["report-v1"])
    return ui


@pytest.fixture
def receiver():
    """A receiver that accepts everything."""
    state = Receiver()
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()


def new_webhook(ui: Dashboard, url: str) -> tuple[str, str]:
    """Register a webhook through the page; return (webhook_id, secret)."""
    response = ui.post(
        "/webhooks", {"url": url, "client_id": "client-1", "events": ["execution.failed"], "description": "pager"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    with ui.app.app_context():
        webhook = db.session.scalar(sa.select(Webhook))
        return webhook.webhook_id, webhook.secret


def test_register_shows_the_secret_once_with_a_python_check(ui, receiver):
    html = ui.post(
        "/webhooks", {"url": receiver.url, "client_id": "client-1", "events": ["execution.failed"]}
    ).get_data(as_text=True)
    with ui.app.app_context():
        secret = db.session.scalar(sa.select(Webhook.secret))
    assert secret in html and "hmac.compare_digest" in html and 'data-copy="#snippet"' in html
    listing = ui.get("/webhooks").get_data(as_text=True)
    assert receiver.url in listing and secret not in listing


def test_a_refused_webhook_shows_why_and_stores_nothing(ui):
    ui.app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    response = ui.post(
        "/webhooks", {"url": "http://10.0.0.5/hook", "client_id": "client-1", "events": ["execution.failed"]}
    )
    assert response.status_code == 400
    assert "private" in response.get_data(as_text=True)
    assert 'value="http://10.0.0.5/hook"' in response.get_data(as_text=True)  # what was typed stays
    with ui.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Webhook)) == 0


def test_send_test_event_then_the_log_shows_status_duration_and_redeliver_on_failure(ui, receiver):
    receiver.script = [500] * 9
    webhook_id, secret = new_webhook(ui, receiver.url)
    receiver.secret = secret
    response = ui.post(f"/webhooks/{webhook_id}/test", htmx=True)
    assert response.status_code == 200 and "webhook.test" in response.get_data(as_text=True)
    with ui.app.app_context():
        d = db.session.scalar(sa.select(WebhookDelivery))
        at = d.next_attempt_at
        for delay in (0, *delivery.RETRY_DELAYS):
            at += timedelta(seconds=delay)
            delivery.deliver_due(at)
    html = ui.get(f"/webhooks/{webhook_id}").get_data(as_text=True)
    assert "badge-failed" in html and "HTTP 500: nope" in html and " ms" in html
    assert html.count("<li>") >= 9  # every attempt is listed
    assert "Redeliver" in html
    redone = ui.post(f"/webhooks/{webhook_id}/deliveries/{d.delivery_id}/redeliver", htmx=True)
    assert redone.status_code == 200 and "Queued again" in redone.get_data(as_text=True)
    with ui.app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 2
    assert all(call.signature_ok for call in receiver.calls)


def test_delete_removes_the_webhook(ui, receiver):
    webhook_id, _ = new_webhook(ui, receiver.url)
    assert ui.post(f"/webhooks/{webhook_id}/delete").status_code == 302
    assert ui.get(f"/webhooks/{webhook_id}").status_code == 404


def test_the_detail_page_shows_who_changed_what(ui):
    sid = ui.schedule(priority=4)
    ui.post(f"/schedules/{sid}/pause")
    with ui.app.app_context():
        from webapp.scheduling import schedules

        schedules.update_schedule(Caller("client-1", False), sid, {"priority": 9})
    html = ui.get(f"/schedules/{sid}").get_data(as_text=True)
    section = html[html.index('id="changes"') :]
    assert "carol" in section and "pause" in section and "client-1" in section
    assert re.search(r"ACTIVE.{0,20}<\/span> → <span class=\"new\">.{0,10}PAUSED", section)
    assert section.index("update") < section.index("pause")  # newest first


def test_the_tasks_page_shows_the_queue_and_a_capability_no_worker_offers(ui):
    sid = ui.schedule(capability_required="fax-v1")
    ok = ui.schedule()
    with ui.app.app_context():
        dispatcher.run_now(Caller("client-1", False), sid)
        dispatcher.run_now(Caller("client-1", False), ok)
        tasks.claim(Caller("client-1", False), {"capabilities": ["report-v1"]})
    html = ui.get("/tasks").get_data(as_text=True)
    assert "fax-v1" in html and "no worker can run this" in html
    assert "report-v1" in html and "client-1" in html  # the holder of the running one
    partial = ui.get("/tasks", htmx=True).get_data(as_text=True)
    assert 'id="queue"' in partial and "<html" not in partial


def test_the_calendar_draws_planned_and_actual_runs(ui):
    sid = ui.schedule(cron_expression="0 * * * *", timezone="UTC", description="Hourly thing")
    with ui.app.app_context():
        execution = dispatcher.run_now(Caller("client-1", False), sid)
    today = datetime.now(UTC).date().isoformat()
    html = ui.get(f"/calendar?date={today}&tz=UTC&view=day").get_data(as_text=True)
    assert "Hourly thing" in html
    assert html.count("data-planned=") >= 1
    assert f"#exec-{execution.execution_id}" in html and 'data-status="PENDING"' in html
    week = ui.get(f"/calendar?date={today}&tz=Europe/Paris&view=week&client_id=client-1").get_data(as_text=True)
    assert "Hourly thing" in week and "Europe/Paris" in week
    other = ui.get(f"/calendar?date={today}&client_id=nobody").get_data(as_text=True)
    assert "Hourly thing" not in other and "Nothing planned" in other
    assert ui.get("/calendar?date=garbage&tz=Not/AZone&view=year").status_code == 200


def test_the_calendar_notes_a_daylight_saving_shift(ui):
    ui.schedule(cron_expression="30 2 * * *", timezone="America/New_York", description="DST job")
    html = ui.get("/calendar?date=2030-03-10&tz=America/New_York").get_data(as_text=True)
    assert "moved past a daylight-saving gap" in html


def test_the_forecast_lists_the_busiest_minute_and_spreads_a_schedule(ui):
    ids = [ui.schedule(cron_expression="7 3 * * *", timezone="UTC", description=f"Spike {i}") for i in range(3)]
    ui.schedule(cron_expression="0 12 * * *", timezone="UTC", description="Lonely")
    html = ui.get("/forecast?tz=UTC").get_data(as_text=True)
    busiest = html[html.index('data-testid="busiest"') :]
    body = busiest.index("<tbody>")
    first_row = busiest[body : busiest.index("</tr>", body)]
    assert "03:07" in first_row and "Spike 0" in first_row and ">3<" in first_row
    assert "Spread with 300 s jitter" in first_row
    response = ui.post(f"/forecast/spread/{ids[0]}", {"jitter_seconds": "300", "tz": "UTC"})
    assert response.status_code == 302
    assert ui.stored(ids[0]).jitter_seconds == 300
    with ui.app.app_context():
        entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "update"))
        assert (entry.actor_id, entry.changes["jitter_seconds"]) == ("carol", [0, 300])
    refused = ui.post(f"/forecast/spread/{ids[1]}", {"jitter_seconds": "999999"}, follow_redirects=True)
    assert "jitter_seconds" in refused.get_data(as_text=True)
    assert ui.stored(ids[1]).jitter_seconds == 0
    assert isinstance(ui.stored(ids[1]), ScheduledTask)
