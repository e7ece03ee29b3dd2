"""The schedule service's own rules, called directly: allowed actions, ownership, the past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.auth import Caller
from webapp.errors import ServiceError
from webapp.models import ScheduledTask, ScheduleStatus
from webapp.scheduling import dispatcher, schedules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
OWNER = Caller("client-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "0 9 * * *"}


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (ScheduleStatus.ACTIVE, {"pause", "run", "delete", "edit"}),
        (ScheduleStatus.PAUSED, {"resume", "run", "delete", "edit"}),
        (ScheduleStatus.FAILED, {"resume", "run", "delete", "edit"}),
        (ScheduleStatus.COMPLETED, {"run", "delete", "edit"}),
        (ScheduleStatus.DELETED, set()),
    ],
)
def test_each_status_allows_its_actions(status, allowed):
    assert schedules.allowed_actions(ScheduledTask(status=status)) == allowed
    assert allowed <= set(schedules.ACTIONS)


def test_a_deleted_schedule_refuses_every_action_the_service_offers(app, make_agent):
    make_agent("client-1")
    with app.app_context():
        sid = schedules.create_schedule(OWNER, BODY, now=T0).schedule_id
        schedules.delete_schedule(OWNER, sid, now=T0)
        refusals = [
            lambda: schedules.update_schedule(OWNER, sid, {"description": "x"}, now=T0),
            lambda: schedules.delete_schedule(OWNER, sid, now=T0),
            lambda: dispatcher.run_now(OWNER, sid, now=T0),
        ]
        for refuse in refusals:
            with pytest.raises(ServiceError) as err:
                refuse()
            assert err.value.status == 409


@pytest.mark.parametrize("caller", [Caller("client-2", False), Caller(None, False)])
def test_someone_elses_schedule_is_absent(app, make_agent, caller):
    make_agent("client-1")
    with app.app_context():
        sid = schedules.create_schedule(OWNER, BODY, now=T0).schedule_id
        with pytest.raises(ServiceError) as err:
            schedules.schedule_or_404(caller, sid)
        assert (err.value.status, err.value.message) == (404, "Schedule not found")
        assert schedules.schedule_or_404(Caller("root", True), sid).schedule_id == sid


@pytest.mark.parametrize(("offset", "refused"), [(-1, True), (0, True), (1, False)])
def test_a_run_at_must_be_after_now(offset, refused):
    run_at = T0 + timedelta(microseconds=offset)
    if refused:
        with pytest.raises(ServiceError) as err:
            schedules.refuse_past(run_at, T0)
        assert (err.value.field, err.value.message) == ("run_at", "run_at is in the past")
    else:
        schedules.refuse_past(run_at, T0)
