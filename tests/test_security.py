"""Safe defaults: SECRET_KEY, headers, cookies, body limits, keys, logs, login limit, CSRF, escaping."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.api.test_isolation import snapshot
from tests.dashboard_helpers import HX, PASSWORD, Dashboard
from webapp import auth, config, create_app
from webapp.security import CONTENT_SECURITY_POLICY, InsecureSettings, production_reason

ROOT = Path(__file__).resolve().parent.parent
BIG = 1024 * 1024 + 1
SCRIPT = '<script>alert("x")</script>'
ATTR = '"><img src=x onerror=alert(1)>'


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client."""
    return Dashboard(app, client).sign_in()


def _prod_app(tmp_path, monkeypatch, **env):
    """Build an app as a production process would (not TESTING), with the given environment."""
    for name in ("SECRET_KEY", "APP_ENV", "FLASK_ENV", "SERVER_SOFTWARE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    return create_app({"SQLALCHEMY_DATABASE_URI": url, "SCHEDULER_ENABLED": False, "AUTO_UPGRADE": False})


@pytest.mark.parametrize(
    "env", [{"SERVER_SOFTWARE": "gunicorn/27.0.1"}, {"APP_ENV": "production"}, {"FLASK_ENV": "production"}]
)
def test_production_refuses_to_start_with_the_development_secret_key(tmp_path, monkeypatch, env):
    with pytest.raises(InsecureSettings) as refused:
        _prod_app(tmp_path, monkeypatch, **env)
    assert "SECRET_KEY is the development default" in str(refused.value)
    assert "secrets.token_hex" in str(refused.value)  # it says how to make one
    with pytest.raises(InsecureSettings, match="missing or too short"):
        _prod_app(tmp_path, monkeypatch, SECRET_KEY="short", **env)
    assert _prod_app(tmp_path, monkeypatch, SECRET_KEY="k" * 32, **env).secret_key == "k" * 32


def test_development_starts_without_any_setup(tmp_path, monkeypatch):
    app = _prod_app(tmp_path, monkeypatch)
    assert app.secret_key == config.DEV_SECRET_KEY
    assert production_reason({}, "/work/.venv/bin/flask") is None
    assert production_reason({}, "/usr/local/bin/gunicorn") == "it runs under gunicorn"


def _free_port() -> int:
    """Return a TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_gunicorn_refuses_the_development_key_and_serves_with_a_real_one(tmp_path):
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip(f"gunicorn is not installed next to {sys.executable}")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'g.db'}", "SCHEDULER_ENABLED": "0"}
    env.pop("SECRET_KEY", None)
    args = [str(gunicorn), "--bind", f"127.0.0.1:{port}", "--workers", "1", "wsgi:app"]
    refused = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0
    assert "Refusing to start: SECRET_KEY is the development default" in refused.stderr
    server = subprocess.Popen(args, cwd=ROOT, env={**env, "SECRET_KEY": "s" * 40}, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    assert response.status == 200
                    assert response.headers["X-Frame-Options"] == "DENY"
                    break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not come up"
                time.sleep(0.2)
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_every_kind_of_response_carries_the_security_headers(client, auth):
    urls = ["/aitp/tasks/schedule", "/aitp/openapi.json", "/aitp/nowhere", "/login", "/schedules", "/healthz"]
    urls.append("/static/htmx.min.js")
    for url in urls:
        with client.get(url, headers=auth) as response:
            headers = response.headers
        assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        assert headers["X-Content-Type-Options"] == "nosniff", url
        assert headers["X-Frame-Options"] == "DENY", url
        assert headers["Referrer-Policy"] == "same-origin", url
        assert "Strict-Transport-Security" not in headers, url  # plain HTTP
    assert client.get("/aitp/tasks/schedule", headers=auth).headers["Cache-Control"] == "no-store"


def test_https_gets_hsts_and_forwarded_https_counts_only_behind_a_trusted_proxy(app, client, database_url):
    assert "Strict-Transport-Security" in client.get("/login", base_url="https://localhost").headers
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert "Strict-Transport-Security" not in client.get("/login", headers=forwarded).headers
    proxied = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "TRUSTED_PROXIES": 1})
    assert "Strict-Transport-Security" in proxied.test_client().get("/login", headers=forwarded).headers


def test_session_cookie_is_httponly_samesite_and_secure_when_asked(app, client, monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    assert config.from_environment("/tmp")["SESSION_COOKIE_SECURE"] is True
    app.config["SESSION_COOKIE_SECURE"] = True
    with app.app_context():
        auth.create_operator("op", PASSWORD)
    ui = Dashboard(app, client)
    response = ui.post("/login", {"username": "op", "password": PASSWORD})
    assert response.status_code == 302
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie


def test_bodies_over_the_limit_are_refused_with_413_and_change_nothing(app, client, auth, ui):
    before = snapshot(app)
    response = client.post("/aitp/tasks/schedule", data="x" * BIG, content_type="application/json", headers=auth)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "payload_too_large"
    response = ui.post("/schedules/new", {"task_type": "t", "description": "x" * BIG})
    assert response.status_code == 413
    assert snapshot(app) == before


def test_login_attempts_are_rate_limited_even_with_the_right_password(app, client):
    with app.app_context():
        auth.create_operator("op", PASSWORD)
    ui = Dashboard(app, client)
    for _ in range(5):
        refused = ui.post("/login", {"username": "op", "password": "wrong-password"})
        assert refused.status_code == 200 and "Wrong username or password" in refused.get_data(as_text=True)
    limited = ui.post("/login", {"username": "op", "password": PASSWORD})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    assert client.get("/schedules").status_code == 302  # still signed out


def test_a_revoked_key_gets_401_everywhere(runner, client, app):
    key = runner.invoke(args=["agents", "create", "gone"]).output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/aitp/tasks/schedule", headers=headers).status_code == 200
    assert runner.invoke(args=["agents", "revoke", "gone"]).exit_code == 0
    before = snapshot(app)
    for method, url in [
        ("GET", "/aitp/tasks/schedule"),
        ("POST", "/aitp/tasks/schedule"),
        ("POST", "/aitp/tasks/claim"),
    ]:
        assert client.open(url, method=method, json={}, headers=headers).status_code == 401
    assert snapshot(app) == before
    assert "revoked" in runner.invoke(args=["agents", "list"]).output


def test_keys_are_shown_once_and_stored_only_hashed(runner, app, ui):
    key = runner.invoke(args=["agents", "create", "cli-agent"]).output.strip().splitlines()[-1]
    page = ui.post("/agents", {"agent_id": "ui-agent", "capabilities": "report-v1"})
    assert page.status_code == 201 and page.headers["Cache-Control"] == "no-store"
    ui_key = re.search(r'value="(sk_[^"]+)"', page.get_data(as_text=True)).group(1)
    stored = repr(snapshot(app))
    for secret in (key, ui_key):
        assert secret not in stored
        assert secret not in runner.invoke(args=["agents", "list"]).output
        assert secret not in ui.get("/agents").get_data(as_text=True)


def test_no_key_or_password_reaches_the_logs(app, client, runner, ui, caplog, monkeypatch):
    # The most talkative settings: app debug logs, every SQL statement with its parameters,
    # the development server's request lines, and a 500 with its traceback.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    key = runner.invoke(args=["agents", "create", "logged"]).output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    client.get("/aitp/tasks/schedule", headers=headers)
    client.post("/aitp/tasks/schedule", json={"task_type": 1}, headers=headers)
    client.get("/aitp/tasks/schedule", headers={"Authorization": f"Bearer {key}x"})
    ui.post("/login", {"username": "op", "password": "a-wrong-password"})
    ui.post("/agents", {"agent_id": "ui-logged", "capabilities": "report-v1"})
    with app.app_context():
        auth.create_operator("second", "second-operator-password")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{server.port}/aitp/tasks/schedule", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
    monkeypatch.setattr("webapp.scheduling.listing.list_schedules", lambda *a, **k: 1 / 0)
    assert client.get("/aitp/tasks/schedule", headers=headers).status_code == 500
    text = caplog.text
    assert "SELECT" in text and "/aitp/tasks/schedule" in text and "ZeroDivisionError" in text  # logs were captured
    for secret in (key, PASSWORD, "a-wrong-password", "second-operator-password"):
        assert secret not in text


def _payload_schedule(ui: Dashboard) -> tuple[str, dict]:
    """Create a schedule (and its agent) whose every free-text field carries HTML and script."""
    with ui.app.app_context():
        key = auth.create_agent("client-1", f"name {SCRIPT}", ["report-v1"])
    sid = ui.schedule(task_type=f"t{SCRIPT}", description=f"d{SCRIPT}{ATTR}", input_data={"html": SCRIPT, ATTR: ATTR})
    return sid, {"Authorization": f"Bearer {key}"}


def _finish_runs_with_html(client, sid: str, headers: dict) -> None:
    """Run the schedule twice; complete one task with an HTML result and fail the other with an HTML error."""
    for outcome, body in (("complete", {"result_data": {"html": SCRIPT}}), ("fail", {"error_message": SCRIPT + ATTR})):
        task_id = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=headers).get_json()["task_id"]
        assert (
            client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=headers).status_code == 200
        )
        assert client.post(f"/aitp/tasks/{task_id}/{outcome}", json=body, headers=headers).status_code == 200


def test_html_in_schedule_fields_is_escaped_on_every_page_and_partial(ui):
    sid, headers = _payload_schedule(ui)
    _finish_runs_with_html(ui.client, sid, headers)
    pages = {
        "list": ui.get("/schedules"),
        "list partial": ui.get("/schedules", htmx=True),
        "detail": ui.get(f"/schedules/{sid}"),
        "history partial": ui.get(f"/schedules/{sid}/history", htmx=True),
        "edit form": ui.get(f"/schedules/{sid}/edit"),
        "row partial": ui.post(f"/schedules/{sid}/pause", {"view": "row", "next": "/schedules"}, htmx=True),
        "panel partial": ui.post(f"/schedules/{sid}/resume", {"view": "panel"}, htmx=True),
        "run partial": ui.post(f"/schedules/{sid}/run", {"view": "panel"}, htmx=True),
        "agents": ui.get("/agents"),
        "refused form": ui.post("/schedules/new", {"task_type": SCRIPT, "description": ATTR, "kind": "custom"}),
        "preview": ui.get("/preview", query_string={"cron_expression": SCRIPT, "timezone": ATTR}),
        "preview partial": ui.get("/preview", htmx=True, query_string={"cron_expression": "@daily", "timezone": ATTR}),
    }
    for name, response in pages.items():
        html = response.get_data(as_text=True)
        assert response.status_code < 500, name
        assert SCRIPT not in html and "<img src=x" not in html, f"unescaped HTML on the {name}"
        # The payload is shown (escaped, or as JSON with \u003c), so the check above means something.
        assert "&lt;script&gt;" in html or "&#34;&gt;&lt;img" in html or "\\u003cscript" in html, name


def test_a_dashboard_post_without_csrf_token_is_refused_and_changes_nothing(app, ui):
    sid, _ = _payload_schedule(ui)
    before = snapshot(app)
    for url, data in [
        (f"/schedules/{sid}/delete", {}),
        (f"/schedules/{sid}/run", {}),
        (f"/schedules/{sid}/edit", {"task_type": "changed"}),
        ("/schedules/new", {"task_type": "x", "capability_required": "y", "cron_expression": "* * * * *"}),
        ("/agents", {"agent_id": "sneaky"}),
    ]:
        for headers in ({}, HX):
            assert ui.client.post(url, data=data, headers=headers).status_code == 400, url
    assert snapshot(app) == before


def test_a_nul_character_in_a_url_or_form_is_a_400_not_a_crash(client, auth, ui):
    assert client.get("/aitp/tasks/schedule/sched-a%00b", headers=auth).status_code == 400
    assert client.get("/aitp/tasks/schedule?client_id=a%00", headers=auth).status_code == 400
    assert ui.post("/login", {"username": "op\x00", "password": "x"}).status_code == 400
