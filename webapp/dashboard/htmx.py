"""The dashboard's HTMX conventions: full page or partial, sign-in guard, notices."""

from __future__ import annotations

from flask import Response, current_app, render_template, request
from flask_login import current_user

from ..auth import Caller
from ..extensions import login_manager


def is_htmx() -> bool:
    """Tell whether HTMX asked for a fragment (a history restore wants the whole page)."""
    return bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")


def page(full: str, partial: str, status: int = 200, **context) -> Response:
    """Render the full page, or only its partial for an HTMX request (the contact-app pattern)."""
    template = partial if is_htmx() else full
    response = current_app.make_response((render_template(template, **context), status))
    # The same URL answers two shapes; caches must keep them apart.
    response.vary.add("HX-Request")
    return response


def fragment(template: str, status: int = 200, headers: dict | None = None, **context) -> Response:
    """Render a partial as the whole response."""
    response = current_app.make_response((render_template(template, **context), status))
    response.headers.update(headers or {})
    return response


def refusal(message: str, status: int) -> Response:
    """Answer a refused HTMX action: the reason goes to the page's notice region, not the target."""
    return fragment(
        "partials/_notice.html",
        status,
        {"HX-Retarget": "#notice", "HX-Reswap": "innerHTML"},
        message=message,
        level="error",
    )


def require_login():
    """Refuse a signed-out visitor (a blueprint before_request hook)."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def operator_caller() -> Caller:
    """Return the signed-in operator as a caller: sees everything, and is named in the audit log."""
    return Caller(agent_id=None, is_admin=True, operator=current_user.get_id())
