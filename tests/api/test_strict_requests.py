"""Strict and consistent answers: unknown query parameters, run-now bodies, paging limits, worded limits."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.dashboard_helpers import store_executions
from webapp.api.openapi import openapi_path
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution

SCHEDULE = {
    "task_type": "daily-report",
    "capability_required": "report-v1",
    "cron_expression": "0 9 * * *",
    "timezone": "America/New_York",
}


def _create(client, headers, **changes) -> str:
    """Create a schedule; return its id."""
    response = client.post("/aitp/tasks/schedule", json={**SCHEDULE, **changes}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["schedule_id"]


def _error(response, status: int = 400) -> dict:
    """Assert the status and the error shape; return the error object."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return body["error"]


def _add_executions(app, schedule_id: str, statuses: list[str]) -> None:
    """Store executions a day apart, oldest first."""
    store_executions(app, schedule_id, statuses, timedelta(days=1))


def test_an_unknown_query_parameter_is_refused_like_an_unknown_body_field(client, auth):
    sid = _create(client, auth)
    query = _error(client.get("/aitp/tasks/schedule?sort=name", headers=auth))
    body = _error(client.put(f"/aitp/tasks/schedule/{sid}", json={"sort": "name"}, headers=auth))
    assert query == {"code": "validation_error", "message": "Unknown query parameter: sort", "field": "sort"}
    assert body == {"code": "validation_error", "message": "Unknown field: sort", "field": "sort"}


def test_every_endpoint_refuses_a_query_parameter_it_does_not_take(app, client, make_agent):
    admin = make_agent("root", admin=True)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/aitp") or rule.rule.endswith("openapi.json"):
            continue
        path = re.sub(r"<[^>]*schedule_id>", "sched-absent", rule.rule)
        path = re.sub(r"<[^>]*task_id>", "task-absent", path)
        path = re.sub(r"<[^>]*calendar_id>", "cal-absent", path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(f"{path}?bogus=1", method=method, json={}, headers=admin)
            error = _error(response)
            assert error["field"] == "bogus", (method, openapi_path(rule.rule), error)
            checked += 1
    assert checked >= 11


def test_an_unknown_query_parameter_still_needs_a_key_first(client):
    assert _error(client.get("/aitp/tasks/schedule?sort=name"), 401)["code"] == "unauthorized"


def test_a_parameter_given_twice_is_refused(client, auth):
    error = _error(client.get("/aitp/tasks/schedule?limit=5&limit=6", headers=auth))
    assert error["field"] == "limit" and error["message"] == "limit is given more than once"


def test_executions_filter_by_status_and_refuse_an_unknown_one(client, auth, app):
    sid = _create(client, auth)
    _add_executions(app, sid, ["COMPLETED", "FAILED", "COMPLETED", "SKIPPED"])
    page = client.get(f"/aitp/tasks/schedule/{sid}/executions?status=COMPLETED", headers=auth).get_json()
    assert page["total"] == 2 and {e["status"] for e in page["executions"]} == {"COMPLETED"}
    error = _error(client.get(f"/aitp/tasks/schedule/{sid}/executions?status=DONE", headers=auth))
    assert error["field"] == "status" and "COMPLETED" in error["message"] and "DONE" not in error["message"]


@pytest.mark.parametrize("path", ["/aitp/tasks/schedule", "/aitp/tasks/schedule/{sid}/executions"])
@pytest.mark.parametrize("limit", ["0", "101", "500"])
def test_every_paged_list_takes_limits_from_1_to_100_and_says_so(client, auth, path, limit):
    sid = _create(client, auth)
    error = _error(client.get(path.format(sid=sid) + f"?limit={limit}", headers=auth))
    assert error == {"code": "validation_error", "message": "limit must be between 1 and 100", "field": "limit"}
    assert client.get(path.format(sid=sid) + "?limit=100", headers=auth).status_code == 200


def test_executions_offer_a_cursor_that_walks_every_page_once(client, auth, app):
    sid = _create(client, auth)
    _add_executions(app, sid, ["COMPLETED"] * 7)
    seen, cursor = [], None
    for _ in range(5):
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/aitp/tasks/schedule/{sid}/executions?{query}", headers=auth).get_json()
        assert page["total"] == 7
        seen += [e["scheduled_for"] for e in page["executions"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7
    assert _error(client.get(f"/aitp/tasks/schedule/{sid}/executions?cursor=%%%", headers=auth))["field"] == "cursor"


def test_run_now_refuses_a_body_field_and_fires_nothing(client, auth, app):
    sid = _create(client, auth)
    error = _error(client.post(f"/aitp/tasks/schedule/{sid}/run", json={"input_data": {"x": 1}}, headers=auth))
    assert error == {"code": "validation_error", "message": "Unknown field: input_data", "field": "input_data"}
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScheduleExecution)) == 0
        assert db.session.get(ScheduledTask, sid).total_runs == 0
    plain = client.post(f"/aitp/tasks/schedule/{sid}/run", data="text", headers=auth, content_type="text/plain")
    assert _error(plain, 415)["code"] == "unsupported_media_type"
    assert client.post(f"/aitp/tasks/schedule/{sid}/run", json={}, headers=auth).status_code == 201
    assert client.post(f"/aitp/tasks/schedule/{sid}/run", headers=auth).status_code == 201


def test_a_long_value_is_refused_by_naming_the_limit_not_echoing_it(client, auth, app):
    text = "x" * 5000
    error = _error(client.post("/aitp/tasks/schedule", json={**SCHEDULE, "description": text}, headers=auth))
    assert error == {
        "code": "validation_error",
        "message": "description is longer than 2,000 characters",
        "field": "description",
    }
    error = _error(client.post("/aitp/tasks/schedule", json={**SCHEDULE, "task_type": ""}, headers=auth))
    assert error["message"] == "task_type must not be empty"
    error = _error(client.post("/aitp/tasks/schedule", json={**SCHEDULE, text: 1}, headers=auth))
    assert len(error["message"]) < 100 and len(error["field"]) <= 64
    error = _error(client.get(f"/aitp/tasks/schedule?{text}=1", headers=auth))
    assert len(error["message"]) < 100 and len(error["field"]) <= 64
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ScheduledTask)) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("post", "/aitp/tasks/schedule", {**SCHEDULE, "priority": 11}, "priority must be between 1 and 10"),
        (
            "post",
            "/aitp/tasks/schedule/preview",
            {"cron_expression": "@daily", "count": 0},
            "count must be between 1 and 50",
        ),
        ("post", "/aitp/tasks/claim", {"capabilities": ["report-v1"], "limit": 101}, "limit must be between 1 and 100"),
        (
            "post",
            "/aitp/tasks/claim",
            {"capabilities": ["report-v1"], "lease_seconds": 0},
            "lease_seconds must be between 1 and 86,400",
        ),
        ("get", "/aitp/tasks/schedule?offset=-1", None, "offset must be between 0 and 2,147,483,647"),
    ],
)
def test_every_range_error_reads_the_same_way(client, auth, method, path, body, message):
    response = getattr(client, method)(path, json=body, headers=auth) if body else client.get(path, headers=auth)
    assert _error(response)["message"] == message
