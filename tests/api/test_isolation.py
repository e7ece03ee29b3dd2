"""Tenant isolation: every /aitp endpoint against every kind of caller, with the database checked.

Roles: no key, a bad key, the owner of the rows, another (non-admin) agent, an admin. Another
agent's schedules and tasks answer 404 exactly as absent ones do, and a refused request leaves
every table as it was (all rows of all tables are compared before and after).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.api.openapi import document
from webapp.extensions import db
from webapp.models import WebhookDelivery

ROLES = ("none", "bad", "owner", "other", "admin")
CREATE = {
    "client_id": "owner",
    "task_type": "report",
    "capability_required": "report-v1",
    "cron_expression": "0 * * * *",
}

BACKFILL = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T03:00:00Z"}
CALENDAR = {"client_id": "owner", "name": "Holidays", "dates": ["2026-12-25"]}
HOOK = {"url": "http://127.0.0.1:9/hook", "events": ["execution.failed"]}

# endpoint: (method, url, body, expected status per role in ROLES order)
MATRIX = {
    "create": ("POST", "/aitp/tasks/schedule", CREATE, (401, 401, 201, 400, 201)),
    "list": ("GET", "/aitp/tasks/schedule?client_id=owner", None, (401, 401, 200, 200, 200)),
    "get": ("GET", "/aitp/tasks/schedule/{sid}", None, (401, 401, 200, 404, 200)),
    "update": ("PUT", "/aitp/tasks/schedule/{sid}", {"priority": 9}, (401, 401, 200, 404, 200)),
    "delete": ("DELETE", "/aitp/tasks/schedule/{sid}", None, (401, 401, 200, 404, 200)),
    "executions": ("GET", "/aitp/tasks/schedule/{sid}/executions", None, (401, 401, 200, 404, 200)),
    "run": ("POST", "/aitp/tasks/schedule/{sid}/run", None, (401, 401, 201, 404, 201)),
    "upcoming": ("GET", "/aitp/tasks/schedule/{sid}/upcoming?count=3", None, (401, 401, 200, 404, 200)),
    "backfill": ("POST", "/aitp/tasks/schedule/{sid}/backfill", BACKFILL, (401, 401, 201, 404, 201)),
    "preview": ("POST", "/aitp/tasks/schedule/preview", {"cron_expression": "@daily"}, (401, 401, 200, 200, 200)),
    # "other" never registered report-v1, so it may not offer it.
    "claim": ("POST", "/aitp/tasks/claim", {"capabilities": ["report-v1"]}, (401, 401, 200, 400, 200)),
    "task": ("GET", "/aitp/tasks/{tid}", None, (401, 401, 200, 404, 200)),
    # The admin sees the held task but does not hold it: 409, not a takeover.
    "complete": ("POST", "/aitp/tasks/{held}/complete", {"result_data": {"ok": True}}, (401, 401, 200, 404, 409)),
    "fail": ("POST", "/aitp/tasks/{held}/fail", {"error_message": "no"}, (401, 401, 200, 404, 409)),
    "heartbeat": ("POST", "/aitp/tasks/{held}/heartbeat", {}, (401, 401, 200, 404, 409)),
    "openapi": ("GET", "/aitp/openapi.json", None, (200, 200, 200, 200, 200)),
    "preview-change": ("POST", "/aitp/tasks/schedule/{sid}/preview-change", {"priority": 9}, (401, 401, 200, 404, 200)),
    "calendar-create": ("POST", "/aitp/calendars", CALENDAR, (401, 401, 201, 400, 201)),
    "calendar-list": ("GET", "/aitp/calendars?client_id=owner", None, (401, 401, 200, 200, 200)),
    "calendar-get": ("GET", "/aitp/calendars/{cid}", None, (401, 401, 200, 404, 200)),
    "calendar-update": ("PUT", "/aitp/calendars/{cid}", {"name": "Renamed"}, (401, 401, 200, 404, 200)),
    "calendar-delete": ("DELETE", "/aitp/calendars/{cid}", None, (401, 401, 200, 404, 200)),
    # Anyone may register a webhook of its own; only its owner (and admins) may see or touch it.
    "webhook-create": ("POST", "/aitp/webhooks", HOOK, (401, 401, 201, 201, 201)),
    "webhook-list": ("GET", "/aitp/webhooks", None, (401, 401, 200, 200, 200)),
    "webhook-get": ("GET", "/aitp/webhooks/{wid}", None, (401, 401, 200, 404, 200)),
    "webhook-delete": ("DELETE", "/aitp/webhooks/{wid}", None, (401, 401, 200, 404, 200)),
    "deliveries": ("GET", "/aitp/webhooks/{wid}/deliveries", None, (401, 401, 200, 404, 200)),
    "redeliver": ("POST", "/aitp/webhooks/{wid}/deliveries/{did}/redeliver", None, (401, 401, 201, 404, 201)),
    "webhook-test": ("POST", "/aitp/webhooks/{wid}/test", None, (401, 401, 201, 404, 201)),
    "audit": ("GET", "/aitp/audit?schedule_id={sid}", None, (401, 401, 200, 404, 200)),
}
CASES = [(name, role, spec[3][i]) for name, spec in MATRIX.items() for i, role in enumerate(ROLES)]


def snapshot(app) -> dict[str, list[tuple]]:
    """Return every row of every table, in a stable order."""
    with app.app_context():
        engine = db.engine
        tables = sa.inspect(engine).get_table_names()
        metadata = sa.MetaData()
        metadata.reflect(engine, only=tables)
        with engine.connect() as conn:
            return {
                name: sorted((tuple(map(repr, row)) for row in conn.execute(sa.select(table))), key=repr)
                for name, table in metadata.tables.items()
            }


@pytest.fixture
def tenants(app, client, make_agent) -> dict:
    """An owner with a schedule, a PENDING task, a RUNNING one it holds and a calendar; another agent; an admin."""
    headers = {
        "none": {},
        "bad": {"Authorization": "Bearer sk_not-a-key-of-anyone"},
        "owner": make_agent("owner", capabilities=["report-v1"]),
        "other": make_agent("other", capabilities=["mail-v1"]),
        "admin": make_agent("root", admin=True),
    }
    owner = headers["owner"]
    sid = client.post("/aitp/tasks/schedule", json=CREATE, headers=owner).get_json()["schedule_id"]
    held = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=owner).get_json()["task_id"]
    assert client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=owner).status_code == 200
    tid = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=owner).get_json()["task_id"]
    cid = client.post("/aitp/calendars", json=CALENDAR, headers=owner).get_json()["calendar_id"]
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver URL is never called
    wid = client.post("/aitp/webhooks", json=HOOK, headers=owner).get_json()["webhook_id"]
    did = client.post(f"/aitp/webhooks/{wid}/test", headers=owner).get_json()["delivery_id"]
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(status="FAILED"))  # finished: it may be redelivered
        db.session.commit()
    return {"headers": headers, "ids": {"sid": sid, "tid": tid, "held": held, "cid": cid, "wid": wid, "did": did}}


def test_the_matrix_covers_every_documented_operation():
    documented = {
        (method.upper(), path)
        for path, item in document()["paths"].items()
        for method in item
        if method != "parameters"
    }
    names = {
        "sid": "{schedule_id}",
        "tid": "{task_id}",
        "held": "{task_id}",
        "cid": "{calendar_id}",
        "wid": "{webhook_id}",
        "did": "{delivery_id}",
    }
    covered = {(method, url.split("?")[0].format(**names)) for method, url, _, _ in MATRIX.values()}
    assert covered == documented


@pytest.mark.parametrize(("endpoint", "role", "status"), CASES, ids=[f"{e}-{r}" for e, r, _ in CASES])
def test_each_role_gets_its_answer_and_a_refusal_changes_nothing(app, client, tenants, endpoint, role, status):
    method, url, body, _ = MATRIX[endpoint]
    url = url.format(**tenants["ids"])
    before = snapshot(app)
    response = client.open(url, method=method, json=body, headers=tenants["headers"][role])
    assert response.status_code == status, response.get_json()
    if status >= 400 or method == "GET" or endpoint in ("preview", "preview-change"):
        assert snapshot(app) == before, "a refused request or a read changed the database"
    else:
        assert snapshot(app) != before, "an accepted write left no trace (is the snapshot blind?)"
    if status >= 400:
        assert set(response.get_json()["error"]) == {"code", "message", "field"}


OWNED = ["get", "update", "delete", "executions", "run", "task", "complete", "fail", "preview-change"]
OWNED += ["calendar-get", "calendar-update"]
OWNED_HOOKS = ["webhook-get", "webhook-delete", "deliveries", "redeliver", "webhook-test", "audit"]


@pytest.mark.parametrize("endpoint", OWNED + OWNED_HOOKS)
def test_another_agents_row_looks_exactly_like_an_absent_one(client, tenants, endpoint):
    method, url, body, _ = MATRIX[endpoint]
    other = tenants["headers"]["other"]
    theirs = client.open(url.format(**tenants["ids"]), method=method, json=body, headers=other)
    absent_ids = {
        "sid": "sched-" + "0" * 32,
        "tid": "task-" + "0" * 32,
        "held": "task-" + "1" * 32,
        "cid": "cal-" + "0" * 32,
        "wid": "wh-" + "0" * 32,
        "did": "dlv-" + "0" * 32,
    }
    absent = client.open(url.format(**absent_ids), method=method, json=body, headers=other)
    assert theirs.status_code == absent.status_code == 404
    assert theirs.get_json() == absent.get_json()


def test_another_agent_lists_none_of_the_owners_schedules(client, tenants):
    other = tenants["headers"]["other"]
    for query in ("", "?client_id=owner", "?status=ACTIVE", "?client_id=owner&status=DELETED"):
        body = client.get(f"/aitp/tasks/schedule{query}", headers=other).get_json()
        assert body["schedules"] == [] and body["total"] == 0, query
    assert client.get("/aitp/tasks/schedule", headers=tenants["headers"]["owner"]).get_json()["total"] == 1


def test_another_agent_cannot_create_a_schedule_for_the_owner(app, client, tenants):
    before = snapshot(app)
    response = client.post("/aitp/tasks/schedule", json=CREATE, headers=tenants["headers"]["other"])
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == "client_id"
    assert snapshot(app) == before
