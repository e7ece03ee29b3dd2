"""End-to-end fixtures: the real app in a subprocess on a free port, and Debian's chromium.

The server runs `flask --app wsgi run` with its dispatcher thread on a temporary SQLite
database, set up through the real command line (`db upgrade`, `users create`, `agents create`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.browser.browser_support import CHROMIUM, ROOT

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]
USERNAME, PASSWORD = "operator", "browser-test-password"


@dataclass
class Server:
    """A running app: its URL and an admin agent key for seeding through the API."""

    url: str
    admin_key: str

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """Call the JSON API as the admin agent."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.admin_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"{}")


def _free_port() -> int:
    """Return a localhost port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _flask(env: dict, *args: str) -> str:
    """Run a flask CLI command against the test database; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    """Wait for /healthz to answer, or fail with the server's log."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    pytest.fail(f"the server did not start:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """Start the app on a free port with a fresh database; stop it after the session."""
    workdir = tmp_path_factory.mktemp("browser-server")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'scheduler.db'}",
        "SECRET_KEY": "browser-tests-secret-key-0123456789",
        "SCHEDULER_ENABLED": "1",
        "WEBHOOK_ALLOW_PRIVATE": "1",  # the webhook test's receiver listens on 127.0.0.1
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FLASK_DEBUG", None)
    _flask(env, "db", "upgrade")
    _flask(env, "users", "create", USERNAME, "--password", PASSWORD)
    admin_key = _flask(env, "agents", "create", "ops-admin", "--admin", "--name", "Operations").strip().splitlines()[-1]
    _flask(env, "agents", "create", "billing", "--name", "Billing service", "--capability", "invoice-v1")
    _flask(env, "agents", "create", "reports", "--capability", "report-v1", "--capability", "pdf-v2")
    port = _free_port()
    log = workdir / "server.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--port", str(port), "--no-reload"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, process, log)
        yield Server(url, admin_key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    """Launch chromium once for the session."""
    from playwright.sync_api import sync_playwright  # here: without playwright the browser tests skip, not fail

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    """Return a page in a fresh browser context (no cookies), laptop-sized, failing on console errors."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.url, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    # Expected 4xx answers (a 409 from a refused action) log "Failed to load resource"; assets are checked below.
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None,
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "response",
        lambda r: errors.append(f"{r.status} {r.url}") if "/static/" in r.url and r.status >= 400 else None,
    )
    yield page
    context.close()
    # A CSP violation, a 404 asset or a script error shows here first.
    assert not errors, errors


@pytest.fixture
def signed_in(page):
    """Return a page signed in as the operator."""
    page.goto("/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/schedules")
    return page
