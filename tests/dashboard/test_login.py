"""Dashboard sign-in: login required, login and logout, the rate limit, CSRF."""

from __future__ import annotations

import pytest

from tests.dashboard_helpers import HX, PASSWORD, Dashboard, token_in
from webapp.auth import create_operator
from webapp.dashboard.login import LoginLimiter


@pytest.fixture
def ui(app, client) -> Dashboard:
    """Return a signed-in dashboard client."""
    return Dashboard(app, client).sign_in()


@pytest.fixture
def guest(app, client) -> Dashboard:
    """Return a dashboard client that has not signed in (the operator exists)."""
    with app.app_context():
        create_operator("op", PASSWORD)
    return Dashboard(app, client)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at an arbitrary instant."""
        self.now = 1000.0

    def __call__(self) -> float:
        """Return the current reading."""
        return self.now


PAGES = ["/", "/schedules", "/schedules/new", "/preview", "/agents", "/schedules/sched-x", "/schedules/sched-x/edit"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_requires_login(client, url):
    """A signed-out visitor is sent to the sign-in page, with the page to come back to."""
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_htmx_request_when_signed_out_gets_hx_redirect(client):
    """An HTMX call after the session ended asks the browser to go to the sign-in page."""
    response = client.get("/preview?cron_expression=*+*+*+*+*", headers=HX)
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_action_when_signed_out_changes_nothing(guest):
    """A POST to an action without a session is redirected to sign-in and changes nothing."""
    guest.agent()
    schedule_id = guest.schedule()
    response = guest.post(f"/schedules/{schedule_id}/pause")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert guest.stored(schedule_id).status == "ACTIVE"


def test_login_page_has_a_form_with_csrf_token(client):
    """The sign-in page shows labelled fields and carries a CSRF token."""
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="username">' in html
    assert '<label for="password">' in html
    assert 'name="csrf_token"' in html
    assert token_in(html)


def test_login_success_goes_to_next(guest):
    """Correct credentials sign in and go back to the page asked for."""
    response = guest.post("/login", {"username": "op", "password": PASSWORD, "next": "/agents"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/agents"
    assert guest.client.get("/agents").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_login_never_redirects_off_site(guest, target):
    """A next pointing elsewhere is ignored: the operator lands on the schedule list."""
    response = guest.post("/login", {"username": "op", "password": PASSWORD, "next": target})
    assert response.headers["Location"] == "/schedules"


def test_login_failure_shows_error(guest):
    """Wrong credentials show the form again with a message, and do not sign in."""
    response = guest.post("/login", {"username": "op", "password": "wrong password"})
    assert response.status_code == 200
    assert "Wrong username or password." in response.get_data(as_text=True)
    assert guest.client.get("/schedules").status_code == 302


def test_login_is_rate_limited_after_five_failures(guest, app):
    """Five failures for a username from one address answer 429, even for the right password."""
    clock = FakeClock()
    app.extensions["login_limiter"] = LoginLimiter(clock=clock)
    for _ in range(5):
        assert "Wrong username" in guest.post("/login", {"username": "op", "password": "nope"}).get_data(as_text=True)
    response = guest.post("/login", {"username": "op", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= 300
    assert guest.client.get("/schedules").status_code == 302
    # Another username from the same address is not locked out.
    assert guest.post("/login", {"username": "someone", "password": "x"}).status_code == 200
    # The window slides: after five minutes the operator may try again.
    clock.now += 301
    assert guest.post("/login", {"username": "op", "password": PASSWORD}).status_code == 302


def test_successful_login_clears_failures(app):
    """A success forgets earlier failures of the same key."""
    clock = FakeClock()
    limiter = LoginLimiter(clock=clock)
    key = ("op", "127.0.0.1")
    for _ in range(4):
        limiter.fail(key)
    limiter.reset(key)
    for _ in range(4):
        limiter.fail(key)
    assert limiter.retry_after(key) == 0
    limiter.fail(key)
    assert limiter.retry_after(key) == 300


def test_logout_needs_post(ui):
    """Logout is a POST; a GET is refused and the session stays."""
    assert ui.client.get("/logout").status_code == 405
    assert ui.get("/schedules").status_code == 200
    response = ui.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert ui.get("/schedules").status_code == 302


def test_root_goes_to_schedule_list(ui):
    """The site root is the schedule list."""
    response = ui.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/schedules"


def test_csrf_is_on_in_the_test_app(app):
    """The suite runs with CSRF protection, as production does."""
    assert app.config.get("WTF_CSRF_ENABLED", True) is True


@pytest.mark.parametrize(
    "url, data",
    [
        ("/schedules/new", {"client_id": "client-1", "task_type": "t", "capability_required": "c", "kind": "daily"}),
        ("/schedules/{id}/pause", {"view": "row"}),
        ("/schedules/{id}/delete", {}),
        ("/agents", {"agent_id": "intruder"}),
        ("/logout", {}),
    ],
)
def test_post_without_csrf_token_is_refused(ui, url, data):
    """A POST without the token answers 400 and changes nothing, with HTMX or without."""
    ui.agent()
    schedule_id = ui.schedule()
    before = ui.count()
    for headers in ({}, HX):
        response = ui.client.post(url.format(id=schedule_id), data=data, headers=headers)
        assert response.status_code == 400
        assert "CSRF" in response.get_data(as_text=True)
    assert ui.count() == before
    assert ui.stored(schedule_id).status == "ACTIVE"
    assert ui.get("/schedules").status_code == 200  # still signed in


def test_htmx_header_token_is_accepted(ui):
    """HTMX sends the token as X-CSRFToken (hx-headers on <body>); that is enough."""
    ui.agent()
    schedule_id = ui.schedule()
    response = ui.client.post(
        f"/schedules/{schedule_id}/pause", data={"view": "row"}, headers={**HX, "X-CSRFToken": ui.token}
    )
    assert response.status_code == 200
    assert ui.stored(schedule_id).status == "PAUSED"


def test_pages_carry_the_token_for_htmx(ui):
    """Every page puts the token in hx-headers, and asks htmx not to inject inline styles."""
    html = ui.get("/schedules").get_data(as_text=True)
    assert f'hx-headers=\'{{"X-CSRFToken": "{ui.token}"}}\'' in html
    assert '"includeIndicatorStyles": false' in html
    assert "<script>" not in html and "style=" not in html and "onclick" not in html
