"""Bad input is a 400 that changes nothing: lone surrogates, absurd nesting, dates past the calendar's end.

The named cases come first; then a bounded Hypothesis fuzzer aims at the JSON decoder (raw and
mutated bodies) and at every string field (surrogates, NULs, control and astral characters,
extreme and malformed date-times), on every /aitp endpoint that takes a body. It is derandomized
and keeps no example database, so CI runs the same cases every time.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.api.limits import MAX_JSON_DEPTH
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task

BODY = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "*/5 * * * *"}
JSON_HEADERS = {"Content-Type": "application/json"}


def send(client, method: str, url: str, text: str | bytes, headers: dict):
    """Send a raw JSON body."""
    return client.open(url, method=method, data=text, headers={**headers, **JSON_HEADERS})


def snapshot(app) -> tuple:
    """Return everything a refused request must leave as it was."""
    with app.app_context():
        rows = (
            db.session.execute(sa.select(ScheduledTask.__table__)).all(),
            db.session.execute(sa.select(Task.__table__)).all(),
            db.session.execute(sa.select(ScheduleExecution.__table__)).all(),
        )
        db.session.rollback()
        return tuple(sorted(map(repr, table)) for table in rows)


@pytest.fixture
def world(app, client, make_agent) -> dict:
    """An owner with a schedule and a claimed task."""
    owner = make_agent("client-1", capabilities=["report-v1"])
    sid = client.post("/aitp/tasks/schedule", json=BODY, headers=owner).get_json()["schedule_id"]
    tid = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=owner).get_json()["task_id"]
    assert client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=owner).status_code == 200
    return {"headers": owner, "sid": sid, "tid": tid}


def _assert_refused(response, code: str, field: str | None = None) -> dict:
    """A 400 in the JSON error shape."""
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code
    if field is not None:
        assert error["field"] == field
    return error


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('{"task_type": "a\\ud800b", "capability_required": "report-v1", "cron_expression": "* * * * *"}', "task_type"),
        (
            '{"task_type": "r", "capability_required": "report-v1", "run_at": null, "description": "\\udfff",'
            ' "cron_expression": "* * * * *"}',
            "description",
        ),
        (
            '{"task_type": "r", "capability_required": "report-v1", "cron_expression": "* * * * *",'
            ' "input_data": {"k": ["\\ud800"]}}',
            "input_data",
        ),
        (
            '{"task_type": "r", "capability_required": "report-v1", "cron_expression": "* * * * *",'
            ' "input_data": {"\\udc00": 1}}',
            "input_data",
        ),
    ],
)
def test_a_lone_surrogate_is_refused(app, client, world, text, field):
    before = snapshot(app)
    error = _assert_refused(send(client, "POST", "/aitp/tasks/schedule", text, world["headers"]), "validation_error")
    assert error["field"] == field and "surrogate" in error["message"]
    assert snapshot(app) == before


def test_a_lone_surrogate_in_a_result_or_an_error_message_is_refused(app, client, world):
    before = snapshot(app)
    url = f"/aitp/tasks/{world['tid']}"
    _assert_refused(
        send(client, "POST", f"{url}/complete", '{"result_data": "\\ud800"}', world["headers"]), "validation_error"
    )
    _assert_refused(
        send(client, "POST", f"{url}/fail", '{"error_message": "x\\ud800"}', world["headers"]), "validation_error"
    )
    assert snapshot(app) == before


@pytest.mark.parametrize("levels", [5000, 200, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_is_refused(app, client, world, levels):
    before = snapshot(app)
    nested = "[" * levels + "]" * levels
    text = json.dumps(BODY)[:-1] + f', "input_data": {{"deep": {nested}}}}}'
    response = send(client, "POST", "/aitp/tasks/schedule", text, world["headers"])
    error = _assert_refused(response, "bad_json" if levels == 5000 else "validation_error")
    assert "nested too deeply" in error["message"]
    complete = '{"result_data": ' + nested + "}"
    _assert_refused(
        send(client, "POST", f"/aitp/tasks/{world['tid']}/complete", complete, world["headers"]), error["code"]
    )
    assert snapshot(app) == before


def test_nesting_within_the_limit_is_accepted(client, world):
    nested = {"deep": None}
    for _ in range(MAX_JSON_DEPTH - 2):
        nested = {"deep": nested}
    response = client.post("/aitp/tasks/schedule", json={**BODY, "input_data": nested}, headers=world["headers"])
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize(
    ("run_at", "tz", "words"),
    [
        ("9999-12-31T23:59:00", "America/Los_Angeles", "out of range"),
        ("0001-01-01T00:30:00+05:00", "UTC", "out of range"),
        ("2027-02-30T09:00:00", "UTC", "day is out of range for month"),
        ("10000-01-01T00:00:00", "UTC", "Invalid date-time"),
    ],
)
def test_a_date_past_the_calendar_says_so(app, client, world, run_at, tz, words):
    before = snapshot(app)
    body = {"task_type": "r", "capability_required": "report-v1", "run_at": run_at, "timezone": tz}
    response = client.post("/aitp/tasks/schedule", json=body, headers=world["headers"])
    error = _assert_refused(response, "validation_error", "run_at")
    assert words in error["message"]
    assert snapshot(app) == before


def test_the_dashboard_form_refuses_deep_json_without_a_500(app, client):
    from tests.dashboard_helpers import Dashboard

    ui = Dashboard(app, client).sign_in()
    ui.agent()
    form = {
        "client_id": "client-1",
        "task_type": "report",
        "capability_required": "report-v1",
        "priority": "5",
        "kind": "custom",
        "cron_expression": "*/5 * * * *",
        "timezone": "UTC",
        "input_data": "[" * 5000 + "]" * 5000,
    }
    response = ui.post("/schedules/new", form)
    assert response.status_code == 400
    assert "Nested too deeply" in response.get_data(as_text=True)
    assert ui.count() == 0


# --- The fuzzer --------------------------------------------------------------------------------

# Characters that break naive handling: lone surrogates, NUL and controls, astral, RTL, BOM.
_NASTY = st.sampled_from(["\ud800", "\udfff", "\x00", "\x1b", "\u202e", "\ufeff", "\U0001f600", "\\", '"', "\n"])
NASTY_TEXT = st.lists(st.one_of(_NASTY, st.characters()), max_size=12).map("".join)
DATES = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:59", "0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00", "2026-13-01"]),
    NASTY_TEXT,
)
ZONES = st.one_of(st.sampled_from(["UTC", "America/Los_Angeles", "Pacific/Kiritimati", "Etc/GMT+12"]), NASTY_TEXT)
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), NASTY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NASTY_TEXT, inner, max_size=3)),
    max_leaves=12,
)


def _fields(kind: str):
    """Return a strategy for a body of one endpoint, every string field fuzzed."""
    texts = st.one_of(NASTY_TEXT, st.just("report-v1"))
    if kind == "schedule":
        known = st.fixed_dictionaries(
            {
                "task_type": texts,
                "capability_required": texts,
                "cron_expression": st.one_of(st.just("*/5 * * * *"), NASTY_TEXT),
            },
            optional={
                "run_at": DATES,
                "timezone": ZONES,
                "description": NASTY_TEXT,
                "input_data": JSON_VALUES,
                "priority": st.one_of(st.integers(1, 10), st.integers(), st.floats(), NASTY_TEXT),
            },
        )
        unknown = st.one_of(st.just({}), st.dictionaries(NASTY_TEXT, JSON_VALUES, max_size=1))
        return st.tuples(unknown, known).map(lambda pair: {**pair[0], **pair[1]})
    if kind == "preview":
        return st.fixed_dictionaries(
            {"cron_expression": st.one_of(NASTY_TEXT, st.just("0 9 * * *"))},
            optional={"timezone": ZONES, "start": DATES, "count": st.integers()},
        )
    if kind == "claim":
        return st.fixed_dictionaries(
            {"capabilities": st.lists(texts, max_size=3)},
            optional={"limit": st.integers(), "lease_seconds": st.integers()},
        )
    return st.fixed_dictionaries({}, optional={"result_data": JSON_VALUES, "error_message": NASTY_TEXT})


def _mutate(text: str, data) -> bytes:
    """Damage a JSON text the way broken clients do: cut it, splice bytes in, or nest it deeply."""
    raw = text.encode("utf-8", "surrogatepass")
    how = data.draw(st.sampled_from(["as_is", "cut", "splice", "nest", "bytes"]))
    if how == "cut":
        return raw[: data.draw(st.integers(0, len(raw)))]
    if how == "splice":
        at = data.draw(st.integers(0, len(raw)))
        return raw[:at] + data.draw(st.binary(max_size=8)) + raw[at:]
    if how == "nest":
        levels = data.draw(st.integers(1, 3000))
        return b'{"input_data": ' + b"[" * levels + raw + b"]" * levels + b"}"
    if how == "bytes":
        return data.draw(st.binary(max_size=64))
    return raw


ENDPOINTS = [
    ("POST", "/aitp/tasks/schedule", "schedule"),
    ("PUT", "/aitp/tasks/schedule/{sid}", "schedule"),
    ("POST", "/aitp/tasks/schedule/preview", "preview"),
    ("POST", "/aitp/tasks/claim", "claim"),
    ("POST", "/aitp/tasks/{tid}/complete", "finish"),
    ("POST", "/aitp/tasks/{tid}/fail", "finish"),
]


@pytest.mark.parametrize(("method", "path", "kind"), ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_fuzzed_bodies_never_get_a_500_and_a_refusal_changes_nothing(app, client, world, method, path, kind):
    url = path.format(sid=world["sid"], tid=world["tid"])
    seen: set[int] = set()

    @settings(
        max_examples=60,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(body=_fields(kind), data=st.data())
    def run(body, data) -> None:
        """Send one fuzzed body; a 5xx fails, a refusal must leave the database as it was."""
        before = snapshot(app)
        raw = _mutate(json.dumps(body, allow_nan=True), data)
        response = send(client, method, url, raw, world["headers"])
        seen.add(response.status_code)
        assert response.status_code < 500, (raw[:200], response.get_data(as_text=True))
        if response.status_code >= 400:
            error = response.get_json()["error"]
            assert set(error) == {"code", "message", "field"} and error["message"]
            assert snapshot(app) == before, raw[:200]

    run()
    print(f"{method} {path}: statuses {sorted(seen)}")
    assert seen & {400}, "the fuzzer never reached a refusal"
