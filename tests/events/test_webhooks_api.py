"""The webhook endpoints: the secret shown once, validation, isolation, deliveries, redeliver, test event."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.events_helpers import deliveries, finish, new_schedule
from webapp.events import delivery
from webapp.extensions import db
from webapp.models import Webhook, WebhookDelivery


def count(app, model) -> int:
    """Count the rows of a table."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_create_answers_the_secret_once(client, auth, hook):
    created = hook(auth, events=["execution.failed", "execution.failed", "task.unclaimed"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == ["execution.failed", "task.unclaimed"]
    assert created["webhook_id"].startswith("wh-") and created["created_at"].endswith("Z")
    read = client.get(f"/aitp/webhooks/{created['webhook_id']}", headers=auth).get_json()
    assert "secret" not in read and read["url"] == created["url"]
    listed = client.get("/aitp/webhooks", headers=auth).get_json()
    assert listed["total"] == 1 and "secret" not in listed["webhooks"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"events": ["execution.failed"]}, "url"),
        ({"url": "http://127.0.0.1/x"}, "events"),
        ({"url": "http://127.0.0.1/x", "events": []}, "events"),
        ({"url": "http://127.0.0.1/x", "events": ["execution.exploded"]}, "events"),
        ({"url": "http://127.0.0.1/x", "events": "execution.failed"}, "events"),
        ({"url": 5, "events": ["execution.failed"]}, "url"),
        ({"url": "http://127.0.0.1/x", "events": ["execution.failed"], "secret": "mine"}, "secret"),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(app, client, auth, private_ok, body, field):
    response = client.post("/aitp/webhooks", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field
    assert count(app, Webhook) == 0


def test_another_clients_webhook_is_absent(app, client, make_agent, hook):
    owner, other = make_agent("client-1"), make_agent("client-2")
    wid = hook(owner)["webhook_id"]
    finish(client, owner, new_schedule(client, owner), "fail")
    did = deliveries(app)[0].delivery_id
    for method, url in [
        ("GET", f"/aitp/webhooks/{wid}"),
        ("DELETE", f"/aitp/webhooks/{wid}"),
        ("GET", f"/aitp/webhooks/{wid}/deliveries"),
        ("POST", f"/aitp/webhooks/{wid}/test"),
        ("POST", f"/aitp/webhooks/{wid}/deliveries/{did}/redeliver"),
    ]:
        response = client.open(url, method=method, headers=other)
        assert response.status_code == 404, (method, url)
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.get("/aitp/webhooks", headers=other).get_json() == {
        "webhooks": [],
        "total": 0,
        "limit": 20,
        "offset": 0,
        "next_cursor": None,
    }
    assert count(app, Webhook) == 1 and count(app, WebhookDelivery) == 1


def test_the_delivery_log_is_newest_first_and_paged_with_each_attempt(app, client, auth, hook, receiver):
    wid = hook(auth)["webhook_id"]
    sid = new_schedule(client, auth)
    for outcome in ("fail", "complete", "fail"):
        finish(client, auth, sid, outcome)
    with app.app_context():
        delivery.deliver_due(deliveries(app)[-1].next_attempt_at)
    page = client.get(f"/aitp/webhooks/{wid}/deliveries?limit=2", headers=auth).get_json()
    assert page["total"] == 3 and len(page["deliveries"]) == 2
    newest = page["deliveries"][0]
    assert newest["event"] == "execution.failed"
    assert [a["status_code"] for d in page["deliveries"] for a in d["attempt_log"]]  # every attempt is shown
    rest = client.get(f"/aitp/webhooks/{wid}/deliveries?limit=2&offset=2", headers=auth).get_json()
    assert [d["event"] for d in rest["deliveries"]] == ["execution.failed"]
    attempt = rest["deliveries"][0]["attempt_log"][0]
    assert set(attempt) == {"number", "attempted_at", "status_code", "duration_ms", "error"}
    assert client.get(f"/aitp/webhooks/{wid}/deliveries?status=BOGUS", headers=auth).status_code == 400
    assert client.get(f"/aitp/webhooks/{wid}/deliveries?color=red", headers=auth).status_code == 400
    after = client.get(f"/aitp/webhooks/{wid}/deliveries?limit=2&cursor={page['next_cursor']}", headers=auth)
    assert [d["delivery_id"] for d in after.get_json()["deliveries"]] == [rest["deliveries"][0]["delivery_id"]]


def test_redeliver_queues_the_same_event_again_once_the_delivery_finished(app, client, auth, hook, receiver):
    receiver.script = []
    wid = hook(auth)["webhook_id"]
    finish(client, auth, new_schedule(client, auth), "fail")
    [first] = deliveries(app)
    url = f"/aitp/webhooks/{wid}/deliveries/{first.delivery_id}/redeliver"
    assert client.post(url, headers=auth).status_code == 409  # still pending
    with app.app_context():
        delivery.deliver_due(first.next_attempt_at)
    again = client.post(url, headers=auth)
    assert again.status_code == 201
    body = again.get_json()
    assert body["event_id"] == first.event_id and body["delivery_id"] != first.delivery_id
    assert body["status"] == "PENDING"
    with app.app_context():
        delivery.deliver_due(deliveries(app)[-1].next_attempt_at)
    assert [c.headers["X-Scheduler-Delivery"] for c in receiver.calls] == [first.event_id] * 2
    assert client.post(f"/aitp/webhooks/{wid}/deliveries/dlv-nope/redeliver", headers=auth).status_code == 404


def test_send_test_event_reaches_only_that_webhook(app, client, auth, hook, receiver):
    receiver.script = []
    wid = hook(auth)["webhook_id"]
    other = hook(auth)["webhook_id"]
    sent = client.post(f"/aitp/webhooks/{wid}/test", headers=auth)
    assert sent.status_code == 201 and sent.get_json()["event"] == "webhook.test"
    assert deliveries(app, other) == []
    with app.app_context():
        delivery.deliver_due(deliveries(app)[0].next_attempt_at)
    [call] = receiver.calls
    assert call.body["event"] == "webhook.test" and call.body["schedule_id"] is None
    log = client.get(f"/aitp/webhooks/{wid}/deliveries", headers=auth).get_json()["deliveries"]
    assert log[0]["status"] == "DELIVERED" and log[0]["attempt_log"][0]["status_code"] == 200


def test_delete_removes_the_webhook_and_its_log(app, client, auth, hook):
    wid = hook(auth)["webhook_id"]
    finish(client, auth, new_schedule(client, auth), "fail")
    response = client.delete(f"/aitp/webhooks/{wid}", headers=auth)
    assert response.status_code == 200 and response.get_json() == {"webhook_id": wid, "deleted": True}
    assert client.get(f"/aitp/webhooks/{wid}", headers=auth).status_code == 404
    assert count(app, Webhook) == 0 and count(app, WebhookDelivery) == 0
    assert client.delete(f"/aitp/webhooks/{wid}", headers=auth).status_code == 404


def test_an_admin_sees_every_clients_webhooks(client, make_agent, hook):
    hook(make_agent("client-1"))
    hook(make_agent("client-2"))
    admin = make_agent("root", admin=True)
    assert client.get("/aitp/webhooks", headers=admin).get_json()["total"] == 2


def test_webhooks_need_a_key(client):
    assert client.get("/aitp/webhooks").status_code == 401
    assert client.post("/aitp/webhooks", json={}).status_code == 401
