"""Operator sign-in and sign-out, the Flask-Login wiring, and the login rate limit.

The rate limit is kept in memory, per process: 5 failed attempts for one username from one
address within 5 minutes answer 429 until the oldest failure ages out. Under gunicorn with
N workers an attacker gets at most 5*N tries per window; a shared store (Redis, the
database) would make it exact, and is the upgrade path if that matters.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Blueprint, Flask, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from .. import auth
from ..extensions import db, login_manager
from ..models import Operator
from .forms import LoginForm

bp = Blueprint("dashboard_login", __name__)

MAX_FAILURES = 5
WINDOW_SECONDS = 300.0


class LoginLimiter:
    """Count failed sign-ins per (username, address) in a sliding window."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Set the limit, the window in seconds and the clock (tests pass their own)."""
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        """Return the failures of a key still inside the window (the lock is held)."""
        failures = self._failures.setdefault(key, deque())
        cutoff = self.clock() - self.window
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return deque()
        return failures

    def retry_after(self, key: tuple[str, str]) -> int:
        """Return the seconds until this key may try again (0 when it may now)."""
        with self._lock:
            failures = self._recent(key)
            if len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[0] + self.window - self.clock()))

    def fail(self, key: tuple[str, str]) -> None:
        """Record a failed attempt."""
        with self._lock:
            self._recent(key)
            self._failures.setdefault(key, deque()).append(self.clock())

    def reset(self, key: tuple[str, str]) -> None:
        """Forget a key's failures after a successful sign-in."""
        with self._lock:
            self._failures.pop(key, None)


def limiter() -> LoginLimiter:
    """Return the app's limiter."""
    return current_app.extensions["login_limiter"]


def safe_next(target: str | None) -> str:
    """Return a local path to go to after sign-in; anything else goes to the schedule list."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("dashboard_views.schedule_list")


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Show the sign-in form; sign the operator in."""
    form = LoginForm(next=request.args.get("next", ""))
    if current_user.is_authenticated and request.method == "GET":
        return redirect(safe_next(form.next.data))
    status = 200
    if form.validate_on_submit():
        username = form.username.data.strip()
        key = (username.lower(), request.remote_addr or "")
        wait = limiter().retry_after(key)
        if wait:
            minutes = max(1, round(wait / 60))
            form.form_errors.append(f"Too many failed sign-ins. Try again in about {minutes} min.")
            response = current_app.make_response((render_template("login.html", form=form), 429))
            response.headers["Retry-After"] = str(wait)
            return response
        operator = auth.check_operator(username, form.password.data)
        if operator is not None:
            limiter().reset(key)
            session.clear()  # a fresh session on sign-in: no fixation of a pre-login session
            login_user(operator)
            return redirect(safe_next(form.next.data))
        limiter().fail(key)
        # 200, as for any form shown again with an error: 401 would need a WWW-Authenticate scheme.
        form.form_errors.append("Wrong username or password.")
    elif request.method == "POST":
        status = 400
    return render_template("login.html", form=form), status


@bp.post("/logout")
def logout():
    """Sign out (a POST, so that a link elsewhere cannot sign an operator out)."""
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("dashboard_login.login"))


def _load_operator(username: str) -> Operator | None:
    """Return the operator of a session, or None when the login was removed."""
    return db.session.get(Operator, username)


def _unauthorized():
    """Send a signed-out visitor to the sign-in page; an HTMX request gets HX-Redirect."""
    target = url_for("dashboard_login.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        response = current_app.make_response(("Sign in again", 401))
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def init_app(app: Flask) -> None:
    """Register the blueprint, the user loader and the limiter."""
    app.extensions["login_limiter"] = LoginLimiter()
    login_manager.login_view = "dashboard_login.login"
    login_manager.user_loader(_load_operator)
    login_manager.unauthorized_handler(_unauthorized)
    app.register_blueprint(bp)
