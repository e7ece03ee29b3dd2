"""Fixtures shared by the dashboard's policy tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.dashboard_helpers import Dashboard

FROZEN = datetime(2025, 11, 28, 2, 45, tzinfo=UTC)


@pytest.fixture
def frozen_ui(app, client, freeze_clock) -> Dashboard:
    """Return a signed-in dashboard client with one agent, client-1, the service clock frozen at FROZEN."""
    freeze_clock(FROZEN)
    ui = Dashboard(app, client).sign_in()
    ui.agent("client-1", ["report-v1"])
    return ui
