"""A test client that signs in and sends CSRF tokens, for the dashboard tests."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from webapp import auth
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, new_id
from webapp.scheduling import schedules

PASSWORD = "correct horse battery"
_TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
HX = {"HX-Request": "true"}


def token_in(html: str) -> str:
    """Return the CSRF token a page carries."""
    match = _TOKEN.search(html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


class Dashboard:
    """Drive the dashboard like a browser: sign in, then GET and POST with the session's token."""

    def __init__(self, app: Flask, client: FlaskClient) -> None:
        """Wrap an app and its test client."""
        self.app = app
        self.client = client
        self.token: str | None = None

    def refresh_token(self) -> str:
        """Fetch a page and keep its CSRF token."""
        self.token = token_in(self.client.get("/login", follow_redirects=True).get_data(as_text=True))
        return self.token

    def sign_in(self, username: str = "op", password: str = PASSWORD) -> Dashboard:
        """Create the operator (once) and sign in."""
        with self.app.app_context():
            if db.session.get(auth.Operator, username) is None:
                auth.create_operator(username, password)
        response = self.post("/login", {"username": username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        self.refresh_token()
        return self

    def get(self, url: str, htmx: bool = False, **kwargs):
        """GET a page, or its partial when htmx is true."""
        return self.client.get(url, headers=HX if htmx else {}, **kwargs)

    def post(self, url: str, data: dict | None = None, htmx: bool = False, **kwargs):
        """POST a form with the CSRF token, as a plain form or as HTMX."""
        token = self.token or self.refresh_token()
        return self.client.post(url, data={"csrf_token": token, **(data or {})}, headers=HX if htmx else {}, **kwargs)

    def agent(self, agent_id: str = "client-1", capabilities: list[str] | None = None) -> str:
        """Register an agent; return its key."""
        with self.app.app_context():
            return auth.create_agent(agent_id, None, capabilities or ["report-v1"])

    def schedule(self, **fields) -> str:
        """Create a schedule through the service; return its id."""
        body = {
            "client_id": "client-1",
            "task_type": "generate-report",
            "capability_required": "report-v1",
            "cron_expression": "30 9 * * 1-5",
            "timezone": "Europe/Paris",
            **fields,
        }
        with self.app.app_context():
            return schedules.create_schedule(auth.OPERATOR, body).schedule_id

    def stored(self, schedule_id: str) -> ScheduledTask:
        """Read a schedule back from the database."""
        with self.app.app_context():
            db.session.expire_all()
            return db.session.get(ScheduledTask, schedule_id)

    def count(self) -> int:
        """Return how many schedules the database holds."""
        with self.app.app_context():
            return db.session.query(ScheduledTask).count()


def aware(*args: int) -> datetime:
    """Return an aware UTC datetime."""
    return datetime(*args, tzinfo=UTC)


def store_executions(app: Flask, schedule_id: str, statuses: list[str], step: timedelta = timedelta(hours=1)) -> None:
    """Store executions `step` apart from 2025-01-01, oldest first, without tasks (as skipped ones are)."""
    start = aware(2025, 1, 1, 0, 0)
    with app.app_context():
        for i, status in enumerate(statuses):
            at = start + step * i
            db.session.add(
                ScheduleExecution(
                    execution_id=new_id("exec"),
                    schedule_id=schedule_id,
                    scheduled_for=at,
                    executed_at=at,
                    status=status,
                    error_message="boom" if status == "FAILED" else None,
                    result_data={"rows": i} if status == "COMPLETED" else None,
                )
            )
        db.session.commit()
