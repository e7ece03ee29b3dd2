"""Helpers shared by the dispatcher tests: polling and counting due schedules."""

from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ScheduledTask


def wait_for(predicate, timeout: float) -> None:
    """Poll until predicate() is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def due_count(app, before: datetime) -> int:
    """Count ACTIVE schedules due at `before`."""
    with app.app_context():
        query = sa.select(sa.func.count()).select_from(ScheduledTask)
        n = db.session.scalar(query.where(ScheduledTask.status == "ACTIVE", ScheduledTask.next_run_at <= before))
        db.session.rollback()
        return n
