"""The tables of the contract: agents, tasks, schedules, executions, calendars, operators."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Mapped, mapped_column

from . import clock
from .extensions import db


class ScheduleStatus(StrEnum):
    """Where a schedule stands; stored as its name."""

    ACTIVE = "ACTIVE"
    PAUSED = "PAUSED"
    COMPLETED = "COMPLETED"  # a one-time schedule that fired, or one past its end_at or max_runs
    FAILED = "FAILED"  # its next run can no longer be computed
    DELETED = "DELETED"  # soft-deleted: history is kept


class TaskStatus(StrEnum):
    """Where a task stands in the claim loop; stored as its name."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"  # replaced before any worker took it


class ExecutionStatus(StrEnum):
    """What became of one occurrence; stored as its name."""

    BUFFERED = "BUFFERED"  # waits, without a task, for the going run to end (overlap BUFFER_ONE)
    PENDING = "PENDING"
    RUNNING = "RUNNING"  # its task is claimed, or waits for a retry
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"  # never fired; `reason` says why


# An execution whose run is still going: fired and not finished (a retry wait keeps it RUNNING).
GOING_EXECUTION_STATUSES = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING)


class ExecutionTrigger(StrEnum):
    """What fired an execution; stored as its name."""

    SCHEDULE = "SCHEDULE"
    RUN_NOW = "RUN_NOW"
    BACKFILL = "BACKFILL"


class ExecutionReason(StrEnum):
    """Why an occurrence was skipped or cancelled; stored as its name."""

    MISSED = "MISSED"
    OVERLAP = "OVERLAP"
    OUTSIDE_CATCHUP_WINDOW = "OUTSIDE_CATCHUP_WINDOW"
    REPLACED = "REPLACED"
    HOLIDAY = "HOLIDAY"


class OverlapPolicy(StrEnum):
    """What an occurrence does while the schedule's previous run is still going."""

    ALLOW = "ALLOW"
    SKIP = "SKIP"
    BUFFER_ONE = "BUFFER_ONE"
    REPLACE = "REPLACE"


class MisfirePolicy(StrEnum):
    """What happens to missed occurrences."""

    FIRE_LATEST = "FIRE_LATEST"
    FIRE_ALL = "FIRE_ALL"
    SKIP = "SKIP"


# How SQLite stores an instant (it has no instant type): naive UTC text that sorts as the instants
# do. SQLAlchemy's own default, named here because the dispatcher's bulk rows write it directly.
SQLITE_INSTANT_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


class EventType(StrEnum):
    """What an event reports; webhooks subscribe to these names."""

    EXECUTION_COMPLETED = "execution.completed"
    EXECUTION_FAILED = "execution.failed"  # final: no attempt remains
    EXECUTION_SKIPPED = "execution.skipped"
    SCHEDULE_AUTO_PAUSED = "schedule.auto_paused"
    SCHEDULE_FAILED = "schedule.failed"
    SCHEDULE_COMPLETED = "schedule.completed"
    TASK_UNCLAIMED = "task.unclaimed"


TEST_EVENT = "webhook.test"  # sent by "send test event" to one webhook only; never subscribed to


class DeliveryStatus(StrEnum):
    """Where a webhook delivery stands."""

    PENDING = "PENDING"  # due, in flight, or waiting for its next retry
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"  # every retry was spent


class ActorType(StrEnum):
    """Who made a change the audit log records."""

    AGENT = "AGENT"
    OPERATOR = "OPERATOR"
    SYSTEM = "SYSTEM"


def _now() -> datetime:
    """Return the clock's instant, looked up at call time so a frozen clock freezes defaults too."""
    return clock.utcnow()


def new_id(prefix: str) -> str:
    """Return a fresh id with 128 random bits, e.g. sched-9f86d081884c7d659a2feaa0c55ad015."""
    return f"{prefix}-{secrets.token_hex(16)}"


def naive_utc(value: datetime) -> datetime:
    """Return an instant as naive UTC, the form every database here stores (a naive value is UTC already)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def stored_instant(value: datetime, text: bool) -> datetime | str:
    """Return an instant exactly as the driver is handed it: naive UTC, as SQLITE_INSTANT_FORMAT text if `text`."""
    naive = naive_utc(value)
    if not text:
        return naive
    return SQLITE_INSTANT_FORMAT % {
        "year": naive.year,
        "month": naive.month,
        "day": naive.day,
        "hour": naive.hour,
        "minute": naive.minute,
        "second": naive.second,
        "microsecond": naive.microsecond,
    }


class UTCDateTime(sa.types.TypeDecorator):
    """Store instants as naive UTC (SQLITE_INSTANT_FORMAT text on SQLite); hand them back aware, in UTC."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        """Use the one SQLite text form; other databases have a native timestamp type."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sqlite.DATETIME(storage_format=SQLITE_INSTANT_FORMAT))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):
        """Convert an aware value to naive UTC before it is written."""
        return None if value is None else naive_utc(value)

    def process_result_value(self, value, dialect):
        """Attach UTC to a value read back."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Agent(db.Model):
    """A program that calls the API; also the client that owns schedules."""

    __tablename__ = "agents"
    agent_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(sa.String(200))
    capabilities: Mapped[list] = mapped_column(sa.JSON, default=list)
    api_key_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class Task(db.Model):
    """A unit of work for a worker agent, created by a firing."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index("ix_tasks_claim", "status", "capability_required", "priority", "created_at"),
        sa.Index("ix_tasks_lease", "status", "lease_expires_at"),
        sa.Index("ix_tasks_client", "client_id"),
    )
    task_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("agents.agent_id"))
    task_type: Mapped[str] = mapped_column(sa.String(200))
    capability_required: Mapped[str] = mapped_column(sa.String(200))
    input_data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    priority: Mapped[int] = mapped_column(sa.Integer, default=5)
    status: Mapped[str] = mapped_column(sa.String(16), default=TaskStatus.PENDING)
    agent_id: Mapped[str | None] = mapped_column(sa.String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    result_data: Mapped[dict | None] = mapped_column(sa.JSON)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # Attempts (copied from the schedule when it fires; later edits do not reach existing tasks).
    max_attempts: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")
    retry_policy: Mapped[dict | None] = mapped_column(sa.JSON)
    timeout_seconds: Mapped[int] = mapped_column(sa.Integer, default=300, server_default="300")
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When task.unclaimed was sent for it (once per task); null while no alert went out.
    unclaimed_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduledTask(db.Model):
    """A schedule: a cron expression or a one-time instant, in its own timezone."""

    __tablename__ = "scheduled_tasks"
    __table_args__ = (
        sa.Index("ix_scheduled_tasks_due", "status", "next_run_at"),
        sa.Index("ix_scheduled_tasks_client", "client_id"),
        sa.Index("ix_scheduled_tasks_recent", "created_at", "schedule_id"),
        sa.Index("ix_scheduled_tasks_client_recent", "client_id", "created_at", "schedule_id", "status"),
        sa.Index("ix_scheduled_tasks_client_status", "client_id", "status"),
    )
    schedule_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("agents.agent_id"))
    task_type: Mapped[str] = mapped_column(sa.String(200))
    capability_required: Mapped[str] = mapped_column(sa.String(200))
    input_data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    priority: Mapped[int] = mapped_column(sa.Integer, default=5, server_default="5")
    cron_expression: Mapped[str | None] = mapped_column(sa.String(200))
    run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC", server_default="UTC")
    description: Mapped[str | None] = mapped_column(sa.Text)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(
        sa.String(16), default=ScheduleStatus.ACTIVE, server_default=ScheduleStatus.ACTIVE.value
    )
    total_runs: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    failed_runs: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    unclaimed_alert_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    # Policies (SPEC Part 2); the server defaults leave schedules made before them unchanged.
    overlap_policy: Mapped[str] = mapped_column(sa.String(16), default="ALLOW", server_default="ALLOW")
    misfire_policy: Mapped[str] = mapped_column(sa.String(16), default="FIRE_LATEST", server_default="FIRE_LATEST")
    catchup_window_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_runs: Mapped[int | None] = mapped_column(sa.Integer)
    remaining_runs: Mapped[int | None] = mapped_column(sa.Integer)
    jitter_seconds: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    retry_policy: Mapped[dict | None] = mapped_column(sa.JSON)
    timeout_seconds: Mapped[int] = mapped_column(sa.Integer, default=300, server_default="300")
    pause_after_failures: Mapped[int | None] = mapped_column(sa.Integer)
    consecutive_failures: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    paused_reason: Mapped[str | None] = mapped_column(sa.Text)
    # Daylight-saving policy (cron.DstGap, cron.DstRepeat) and holiday rule (calendars.HolidayRule).
    dst_gap: Mapped[str] = mapped_column(sa.String(8), default="SHIFT", server_default="SHIFT")
    dst_repeat: Mapped[str] = mapped_column(sa.String(8), default="FIRST", server_default="FIRST")
    calendar_id: Mapped[str | None] = mapped_column(sa.ForeignKey("calendars.calendar_id"), index=True)
    holiday_rule: Mapped[str | None] = mapped_column(sa.String(32))


class Calendar(db.Model):
    """A client's holiday dates; its schedules treat them, and weekends, as non-business days."""

    __tablename__ = "calendars"
    __table_args__ = (sa.Index("ix_calendars_client", "client_id", "created_at"),)
    calendar_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("agents.agent_id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    dates: Mapped[list] = mapped_column(sa.JSON, default=list)  # ISO dates, sorted: ["2026-12-25", ...]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class ScheduleExecution(db.Model):
    """One occurrence of a schedule: fired (with its task) or skipped."""

    __tablename__ = "schedule_executions"
    __table_args__ = (
        sa.UniqueConstraint("schedule_id", "scheduled_for", name="uq_execution_occurrence"),
        sa.Index("ix_schedule_executions_task", "task_id"),
        # The overlap check and the buffered run are found by (schedule_id, status).
        sa.Index("ix_schedule_executions_open", "schedule_id", "status"),
    )
    execution_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(sa.ForeignKey("scheduled_tasks.schedule_id"))
    task_id: Mapped[str | None] = mapped_column(sa.ForeignKey("tasks.task_id"))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    executed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    status: Mapped[str] = mapped_column(sa.String(16), default=ExecutionStatus.PENDING)
    result_data: Mapped[dict | None] = mapped_column(sa.JSON)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    trigger: Mapped[str] = mapped_column(sa.String(16), default="SCHEDULE", server_default="SCHEDULE")
    reason: Mapped[str | None] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ScheduleCount(db.Model):
    """Folded schedule totals per client and status (scheduling/counts.py; kept by the triggers of migration 0002)."""

    __tablename__ = "schedule_counts"
    client_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    n: Mapped[int] = mapped_column(sa.BigInteger)


class ScheduleCountDelta(db.Model):
    """A +1/-1 a trigger appended when a schedule was created, changed status or client, or deleted."""

    __tablename__ = "schedule_count_deltas"
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(16))
    d: Mapped[int] = mapped_column(sa.Integer)


class Operator(db.Model):
    """A person who signs in to the dashboard."""

    __tablename__ = "operators"
    username: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)

    # Flask-Login's user protocol.
    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        """Return the id Flask-Login keeps in the session."""
        return self.username


class Event(db.Model):
    """An outbox row: something that happened, written in the transaction that made it happen."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_client", "client_id", "occurred_at"),
        sa.Index("ix_events_occurred", "occurred_at"),  # retention looks for old events
    )
    event_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    client_id: Mapped[str] = mapped_column(sa.String(128))
    schedule_id: Mapped[str | None] = mapped_column(sa.String(64))
    execution_id: Mapped[str | None] = mapped_column(sa.String(64))
    task_id: Mapped[str | None] = mapped_column(sa.String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class Webhook(db.Model):
    """A receiver URL that gets its owner's events (an admin owner's: every client's), signed."""

    __tablename__ = "webhooks"
    __table_args__ = (sa.Index("ix_webhooks_client", "client_id", "created_at"),)
    webhook_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.ForeignKey("agents.agent_id"))
    url: Mapped[str] = mapped_column(sa.Text)
    events: Mapped[list] = mapped_column(sa.JSON, default=list)
    description: Mapped[str | None] = mapped_column(sa.Text)
    secret: Mapped[str] = mapped_column(sa.String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)


class WebhookDelivery(db.Model):
    """One event owed to one webhook: PENDING until a 2xx (DELIVERED) or the last retry (FAILED)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
        sa.Index("ix_webhook_deliveries_event", "event_id"),  # is an old event still owed? (retention)
    )
    delivery_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    webhook_id: Mapped[str] = mapped_column(sa.ForeignKey("webhooks.webhook_id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(sa.ForeignKey("events.event_id"))
    status: Mapped[str] = mapped_column(sa.String(16), default="PENDING")
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set by the process that claimed the attempt in flight; its result is recorded only under it.
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(db.Model):
    """One HTTP attempt of a delivery: when, the status code, how long, and what went wrong."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempted_at"),)
    attempt_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(sa.ForeignKey("webhook_deliveries.delivery_id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(sa.Integer)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(sa.Integer)
    duration_ms: Mapped[int] = mapped_column(sa.Integer)
    error: Mapped[str | None] = mapped_column(sa.Text)


class AuditEntry(db.Model):
    """Who changed a schedule, when, how, and the fields' old and new values."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_schedule", "schedule_id", "at"),
        sa.Index("ix_audit_log_client", "client_id", "at"),
        sa.Index("ix_audit_log_at", "at"),
    )
    audit_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=_now)
    actor_type: Mapped[str] = mapped_column(sa.String(16))
    actor_id: Mapped[str | None] = mapped_column(sa.String(128))
    action: Mapped[str] = mapped_column(sa.String(32))
    schedule_id: Mapped[str] = mapped_column(sa.String(64))
    client_id: Mapped[str] = mapped_column(sa.String(128))
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)
