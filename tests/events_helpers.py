"""Helpers shared by the event tests: make a task finish through the API, read the outbox back."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Event, WebhookAttempt, WebhookDelivery

CREATE = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "0 9 * * *"}


def new_schedule(client, headers: dict, **fields) -> str:
    """Create a schedule through the API; return its id."""
    response = client.post("/aitp/tasks/schedule", json={**CREATE, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["schedule_id"]


def finish(client, headers: dict, schedule_id: str, outcome: str = "fail") -> str:
    """Run a schedule now, claim its task and complete or fail it; return the task id."""
    task_id = client.post(f"/aitp/tasks/schedule/{schedule_id}/run", headers=headers).get_json()["task_id"]
    claimed = client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=headers).get_json()
    assert [t["task_id"] for t in claimed["tasks"]] == [task_id]
    body = {"error_message": "disk full"} if outcome == "fail" else {"result_data": {"rows": 3}}
    assert client.post(f"/aitp/tasks/{task_id}/{outcome}", json=body, headers=headers).status_code == 200
    return task_id


def events(app) -> list[Event]:
    """Return every stored event, oldest first."""
    with app.app_context():
        rows = db.session.scalars(sa.select(Event).order_by(Event.occurred_at, Event.event_id)).all()
        return _detached(rows)


def deliveries(app, webhook_id: str | None = None) -> list[WebhookDelivery]:
    """Return the deliveries (of one webhook), oldest first."""
    with app.app_context():
        query = sa.select(WebhookDelivery).order_by(WebhookDelivery.created_at, WebhookDelivery.delivery_id)
        if webhook_id:
            query = query.where(WebhookDelivery.webhook_id == webhook_id)
        return _detached(db.session.scalars(query))


def attempts(app) -> list[WebhookAttempt]:
    """Return every logged attempt, in order."""
    with app.app_context():
        return _detached(db.session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.attempt_id)))


def _detached(rows) -> list:
    """Return loaded rows cut off from the session, so they stay readable after the app context ends."""
    rows = list(rows)
    db.session.expunge_all()
    db.session.rollback()
    return rows
