"""The SSRF guard: only public http(s) receivers, checked on create and again at delivery."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa

from tests.events_helpers import deliveries, finish, new_schedule
from webapp.events import delivery, ssrf
from webapp.extensions import db
from webapp.models import Webhook

PUBLIC = "93.184.216.34"
BODY = {"events": ["execution.failed"]}


def resolve_to(monkeypatch, address: str) -> None:
    """Make every name resolve to `address` for the guard's own lookup."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    monkeypatch.setattr(ssrf, "_getaddrinfo", lambda host, port: [(family, socket.SOCK_STREAM, 6, "", (address, port))])


def webhook_count(app) -> int:
    """Count stored webhooks."""
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Webhook))


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/hook", "loopback"),
        ("http://127.8.9.10:8080/hook", "loopback"),
        ("http://10.1.2.3/hook", "private"),
        ("http://172.16.0.1/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:127.0.0.1]/hook", "loopback"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://[fd00::1]/hook", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://100.100.100.200/hook", "shared"),
        ("http://localhost:5000/hook", "loopback"),  # a name that resolves to loopback
    ],
)
def test_non_public_receivers_are_refused_on_create(client, auth, app, url, why):
    response = client.post("/aitp/webhooks", json={**BODY, "url": url}, headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", "url")
    assert why in error["message"]
    assert webhook_count(app) == 0


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://x/",
        "example.com/hook",
        "http:///nohost",
        "http://u:p@example.com/",
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(client, auth, app, url):
    response = client.post("/aitp/webhooks", json={**BODY, "url": url}, headers=auth)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "url"
    assert webhook_count(app) == 0


def test_a_name_that_does_not_resolve_is_refused(client, auth, app):
    response = client.post("/aitp/webhooks", json={**BODY, "url": "https://no-such-host.invalid/x"}, headers=auth)
    assert response.status_code == 400 and "cannot be resolved" in response.get_json()["error"]["message"]


def test_a_public_receiver_is_accepted(client, auth, app, monkeypatch):
    resolve_to(monkeypatch, PUBLIC)
    response = client.post("/aitp/webhooks", json={**BODY, "url": "https://hooks.example.com/x"}, headers=auth)
    assert response.status_code == 201
    assert webhook_count(app) == 1


def test_webhook_allow_private_lets_a_local_receiver_in(client, auth, app):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    response = client.post("/aitp/webhooks", json={**BODY, "url": "http://127.0.0.1:8080/x"}, headers=auth)
    assert response.status_code == 201
    # http(s) only, whatever the setting.
    refused = client.post("/aitp/webhooks", json={**BODY, "url": "ftp://127.0.0.1/x"}, headers=auth)
    assert refused.status_code == 400


def test_the_guard_runs_again_at_delivery(app, client, auth, hook, receiver):
    hook(auth, events=["execution.failed"])
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False  # the setting was turned off after the webhook was made
    finish(client, auth, new_schedule(client, auth), "fail")
    with app.app_context():
        delivery.deliver_due(deliveries(app)[0].next_attempt_at)
    [d] = deliveries(app)
    assert d.status == "PENDING" and d.last_status_code is None
    assert "loopback" in d.last_error and "refused" in d.last_error
    assert receiver.calls == []


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(
    app, client, auth, hook, receiver, monkeypatch
):
    hook(auth, events=["execution.failed"])
    app.config["WEBHOOK_ALLOW_PRIVATE"] = False
    resolve_to(monkeypatch, PUBLIC)  # the check sees a public address; the connection still reaches 127.0.0.1
    finish(client, auth, new_schedule(client, auth), "fail")
    with app.app_context():
        delivery.deliver_due(deliveries(app)[0].next_attempt_at)
    [d] = deliveries(app)
    assert d.status == "PENDING"
    assert "connected to a loopback address" in d.last_error
    assert receiver.calls == []
