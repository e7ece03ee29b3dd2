"""Helpers shared by the dispatcher tests: polling and counting due schedules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import ScheduledTask

ROOT = Path(__file__).resolve().parent.parent


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


@contextmanager
def gunicorn(database_url: str, bind: str, log: Path, workers: int = 3) -> Iterator[subprocess.Popen]:
    """Run `gunicorn -w N wsgi:app` from the repository (so with its gunicorn.conf.py) until the block ends.

    The server must stop cleanly on SIGTERM; it is killed if the block fails first.
    """
    environ = {**os.environ, "DATABASE_URL": database_url, "AUTO_UPGRADE": "0", "SECRET_KEY": "s" * 40}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "--bind", bind, "wsgi:app"]
    with log.open("w") as stderr:
        proc = subprocess.Popen(command, cwd=ROOT, env=environ, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_for(lambda: log.read_text().count("Booting worker") == workers or proc.poll() is not None, 30)
        assert proc.poll() is None, log.read_text()
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
