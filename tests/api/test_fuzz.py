"""Fuzz every /aitp operation from the OpenAPI document with Schemathesis, on the live app.

Two passes per operation, both sent with an agent's key through the WSGI app:
- coverage: Schemathesis's deterministic boundary cases (limits +-1, empty and oversized
  values, wrong types, missing fields, undeclared methods), about 600 in all;
- fuzzing: Hypothesis-generated valid (positive) and invalid (negative) requests, with path
  ids half generated and half real, so the fuzz reaches schedules and tasks that exist.
Every answer must be a non-5xx that the document describes (status, content type, headers,
body). Hypothesis is derandomized and keeps no example database: the same cases run every
time, on every machine, so CI is not flaky.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.specs.openapi import checks

from webapp.api.openapi import document
from webapp.auth import Caller
from webapp.events import webhooks

EXAMPLES_PER_MODE = 12
CHECKS = [
    not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.ignored_auth,
    checks.unsupported_method,
    checks.allow_header_conformance,
]
# The schema endpoint serves the document itself; test_openapi.py covers it.
LABELS = [
    f"{method.upper()} {path}"
    for path, item in document()["paths"].items()
    for method in item
    if method != "parameters" and path != "/aitp/openapi.json"
]


@pytest.fixture
def world(app, client, make_agent) -> dict:
    """Create an owner with a schedule, a pending task, a claimed one and a calendar; return keys and ids."""
    owner = make_agent("fuzz-owner", capabilities=["report-v1"])
    make_agent("fuzz-other")
    body = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}
    schedule_id = client.post("/aitp/tasks/schedule", json=body, headers=owner).get_json()["schedule_id"]
    claimed = client.post(f"/aitp/tasks/schedule/{schedule_id}/run", headers=owner).get_json()["task_id"]
    assert client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=owner).status_code == 200
    pending = client.post(f"/aitp/tasks/schedule/{schedule_id}/run", headers=owner).get_json()["task_id"]
    calendar = {"name": "holidays", "dates": ["2026-12-25"]}
    calendar_id = client.post("/aitp/calendars", json=calendar, headers=owner).get_json()["calendar_id"]
    key = owner["Authorization"].removeprefix("Bearer ")
    with app.app_context():
        caller = Caller("fuzz-owner", False)
        body = {"url": "http://127.0.0.1:9/hook", "events": ["execution.failed"]}
        webhook_id = webhooks.create_webhook(caller, body, allow_private=True).webhook_id
        delivery_id = webhooks.send_test(caller, webhook_id)["delivery_id"]
    ids = {"schedule_id": schedule_id, "calendar_id": calendar_id, "webhook_id": webhook_id, "delivery_id": delivery_id}
    return {"key": key, "ids": {**ids, "task_id": [claimed, pending]}}


def _schema(app, world: dict):
    """Load the served document, with the owner's key as its bearer credentials."""
    # The key goes through the document's security scheme, so negative cases may drop it (and expect 401).
    config = schemathesis.Config.from_dict({"auth": {"openapi": {"bearerKey": {"bearer": world["key"]}}}})
    return schemathesis.openapi.from_wsgi("/aitp/openapi.json", app, config=config)


def _example(operation) -> dict | None:
    """Return the request body example the document gives for an operation, if any."""
    body = document()["paths"][operation.path][operation.method.lower()].get("requestBody")
    return body["content"]["application/json"]["example"] if body else None


def _strategy(operation, mode: GenerationMode, ids: dict):
    """Return cases with generated path ids, and the same with the ids of real rows."""
    names = {p.name for p in operation.path_parameters}
    strategies = [operation.as_strategy(generation_mode=mode)]
    example = _example(operation)
    if mode is GenerationMode.POSITIVE and example is not None:
        # The document's own example reaches past validation, where random text rarely does.
        strategies.append(operation.as_strategy(generation_mode=mode, body=example))
    if names:
        for task_id in ids["task_id"] if "task_id" in names else [None]:
            real = {**ids, "task_id": task_id}
            fixed = {name: real[name] for name in names}
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
    return st.one_of(strategies)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", LABELS)
def test_the_api_answers_every_generated_request_as_documented(app, world, label, mode):
    schema = _schema(app, world)
    operation = schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is not in the served document"
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES_PER_MODE,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=_strategy(operation, mode, world["ids"]))
    def run(case) -> None:
        """Send one case and hold its answer to the document."""
        response = case.call_and_validate(checks=CHECKS)
        statuses.append(response.status_code)

    run()
    print(f"{label} {mode}: {len(statuses)} cases, statuses {sorted(set(statuses))}")
    assert statuses, "no case was sent"
    assert all(s < 500 for s in statuses)


@pytest.mark.parametrize("label", LABELS)
def test_the_api_answers_every_boundary_case_as_documented(app, world, label):
    schema = _schema(app, world)
    operation = schema.find_operation_by_label(label)
    generator = CoverageGenerator(
        operation=operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
        auth_storage=None,
        override=Override(),
        feedback=FeedbackSources(),
    )
    statuses = [case.call_and_validate(checks=CHECKS).status_code for case in generator]
    print(f"{label} coverage: {len(statuses)} cases, statuses {sorted(set(statuses))}")
    assert statuses, "no case was generated"
    assert all(s < 500 for s in statuses)
