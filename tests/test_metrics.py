"""Metrics that add up: under gunicorn with several workers, every scrape reports the whole server."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.dispatch_helpers import due_count, gunicorn, wait_for
from webapp import create_app
from webapp.auth import create_agent
from webapp.extensions import db
from webapp.models import ScheduleExecution

ROOT = Path(__file__).resolve().parent.parent
SCHEDULES = 12
CREATE = 'endpoint="api_schedules.create_schedule",method="POST",status="201"'


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sample(text: str, name: str, labels: str = "") -> float:
    """Return one sample of a Prometheus text answer (0 when absent)."""
    pattern = re.escape(name) + (r"\{" + re.escape(labels) + r"\}" if labels else "") + r" ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def call(base: str, path: str, key: str | None = None, body: dict | None = None) -> tuple[int, str]:
    """Send one request on a new connection (so any worker may answer); return (status, text)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.fixture
def agent_key(database_url) -> str:
    """Register client-1 on the test database; return its key."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        key = create_agent("client-1", None, ["report-v1"])
        db.session.remove()  # return the connection before the pool is thrown away
        db.engine.dispose()
    return key


@pytest.fixture
def server(database_url, agent_key, tmp_path):
    """Run a three-worker gunicorn on a free port; yield its URL."""
    port = free_port()
    with gunicorn(database_url, f"127.0.0.1:{port}", tmp_path / "gunicorn.err"):
        yield f"http://127.0.0.1:{port}"


def fired(database_url: str) -> int:
    """Count the executions that have a task (firings) in the database."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(ScheduleExecution).where(ScheduleExecution.task_id.isnot(None))
        count = db.session.scalar(query)
        db.session.remove()  # return the connection before the pool is thrown away
        db.engine.dispose()
    return count


def test_every_scrape_of_a_three_worker_server_reports_the_same_totals(server, agent_key, database_url):
    run_at = datetime.now(UTC) + timedelta(seconds=3)
    body = {"task_type": "report", "capability_required": "report-v1", "run_at": run_at.isoformat()}
    for _ in range(SCHEDULES):
        assert call(server, "/aitp/tasks/schedule", agent_key, body)[0] == 201
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SCHEDULER_ENABLED": False})
    wait_for(lambda: due_count(app, run_at + timedelta(seconds=1)) == 0, 30)
    with app.app_context():
        db.session.remove()  # return the connection before the pool is thrown away
        db.engine.dispose()
    assert fired(database_url) == SCHEDULES

    scrapes = [call(server, "/metrics")[1] for _ in range(10)]
    totals = [
        (
            sample(text, "scheduler_firings_total"),
            sample(text, "scheduler_fire_lateness_seconds_count"),
            sample(text, "scheduler_api_requests_total", CREATE),
        )
        for text in scrapes
    ]
    assert totals == [(SCHEDULES, SCHEDULES, SCHEDULES)] * 10
    # Each scrape is itself counted: ten scrapes answered by any of the workers count 1..10.
    seen = sorted(
        sample(t, "scheduler_api_requests_total", 'endpoint="ops.metrics",method="GET",status="200"') for t in scrapes
    )
    assert seen == [float(n) for n in range(10)]
