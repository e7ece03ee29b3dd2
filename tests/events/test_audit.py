"""The audit log: every action from the API, the dashboard and the system, with who, when and what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.dashboard_helpers import Dashboard
from tests.events_helpers import new_schedule
from webapp.auth import Caller
from webapp.extensions import db, write_transaction
from webapp.models import AuditEntry, ScheduledTask
from webapp.scheduling import dispatcher, schedules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def entries(app, schedule_id: str) -> list[AuditEntry]:
    """Return a schedule's audit entries, oldest first."""
    with app.app_context():
        query = sa.select(AuditEntry).where(AuditEntry.schedule_id == schedule_id)
        rows = list(db.session.scalars(query.order_by(AuditEntry.at, AuditEntry.audit_id)))
        db.session.expunge_all()
        return rows


def test_every_api_action_is_audited_with_its_agent_and_changes(app, client, auth):
    sid = new_schedule(client, auth, priority=4)
    url = f"/aitp/tasks/schedule/{sid}"
    assert client.put(url, json={"priority": 8, "description": "nightly"}, headers=auth).status_code == 200
    assert client.put(url, json={"status": "PAUSED"}, headers=auth).status_code == 200
    assert client.put(url, json={"status": "ACTIVE"}, headers=auth).status_code == 200
    assert client.post(f"{url}/run", headers=auth).status_code == 201
    assert client.put(url, json={"priority": 8}, headers=auth).status_code == 200  # changes nothing: no entry
    assert client.delete(url, headers=auth).status_code == 200
    found = entries(app, sid)
    assert [e.action for e in found] == ["create", "update", "pause", "resume", "run_now", "delete"]
    assert {(e.actor_type, e.actor_id) for e in found} == {("AGENT", "client-1")}
    create, update, pause, resume, run_now, delete = found
    assert create.changes["priority"] == [None, 4] and create.changes["cron_expression"] == [None, "0 9 * * *"]
    assert update.changes == {"priority": [4, 8], "description": [None, "nightly"]}
    assert pause.changes["status"] == ["ACTIVE", "PAUSED"]
    assert resume.changes["status"] == ["PAUSED", "ACTIVE"]
    assert run_now.changes["total_runs"] == [0, 1] and run_now.changes["execution_id"][1].startswith("exec-")
    assert delete.changes["status"] == ["ACTIVE", "DELETED"]


def test_a_refused_change_leaves_no_entry(app, client, auth):
    sid = new_schedule(client, auth)
    assert client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 99}, headers=auth).status_code == 400
    assert client.put(f"/aitp/tasks/schedule/{sid}", json={"cron_expression": "nope"}, headers=auth).status_code == 400
    assert [e.action for e in entries(app, sid)] == ["create"]


def test_the_audit_api_answers_newest_first_and_only_to_the_owner(app, client, make_agent):
    owner, other = make_agent("client-1"), make_agent("client-2")
    admin = make_agent("root", admin=True)
    sid = new_schedule(client, owner)
    client.put(f"/aitp/tasks/schedule/{sid}", json={"status": "PAUSED"}, headers=owner)
    mine = client.get(f"/aitp/audit?schedule_id={sid}", headers=owner).get_json()
    assert mine["total"] == 2 and [e["action"] for e in mine["events"]] == ["pause", "create"]
    entry = mine["events"][0]
    assert entry["actor"] == {"type": "AGENT", "id": "client-1"} and entry["schedule_id"] == sid
    assert entry["changes"]["status"] == ["ACTIVE", "PAUSED"] and entry["at"].endswith("Z")
    assert client.get("/aitp/audit", headers=other).get_json()["total"] == 0
    absent = client.get(f"/aitp/audit?schedule_id={sid}", headers=other)
    assert absent.status_code == 404 and absent.get_json()["error"]["code"] == "not_found"
    assert client.get("/aitp/audit", headers=admin).get_json()["total"] == 2
    paged = client.get("/aitp/audit?limit=1&offset=1", headers=owner).get_json()
    assert [e["action"] for e in paged["events"]] == ["create"]
    assert client.get("/aitp/audit?limit=0", headers=owner).status_code == 400


def test_dashboard_actions_are_audited_with_the_operator(app, client):
    ui = Dashboard(app, client).sign_in("alice")
    ui.agent("client-1")
    sid = ui.schedule()
    for action in ("pause", "resume", "run", "delete"):
        assert ui.post(f"/schedules/{sid}/{action}").status_code == 302
    found = entries(app, sid)
    assert [e.action for e in found] == ["create", "pause", "resume", "run_now", "delete"]
    assert {(e.actor_type, e.actor_id) for e in found[1:]} == {("OPERATOR", "alice")}


def test_dashboard_create_and_edit_are_audited_with_the_operator(app, client):
    ui = Dashboard(app, client).sign_in("bob")
    ui.agent("client-1")
    fields = {
        "client_id": "client-1",
        "task_type": "generate-report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "custom",
        "cron_expression": "0 9 * * *",
        "timezone": "UTC",
        "input_data": "{}",
        "description": "",
    }
    assert ui.post("/schedules/new", fields).status_code == 302
    with app.app_context():
        sid = db.session.scalar(sa.select(ScheduledTask.schedule_id))
    fields.pop("client_id")
    assert ui.post(f"/schedules/{sid}/edit", {**fields, "priority": "9"}).status_code == 302
    found = entries(app, sid)
    assert [(e.action, e.actor_type, e.actor_id) for e in found] == [
        ("create", "OPERATOR", "bob"),
        ("update", "OPERATOR", "bob"),
    ]
    assert found[1].changes == {"priority": [5, 9]}


def test_system_changes_are_audited(app, make_agent):
    make_agent("client-1")
    caller = Caller("client-1", False)
    body = {"task_type": "r", "capability_required": "report-v1"}
    with app.app_context():
        once = schedules.create_schedule(caller, {**body, "run_at": "2025-03-01T08:01:00Z"}, T0).schedule_id
        broken = schedules.create_schedule(caller, {**body, "cron_expression": "* * * * *"}, T0).schedule_id
        with write_transaction() as session:
            session.execute(
                sa.update(ScheduledTask).where(ScheduledTask.schedule_id == broken).values(timezone="Mars/Olympus")
            )
        dispatcher.fire_due(T0 + timedelta(minutes=2))
    [_, completed] = entries(app, once)
    assert (completed.actor_type, completed.actor_id, completed.action) == ("SYSTEM", "scheduler", "complete")
    assert completed.changes["status"] == ["ACTIVE", "COMPLETED"]
    assert completed.changes["next_run_at"] == ["2025-03-01T08:01:00Z", None]
    [_, failed] = entries(app, broken)
    assert (failed.actor_type, failed.action) == ("SYSTEM", "fail")
    assert failed.changes["status"] == ["ACTIVE", "FAILED"] and "Mars/Olympus" in failed.changes["last_error"][1]


def test_a_backfill_is_audited_with_what_it_fired(app, client, auth):
    sid = new_schedule(client, auth, cron_expression="0 * * * *")
    body = {"start": "2025-01-01T00:00:00Z", "end": "2025-01-01T03:00:00Z"}
    assert client.post(f"/aitp/tasks/schedule/{sid}/backfill", json=body, headers=auth).status_code == 201
    backfill = entries(app, sid)[-1]
    assert (backfill.action, backfill.actor_type, backfill.actor_id) == ("backfill", "AGENT", "client-1")
    assert backfill.changes["total_runs"] == [0, 3]
    assert backfill.changes["backfilled"][1] == "3 occurrences in [2025-01-01T00:00:00Z, 2025-01-01T03:00:00Z)"
    dry = client.post(f"/aitp/tasks/schedule/{sid}/backfill", json={**body, "dry_run": True}, headers=auth)
    assert dry.status_code == 200 and len(entries(app, sid)) == 2  # a dry run changes nothing
