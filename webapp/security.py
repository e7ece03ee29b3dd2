"""Safe defaults: a real SECRET_KEY in production, security headers, proxies, URLs without NUL."""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, request
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import DEV_SECRET_KEY, production_reason

# htmx runs from static/ and the templates carry no inline script or style, so 'self' is enough.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
HSTS = "max-age=31536000"
MIN_SECRET_LENGTH = 16
SECRET_HELP = (
    "Set SECRET_KEY in the environment to a long random value, e.g. "
    "SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_hex(32))')\", "
    "and give every worker and host the same one (sessions and CSRF tokens are signed with it)."
)


class InsecureSettings(RuntimeError):
    """The app refuses to start in production with settings that are only safe for development."""


def secret_key_refusal(key: str | None, reason: str | None) -> str | None:
    """Say, in one line, why this SECRET_KEY may not start a production process; None when it may."""
    key = str(key or "")
    if reason is None or (key != DEV_SECRET_KEY and len(key) >= MIN_SECRET_LENGTH):
        return None
    problem = "is the development default" if key == DEV_SECRET_KEY else "is missing or too short"
    return f"Refusing to start: SECRET_KEY {problem}, and {reason}. {SECRET_HELP}"


def check_secret_key(app: Flask, reason: str | None) -> None:
    """Refuse to start in production with the development SECRET_KEY, or a short one."""
    if app.config.get("TESTING"):
        return
    refusal = secret_key_refusal(app.config.get("SECRET_KEY"), reason)
    if refusal:
        raise InsecureSettings(refusal)


def _has_nul() -> bool:
    """Tell whether the path, the query string or a submitted form carries a NUL character."""
    values = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values += [*request.form.keys(), *request.form.values()]
    return any("\x00" in value for value in values)


def refuse_nul() -> None:
    """Answer 400 to a URL or form with a NUL character (PostgreSQL cannot even compare such text)."""
    if _has_nul():
        abort(400, description="The request must not contain NUL characters")


def refuse_oversized_stream() -> None:
    """Answer 413 to a streamed (chunked) body that reaches MAX_CONTENT_LENGTH.

    Werkzeug stops reading a body of unknown length at the limit without an error, which
    would hand the view a silently truncated body.
    """
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    streamed = request.content_length is None and "wsgi.input_terminated" in request.environ
    if limit and streamed and len(request.get_data(cache=True)) >= limit:
        abort(413)


def add_headers(response: Response) -> Response:
    """Set the security headers on every response (a view may set its own first)."""
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    if request.path.startswith("/aitp") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"  # answers to keyed calls are private
    return response


def init_app(app: Flask) -> None:
    """Check the settings, trust the configured proxies and install the request hooks."""
    check_secret_key(app, production_reason())
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies > 0:
        # Behind N proxies, X-Forwarded-For/-Proto/-Host give the client's address and scheme:
        # the login limit counts real addresses and url_for builds https links.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    app.before_request(refuse_oversized_stream)
    app.before_request(refuse_nul)
    app.after_request(add_headers)
