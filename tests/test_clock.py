"""The clock seam: freezing clock.utcnow freezes every instant the service stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from webapp.clock import iso_z
from webapp.extensions import db
from webapp.models import UTCDateTime
from webapp.scheduling import dispatcher

# Far from the real date, with microseconds, so an instant read from the wall clock cannot pass.
CREATED = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
OCCURRENCE = datetime(2031, 5, 6, 7, 10, tzinfo=UTC)
FIRED = OCCURRENCE + timedelta(milliseconds=250)
CLAIMED = datetime(2031, 5, 6, 7, 11, 30, 500000, tzinfo=UTC)
FINISHED = datetime(2031, 5, 6, 7, 12, 0, 750000, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
def frozen(freeze_clock):
    """Freeze clock.utcnow at CREATED; return a setter that moves it."""
    freeze_clock(CREATED)
    return freeze_clock


def stored_instants(app) -> dict[str, list[datetime]]:
    """Return every non-null instant stored in any table, keyed "table.column"."""
    found: dict[str, list[datetime]] = {}
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, UTCDateTime):
                    values = db.session.scalars(sa.select(column).where(column.isnot(None))).all()
                    if values:
                        found[f"{table.name}.{column.name}"] = sorted(values)
        db.session.rollback()
    return found


def test_a_frozen_clock_freezes_every_stored_instant(app, client, runner, frozen):
    owner, worker = (
        {
            "Authorization": "Bearer "
            + runner.invoke(args=["agents", "create", name, "--capability", "report-v1"]).output.splitlines()[-1]
        }
        for name in ("client-1", "worker-1")
    )
    assert runner.invoke(args=["users", "create", "ops", "--password", "a long password"]).exit_code == 0

    body = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}
    created = client.post("/aitp/tasks/schedule", json=body, headers=owner)
    assert created.status_code == 201, created.get_json()
    sid = created.get_json()["schedule_id"]
    assert created.get_json()["next_run_at"] == "2031-05-06T07:10:00Z"  # computed from the frozen now

    frozen(FIRED)
    with app.app_context():
        assert dispatcher.tick() == FIRED + dispatcher.MAX_SLEEP  # fires with the clock's now

    frozen(CLAIMED)
    claim = client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"], "lease_seconds": 60}, headers=worker)
    assert claim.status_code == 200, claim.get_json()
    [task] = claim.get_json()["tasks"]
    assert task["lease_expires_at"] == "2031-05-06T07:12:30.500000Z"

    frozen(FINISHED)
    done = client.post(f"/aitp/tasks/{task['task_id']}/complete", json={"result_data": {"ok": True}}, headers=worker)
    assert done.status_code == 200, done.get_json()

    assert stored_instants(app) == {
        "agents.created_at": [CREATED, CREATED],
        "operators.created_at": [CREATED],
        "tasks.created_at": [FIRED],
        "tasks.updated_at": [FINISHED],  # claimed at CLAIMED, then completed
        "tasks.started_at": [CLAIMED],
        "tasks.finished_at": [FINISHED],
        "scheduled_tasks.created_at": [CREATED],
        "scheduled_tasks.updated_at": [FIRED],
        "scheduled_tasks.next_run_at": [OCCURRENCE + timedelta(minutes=5)],
        "scheduled_tasks.last_run_at": [OCCURRENCE],
        "schedule_executions.scheduled_for": [OCCURRENCE],
        "schedule_executions.executed_at": [FIRED],
        "schedule_executions.started_at": [CLAIMED],
        "schedule_executions.finished_at": [FINISHED],
        "audit_log.at": [CREATED],  # the schedule's create entry
    }
    with app.app_context():
        assert dispatcher.earliest_next_run() == OCCURRENCE + timedelta(minutes=5)
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=owner).get_json()["last_run_at"] == "2031-05-06T07:10:00Z"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 11, 29, 15, 0, 0, 999999, tzinfo=ZoneInfo("Europe/Paris")), "2025-11-29T14:00:00.999999Z"),
        (datetime(2025, 11, 29, 14, 0), "2025-11-29T14:00:00Z"),  # naive: UTC already
        (datetime(2025, 11, 29, 14, 0, 59, 500000, tzinfo=UTC), "2025-11-29T14:00:59.500000Z"),
        (None, None),
    ],
)
def test_instants_are_written_as_utc_with_z_and_microseconds_only_when_present(value, expected):
    assert iso_z(value) == expected
