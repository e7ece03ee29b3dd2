"""Fixtures of the event tests: a receiver on 127.0.0.1 and webhooks that point at it."""

from __future__ import annotations

import pytest

from tests.receiver import Receiver, start


@pytest.fixture
def receiver():
    """Start a receiver that answers 500 twice, then 200; stop it after the test."""
    state = Receiver(script=[500, 500])
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def private_ok(app):
    """Let webhooks reach 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE=1), as for a local receiver."""
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True
    return app


@pytest.fixture
def hook(client, private_ok, receiver):
    """Return a factory: hook(headers, events=[...], url=None) registers a webhook; the receiver learns its secret."""

    def make(headers: dict, events: list[str] | None = None, url: str | None = None) -> dict:
        body = {"url": url or receiver.url, "events": events or ["execution.completed", "execution.failed"]}
        response = client.post("/aitp/webhooks", json=body, headers=headers)
        assert response.status_code == 201, response.get_json()
        created = response.get_json()
        receiver.secret = created["secret"]
        return created

    return make
