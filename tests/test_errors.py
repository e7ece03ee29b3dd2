"""The one table of error codes: the JSON and HTML handlers and the OpenAPI document all read it."""

from __future__ import annotations

import pytest

from tests.dashboard_helpers import Dashboard
from webapp.api import openapi
from webapp.errors import ERROR_CODES, ServiceError, codes_of, status_of


@pytest.mark.parametrize(("code", "entry"), list(ERROR_CODES.items()))
def test_a_service_error_answers_with_its_codes_status(code, entry):
    assert ServiceError(code, "m").status == status_of(code) == entry[0]


def test_an_unknown_code_is_a_400():
    assert ServiceError("something_else", "m").status == 400


def test_the_openapi_errors_are_described_by_the_table():
    for status, (_name, description) in openapi.ERRORS.items():
        codes = codes_of(status)
        assert codes, status
        for code in codes:
            assert f"({code})" in description and ERROR_CODES[code][1] in description
    assert openapi.ERRORS[413][0] == "PayloadTooLarge" and openapi.ERRORS[404][0] == "NotFound"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [("/aitp/nowhere", 404, "not_found"), ("/aitp/tasks/claim", 405, "method_not_allowed")],
)
def test_a_bare_http_error_carries_the_first_code_of_its_status(client, path, status, code):
    response = client.get(path)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code == codes_of(status)[0]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/schedules/sched-absent", 404), ("/schedules/sched-absent/edit", 404), ("/no/such/page", 404)],
)
def test_the_html_handler_answers_with_the_tables_status(app, client, path, status):
    Dashboard(app, client).sign_in()
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
