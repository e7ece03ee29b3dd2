"""A PostgreSQL outage, for real: the test's own server is stopped and started under two dispatchers.

During the outage the API answers 503 with Retry-After and /healthz 503 naming the database; once the
server is back the API answers within 2 s; every occurrence due meanwhile fires once (the newest)
or is SKIPPED; and each dispatcher writes fewer than 30 log lines per minute of outage (the first
failure with a short traceback, then one line a minute, then one on recovery).
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from tests import pg_server
from tests.dispatch_helpers import due_count, wait_for
from tests.test_multiprocess import CLIENT, Dispatchers, assert_exactly_once
from webapp import create_app
from webapp.auth import create_agent
from webapp.extensions import db
from webapp.models import ScheduledTask
from webapp.scheduling import schedules

OUTAGE_SECONDS = 8
LINES_PER_MINUTE = 30
BODY = {"task_type": "report", "capability_required": "report-v1"}


@pytest.fixture
def server():
    """Yield a running throwaway PostgreSQL server with an empty `sched` database."""
    reason = pg_server.missing_reason()
    if reason:
        pytest.skip(f"no throwaway PostgreSQL server: {reason}")
    made = pg_server.Server()
    try:
        made.start()
        made.create_database()
        yield made
    finally:
        made.cleanup()


@pytest.fixture
def outage_app(server):
    """Return an app on the throwaway server, migrated, with client-1; dispose of it afterwards."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": server.url, "SCHEDULER_ENABLED": False})
    with app.app_context():
        upgrade()
        create_agent("client-1", None, ["report-v1"])
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _lines(path, start: int) -> list[str]:
    """Return the lines written to a log file after byte offset `start`."""
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace").splitlines()


def test_a_database_outage_answers_503_then_recovers_and_fires_everything_once(server, outage_app, tmp_path):
    app, client = outage_app, outage_app.test_client()
    with app.app_context():
        key = create_agent("watcher", None, ["report-v1"])
    headers = {"Authorization": f"Bearer {key}"}
    now = datetime.now(UTC)
    first = {}
    with app.app_context():
        for minutes in (1, 2, 3):  # already due: catch-up at start, then every minute
            s = schedules.create_schedule(
                CLIENT, {**BODY, "cron_expression": "* * * * *"}, now=now - timedelta(minutes=minutes)
            )
            first[s.schedule_id] = s.next_run_at
    dispatchers = Dispatchers(server.url, tmp_path)
    try:
        procs = [dispatchers.start(batch_size=20) for _ in range(2)]
        wait_for(lambda: due_count(app, datetime.now(UTC)) == 0, 30)

        # Occurrences that fall due while the database is down.
        down_at = datetime.now(UTC)
        with app.app_context():
            for i in range(6):
                run_at = down_at + timedelta(seconds=1.5 + i)
                s = schedules.create_schedule(CLIENT, {**BODY, "run_at": run_at.isoformat()}, now=down_at)
                first[s.schedule_id] = s.next_run_at
            cron_due = down_at + timedelta(seconds=3)
            s = schedules.create_schedule(CLIENT, {**BODY, "cron_expression": "* * * * *"}, now=down_at)
            db.session.execute(
                sa.update(ScheduledTask).where(ScheduledTask.schedule_id == s.schedule_id).values(next_run_at=cron_due)
            )
            db.session.commit()
            first[s.schedule_id] = cron_due
        offsets = [p.err.stat().st_size for p in procs]

        server.stop()
        stopped = time.monotonic()
        statuses, health = [], []
        while time.monotonic() - stopped < OUTAGE_SECONDS:
            response = client.get("/aitp/tasks/schedule", headers=headers)
            statuses.append(response.status_code)
            if response.status_code == 503:
                assert response.get_json()["error"]["code"] == "unavailable"
                assert int(response.headers["Retry-After"]) >= 1
            check = client.get("/healthz")
            health.append((check.status_code, check.get_json().get("failed")))
            time.sleep(0.5)
        outage_lines = [_lines(p.err, start) for p, start in zip(procs, offsets, strict=True)]
        server.start()
        back = time.monotonic()
        outage = back - stopped

        wait_for(lambda: client.get("/aitp/tasks/schedule", headers=headers).status_code == 200, 10)
        recovered = time.monotonic() - back
        assert client.get("/healthz").status_code == 200
        wait_for(lambda: due_count(app, datetime.now(UTC)) == 0, 20)
        # Each retries on its own back-off (at most 5 s) and says when it is back.
        wait_for(lambda: all("recovered after" in p.err.read_text() for p in procs), 15)
        dispatchers.stop_all()
    finally:
        dispatchers.kill_all()

    print(
        f"outage {outage:.1f} s: API {sorted(set(statuses))}, healthz {sorted(set(health))}, "
        f"API back {recovered:.2f} s after the server, dispatcher log lines {[len(lines) for lines in outage_lines]}"
    )
    assert set(statuses) == {503}
    assert set(health) == {(503, "database")}
    assert recovered < 2.0
    allowed = LINES_PER_MINUTE * max(1, math.ceil(outage / 60))
    for lines in outage_lines:
        assert len(lines) < allowed, "\n".join(lines)
        assert any("database unavailable (down)" in line for line in lines), "\n".join(lines)
    assert_exactly_once(app, first)
