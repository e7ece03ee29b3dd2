"""The OpenAPI document: valid, served without a key, in step with the routes, true to real answers."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi

from webapp.api import schemas
from webapp.api.openapi import document, openapi_path
from webapp.extensions import db
from webapp.models import WebhookDelivery

IGNORED_METHODS = {"HEAD", "OPTIONS"}
CREATE = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}


def _strict(schema: Any) -> Any:
    """Return a copy of a schema in which every described object refuses undocumented fields."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {k: _strict(v) for k, v in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        strict["additionalProperties"] = False
    return strict


class Contract:
    """Check real responses against the document: status documented, body valid, no undocumented field."""

    def __init__(self) -> None:
        """Load the document and a strict copy of its components."""
        self.doc = document()
        self.components = _strict(self.doc["components"])
        self.seen: set[tuple[str, str, int]] = set()

    def check(self, response, method: str, path: str) -> dict:
        """Validate one response to `method path` (an OpenAPI path); return its JSON body."""
        operation = self.doc["paths"][path][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {path} answered an undocumented {status}"
        documented = operation["responses"][status]
        if "$ref" in documented:
            documented = self.doc["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
        assert response.mimetype == "application/json"
        schema = {"$ref": documented["content"]["application/json"]["schema"]["$ref"], "components": self.components}
        body = response.get_json()
        Draft202012Validator(schema, format_checker=FormatChecker()).validate(body)
        self.seen.add((method.upper(), path, response.status_code))
        return body


def _api_routes(app) -> set[tuple[str, str]]:
    """Return (METHOD, OpenAPI path) of every /aitp route the app serves."""
    return {
        (method, openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/aitp")
        for method in rule.methods - IGNORED_METHODS
    }


def _documented(doc: dict) -> set[tuple[str, str]]:
    """Return (METHOD, path) of every operation in a document."""
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item if method != "parameters"}


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    validate_openapi(doc)
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearerKey"]["description"],
    }


def test_the_document_is_served_without_a_key(client):
    response = client.get("/aitp/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == document()
    assert document()["paths"]["/aitp/openapi.json"]["get"]["security"] == []


def test_every_api_route_is_documented_and_every_documented_operation_is_served(app):
    served, documented = _api_routes(app), _documented(document())
    assert served - documented == set(), "routes missing from the document"
    assert documented - served == set(), "documented operations that no route serves"
    # The catalogue the document is built from names the task loop too, so it must be served.
    assert ("POST", "/aitp/tasks/claim") in served and ("GET", "/aitp/tasks/{task_id}") in served


def test_every_path_parameter_is_declared(app):
    doc = document()
    for path, item in doc["paths"].items():
        declared = {p["name"] for p in item.get("parameters", [])}
        named = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert named == declared, path


@pytest.mark.parametrize(
    ("component", "schema"),
    [
        ("ScheduleCreate", schemas.SCHEDULE_CREATE),
        ("ScheduleUpdate", schemas.SCHEDULE_UPDATE),
        ("PreviewRequest", schemas.PREVIEW),
        ("ClaimRequest", schemas.CLAIM),
        ("CompleteRequest", schemas.COMPLETE),
        ("FailRequest", schemas.FAIL),
        ("CalendarCreate", schemas.CALENDAR_CREATE),
        ("CalendarUpdate", schemas.CALENDAR_UPDATE),
    ],
)
def test_request_bodies_are_the_schemas_the_api_validates_with(component, schema):
    assert document()["components"]["schemas"][component] == schema


def test_every_request_example_is_valid_against_its_schema():
    doc = document()
    for item in doc["paths"].values():
        for operation in (v for k, v in item.items() if k != "parameters"):
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if media:
                ref = media["schema"]["$ref"].rsplit("/", 1)[1]
                Draft202012Validator(doc["components"]["schemas"][ref]).validate(media["example"])


def test_every_secured_operation_documents_401_and_every_body_415_and_413():
    for path, item in document()["paths"].items():
        for method, operation in ((k, v) for k, v in item.items() if k != "parameters"):
            if operation.get("security") != []:
                assert "401" in operation["responses"], f"{method} {path}"
            if "requestBody" in operation:
                assert {"400", "413", "415"} <= set(operation["responses"]), f"{method} {path}"


def test_real_answers_of_every_operation_match_the_document(app, client, make_agent):
    app.config["WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver URL below is never called
    owner = make_agent("owner", capabilities=["report-v1"])
    admin = make_agent("root", admin=True)
    contract = Contract()

    def call(method: str, url: str, path: str, headers: dict = owner, **kwargs) -> dict:
        """Send a request and hold its answer to the document."""
        return contract.check(client.open(url, method=method, headers=headers, **kwargs), method, path)

    sched, one = "/aitp/tasks/schedule", "/aitp/tasks/schedule/{schedule_id}"
    sid = call("POST", sched, sched, json=CREATE)["schedule_id"]
    call("GET", sched, sched)
    call("GET", f"{sched}?limit=1", sched, headers=admin)
    call("GET", f"{sched}/{sid}", one)
    call("PUT", f"{sched}/{sid}", one, json={"priority": 9})
    tid = call("POST", f"{sched}/{sid}/run", one + "/run")["task_id"]
    call("GET", f"{sched}/{sid}/executions", one + "/executions")
    call("GET", f"{sched}/{sid}/upcoming?count=3", one + "/upcoming")
    backfill = {"start": "2020-01-01T00:00:00Z", "end": "2020-01-01T00:03:00Z", "dry_run": True}
    call("POST", f"{sched}/{sid}/backfill", one + "/backfill", json=backfill)
    call("POST", f"{sched}/{sid}/preview-change", one + "/preview-change", json={"cron_expression": "0 10 * * *"})
    preview = {"cron_expression": "0 9 * * MON", "timezone": "America/New_York", "count": 3}
    call("POST", f"{sched}/preview", f"{sched}/preview", json=preview)
    claim = {"capabilities": ["report-v1"], "limit": 5}
    assert [t["task_id"] for t in call("POST", "/aitp/tasks/claim", "/aitp/tasks/claim", json=claim)["tasks"]] == [tid]
    call("GET", f"/aitp/tasks/{tid}", "/aitp/tasks/{task_id}")
    call("POST", f"/aitp/tasks/{tid}/complete", "/aitp/tasks/{task_id}/complete", json={"result_data": {"rows": 3}})
    second = client.post(f"{sched}/{sid}/run", headers=owner).get_json()["task_id"]
    client.post("/aitp/tasks/claim", json=claim, headers=owner)
    call("POST", f"/aitp/tasks/{second}/heartbeat", "/aitp/tasks/{task_id}/heartbeat")
    call("POST", f"/aitp/tasks/{second}/fail", "/aitp/tasks/{task_id}/fail", json={"error_message": "boom"})
    hooks, hook = "/aitp/webhooks", "/aitp/webhooks/{webhook_id}"
    body = {"url": "http://127.0.0.1:9/hook", "events": ["execution.failed"], "description": "pager"}
    wid = call("POST", hooks, hooks, json=body)["webhook_id"]
    call("GET", hooks, hooks)
    call("GET", f"{hooks}/{wid}", hook)
    test = call("POST", f"{hooks}/{wid}/test", hook + "/test")
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(status="FAILED", attempts=9, last_error="HTTP 500"))
        db.session.commit()
    url = f"{hooks}/{wid}/deliveries/{test['delivery_id']}/redeliver"
    call("POST", url, hook + "/deliveries/{delivery_id}/redeliver")
    call("GET", f"{hooks}/{wid}/deliveries", hook + "/deliveries")
    call("GET", f"/aitp/audit?schedule_id={sid}", "/aitp/audit")
    call("DELETE", f"{hooks}/{wid}", hook)
    call("DELETE", f"{sched}/{sid}", one)
    calendars, cal = "/aitp/calendars", "/aitp/calendars/{calendar_id}"
    cid = call("POST", calendars, calendars, json={"name": "Holidays", "dates": ["2026-12-25"]})["calendar_id"]
    call("GET", calendars, calendars)
    call("GET", f"{calendars}/{cid}", cal)
    call("PUT", f"{calendars}/{cid}", cal, json={"dates": ["2026-12-25", "2026-12-28"]})
    call("DELETE", f"{calendars}/{cid}", cal)
    assert {(m, p) for m, p, _ in contract.seen} == _documented(document()) - {("GET", "/aitp/openapi.json")}


def test_error_answers_match_the_document(client, make_agent):
    owner = make_agent("owner")
    other = make_agent("other")
    contract = Contract()
    s = "/aitp/tasks/schedule/{schedule_id}"
    sid = client.post("/aitp/tasks/schedule", json=CREATE, headers=owner).get_json()["schedule_id"]
    cases = [
        (
            client.post("/aitp/tasks/schedule", json={**CREATE, "priority": 11}, headers=owner),
            "POST",
            "/aitp/tasks/schedule",
            400,
        ),
        (
            client.post("/aitp/tasks/schedule", data="{oops", content_type="application/json", headers=owner),
            "POST",
            "/aitp/tasks/schedule",
            400,
        ),
        (client.post("/aitp/tasks/schedule", json=CREATE), "POST", "/aitp/tasks/schedule", 401),
        (
            client.get("/aitp/tasks/schedule", headers={"Authorization": "Bearer sk_nope"}),
            "GET",
            "/aitp/tasks/schedule",
            401,
        ),
        (client.get(f"/aitp/tasks/schedule/{sid}", headers=other), "GET", s, 404),
        (
            client.post(
                "/aitp/tasks/schedule", data="x" * (1024 * 1024 + 1), content_type="application/json", headers=owner
            ),
            "POST",
            "/aitp/tasks/schedule",
            413,
        ),
        (
            client.post("/aitp/tasks/schedule", data="task_type=x", content_type="text/plain", headers=owner),
            "POST",
            "/aitp/tasks/schedule",
            415,
        ),
        (client.get("/aitp/tasks/task-absent", headers=owner), "GET", "/aitp/tasks/{task_id}", 404),
    ]
    client.delete(f"/aitp/tasks/schedule/{sid}", headers=owner)
    cases.append((client.put(f"/aitp/tasks/schedule/{sid}", json={"priority": 1}, headers=owner), "PUT", s, 409))
    for response, method, path, status in cases:
        assert response.status_code == status, (method, path, response.get_json())
        body = contract.check(response, method, path)
        assert set(body["error"]) == {"code", "message", "field"}


@pytest.mark.parametrize(
    ("method", "url", "allowed"),
    [
        ("GET", "/aitp/tasks/claim", {"POST"}),
        ("GET", "/aitp/tasks/schedule/preview", {"POST"}),
        ("DELETE", "/aitp/tasks/schedule/preview", {"POST"}),
        ("PATCH", "/aitp/tasks/schedule", {"GET", "POST"}),
    ],
)
def test_an_undocumented_method_answers_405_with_allow_not_a_lookup(client, auth, method, url, allowed):
    # "preview" and "claim" are not ids: ids carry their prefix, so these never reach a lookup.
    response = client.open(url, method=method, headers=auth)
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) - {"HEAD", "OPTIONS"} == allowed
