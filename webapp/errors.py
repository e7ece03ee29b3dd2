"""One domain error type and the handlers that render it as JSON or HTML."""

from __future__ import annotations

import logging
import time

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from . import faults
from .extensions import discard_session

log = logging.getLogger(__name__)

# HTTP status of each error code.
STATUS = {
    "bad_json": 400,
    "validation_error": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
    "unavailable": 503,
}
# Requests that meet a database fault log one line per fault kind per this many seconds.
FAULT_LOG_INTERVAL = 60.0


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
        return STATUS.get(self.code, 400)

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


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


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


_last_logged: dict[str, float] = {}


def _note_fault(fault: faults.Fault, err: Exception) -> None:
    """Log a request's database fault, one line per kind per FAULT_LOG_INTERVAL, never a traceback."""
    now = time.monotonic()
    if now - _last_logged.get(fault.kind, -FAULT_LOG_INTERVAL) >= FAULT_LOG_INTERVAL:
        _last_logged[fault.kind] = now
        log.warning("%s %s answered 503 (%s): %s", request.method, request.path, fault.kind, str(err).splitlines()[0])


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
        _note_fault(fault, err)
        return _render(unavailable(fault))

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = err.code or 500
        if _wants_json():
            message = err.description or err.name
            if code == 413:
                message = "Request body too large (limit 1 MiB)"
            body = {"error": {"code": _HTTP_CODES.get(code, "error"), "message": message, "field": None}}
            response = jsonify(body)
            valid = getattr(err, "valid_methods", None)
            if code == 405 and valid:
                response.headers["Allow"] = ", ".join(valid)
            return response, code
        return render_template("error.html", code=code, message=err.description or err.name), code

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json():
            body = {"error": {"code": "internal_error", "message": "Internal server error", "field": None}}
            return jsonify(body), 500
        return render_template("error.html", code=500, message="Internal server error"), 500
