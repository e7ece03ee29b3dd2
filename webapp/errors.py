"""One domain error type, the table of error codes, and the handlers that render errors as JSON or HTML."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from . import faults
from .extensions import discard_session

log = logging.getLogger(__name__)

# Every error code: its HTTP status and what it means. The JSON and HTML handlers answer with the
# status, and the OpenAPI document describes each status by its codes. A bare HTTP error (one the
# framework raises, not a ServiceError) carries the first code listed for its status.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "bad_request": (400, "A malformed request, e.g. a NUL character in the URL"),
    "bad_json": (400, "Malformed JSON"),
    "validation_error": (400, "A refused field or query parameter; `field` names it"),
    "unauthorized": (401, "No API key, or a key that is unknown or revoked"),
    "forbidden": (403, "The caller may not do this"),
    "not_found": (404, "Absent, or owned by another client: the two are not told apart"),
    "method_not_allowed": (405, "The path does not take this method; `Allow` lists those it takes"),
    "conflict": (409, "The current state forbids the change, e.g. editing a DELETED schedule"),
    "payload_too_large": (413, "The request body is over 1 MiB"),
    "unsupported_media_type": (415, "The body is not sent as application/json"),
    "rate_limited": (429, "Too many attempts; try again later"),
    "internal_error": (500, "An unexpected failure"),
    "unavailable": (
        503,
        "The database cannot serve right now: unreachable, a lock or statement ran out of time, a full disk "
        "or a read-only database. Nothing was changed; retry after `Retry-After` seconds",
    ),
}


def status_of(code: str) -> int:
    """Return the HTTP status an error code answers with (400 for a code not in the table)."""
    return ERROR_CODES.get(code, (400, ""))[0]


def codes_of(status: int) -> list[str]:
    """Return the error codes an HTTP status carries, in table order."""
    return [code for code, (code_status, _) in ERROR_CODES.items() if code_status == status]


class ServiceError(Exception):
    """A refused request: a code, a message for people, and the field at fault."""

    def __init__(self, code: str, message: str, field: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        """Return the HTTP status this error answers with."""
        return status_of(self.code)

    def to_dict(self) -> dict:
        """Return the JSON error body of the contract."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def invalid(message: str, field: str | None = None) -> ServiceError:
    """Return a validation error (400)."""
    return ServiceError("validation_error", message, field)


def not_found(what: str = "Schedule") -> ServiceError:
    """Return a not-found error (404)."""
    return ServiceError("not_found", f"{what} not found")


def conflict(message: str, field: str | None = None) -> ServiceError:
    """Return a state-conflict error (409)."""
    return ServiceError("conflict", message, field)


def unavailable(fault: faults.Fault) -> ServiceError:
    """Return the 503 of a database fault, with the seconds after which to retry."""
    return ServiceError("unavailable", fault.message, None, fault.retry_after)


def _http_code(status: int) -> str:
    """Return the code a bare HTTP error of this status carries ("error" for one not in the table)."""
    codes = codes_of(status)
    return codes[0] if codes else "error"


def _wants_json() -> bool:
    """Tell whether the request belongs to the JSON API."""
    return request.path.startswith("/aitp") or request.path in ("/healthz", "/metrics")


def _render(err: ServiceError):
    """Answer a ServiceError as JSON under the API, as a page elsewhere; 503s say when to retry."""
    if _wants_json():
        response = jsonify(err.to_dict())
    else:
        response = make_response(render_template("error.html", code=err.status, message=err.message))
    response.status_code = err.status
    if err.retry_after is not None:
        response.headers["Retry-After"] = str(err.retry_after)
    return response


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        return _render(err)

    @app.errorhandler(SQLAlchemyError)
    def _database_error(err: SQLAlchemyError):
        fault = faults.classify(err)
        if fault is None:
            return _unexpected(err)
        discard_session()
        first = str(err).splitlines()[0]
        faults.note(
            log, f"request {fault.kind}", "%s %s answered 503 (%s): %s", request.method, request.path, fault.kind, first
        )
        return _render(unavailable(fault))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = err.code or 500
        if _wants_json():
            message = err.description or err.name
            if code == 413:
                message = "Request body too large (limit 1 MiB)"
            body = {"error": {"code": _http_code(code), "message": message, "field": None}}
            response = jsonify(body)
            valid = getattr(err, "valid_methods", None)
            if code == 405 and valid:
                response.headers["Allow"] = ", ".join(valid)
            return response, code
        return render_template("error.html", code=code, message=err.description or err.name), code

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        status = status_of("internal_error")
        if _wants_json():
            body = {"error": {"code": "internal_error", "message": "Internal server error", "field": None}}
            return jsonify(body), status
        return render_template("error.html", code=status, message="Internal server error"), status
