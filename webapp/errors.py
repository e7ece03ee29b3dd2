"""One domain error type and the handlers that render it as JSON or HTML."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

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
}


class ServiceError(Exception):
    """A refused request: a code, a message for people, and the field at fault."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

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


def init_app(app: Flask) -> None:
    """Register the error handlers."""

    @app.errorhandler(ServiceError)
    def _service_error(err: ServiceError):
        if _wants_json():
            return jsonify(err.to_dict()), err.status
        return render_template("error.html", code=err.status, message=err.message), err.status

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
