"""WTForms of the dashboard; the schedule rules themselves stay in schedules.py and cron.py."""

from __future__ import annotations

import functools
import json

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from ..api import schemas
from ..errors import ServiceError
from ..models import ScheduledTask
from ..scheduling import cron
from . import builder
from .timefmt import local_input

_CODE = {"spellcheck": "false", "autocomplete": "off", "autocapitalize": "off"}


def choices(pairs) -> list[SelectChoice]:
    """Return (value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]


@functools.cache
def timezone_names() -> list[str]:
    """Return the zone names offered in the picker: UTC and every valid Area/City name (cron.zone_names)."""
    return ["UTC", *sorted(n for n in cron.zone_names() if "/" in n and not n.startswith(("Etc/", "posix")))]


class LoginForm(FlaskForm):
    """Operator sign-in."""

    username = StringField("Username", [InputRequired(), Length(max=80)], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", [InputRequired()], render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class ScheduleForm(FlaskForm):
    """Create or edit a schedule; the builder writes the cron expression."""

    client_id = SelectField("Client (agent)", validate_choice=False)
    task_type = StringField(
        "Task type",
        [InputRequired("Give the task type")],
        render_kw={"required": True, "maxlength": schemas.TEXT_MAX, **_CODE},
    )
    capability_required = StringField(
        "Capability required",
        [InputRequired("Give the capability a worker needs")],
        render_kw={"required": True, "maxlength": schemas.TEXT_MAX, "list": "capability-list", **_CODE},
    )
    priority = IntegerField(
        f"Priority ({schemas.PRIORITY_MIN} lowest – {schemas.PRIORITY_MAX} highest)",
        default=schemas.DEFAULT_PRIORITY,
        render_kw={"min": schemas.PRIORITY_MIN, "max": schemas.PRIORITY_MAX},
    )
    kind = RadioField("Runs", choices=choices(builder.KINDS), default="daily")
    at_time = StringField("At", default="09:00", render_kw={"type": "time"})
    weekday = SelectField("On", choices=choices(builder.WEEKDAYS), default="MON")
    monthday = IntegerField("On day", [Optional()], default=1, render_kw={"min": 1, "max": 31})
    run_at = StringField("Date and time", render_kw={"type": "datetime-local"})
    cron_expression = StringField("Cron expression", render_kw={"placeholder": "*/15 9-17 * * 1-5", **_CODE})
    timezone = StringField("Time zone", default="UTC", render_kw={"list": "tz-list", **_CODE})
    input_data = TextAreaField("Input data (a JSON object)", default="{}", render_kw={"rows": 6, **_CODE})
    description = TextAreaField("Description", render_kw={"rows": 2, "maxlength": schemas.DESCRIPTION_MAX})

    def validate_input_data(self, field) -> None:
        """Refuse text that is not JSON; the service checks that it is an object and its size."""
        try:
            field.parsed = json.loads(field.data or "{}")
        except json.JSONDecodeError as err:
            raise ValidationError(f"Not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
        except RecursionError:
            raise ValidationError(f"Nested too deeply (limit {schemas.MAX_JSON_DEPTH} levels)") from None

    def fill_from(self, schedule: ScheduledTask) -> None:
        """Load a stored schedule into the form for editing."""
        self.process(obj=schedule)
        self.input_data.data = json.dumps(schedule.input_data, indent=2, ensure_ascii=False)
        self.description.data = schedule.description or ""
        found = builder.detect(schedule.cron_expression)
        self.kind.data = found["kind"]
        self.at_time.data = found.get("at_time", self.at_time.default)
        self.weekday.data = found.get("weekday", self.weekday.default)
        self.monthday.data = found.get("monthday", self.monthday.default)
        self.run_at.data = local_input(schedule.run_at, schedule.timezone)

    def timing(self) -> dict:
        """Return the timing the builder describes; raise ServiceError for a builder input."""
        return builder.build(
            self.kind.data,
            self.at_time.data,
            self.weekday.data,
            self.monthday.data,
            self.cron_expression.data,
            self.run_at.data,
        )

    def body(self) -> dict:
        """Return the create request the form stands for, as the API would receive it."""
        body: dict = {
            "priority": self.priority.data,
            "timezone": (self.timezone.data or "").strip() or "UTC",
            "input_data": getattr(self.input_data, "parsed", {}),
            "description": (self.description.data or "").strip() or None,
        }
        for name in ("client_id", "task_type", "capability_required"):
            value = (getattr(self, name).data or "").strip()
            if value:  # an absent client gets the service's own message
                body[name] = value
        body.update(self.timing())
        return body

    def changes(self, schedule: ScheduledTask) -> dict:
        """Return only what the edit changes, so untouched timing is not recomputed."""
        body = self.body()
        body.pop("client_id", None)
        changed = {k: v for k, v in body.items() if k not in ("cron_expression", "run_at", "timezone")}
        changed = {k: v for k, v in changed.items() if getattr(schedule, k) != v}
        tz_changed = body["timezone"] != schedule.timezone
        if "cron_expression" in body:
            if not builder.same_expression(body["cron_expression"], schedule.cron_expression):
                changed["cron_expression"] = body["cron_expression"]
        elif schedule.run_at is None or body["run_at"] != local_input(schedule.run_at, body["timezone"]):
            changed["run_at"] = body["run_at"]
        if tz_changed:
            changed["timezone"] = body["timezone"]
            if schedule.run_at is not None and "cron_expression" not in body:
                # The wall time stays what the operator typed; read it in the new zone.
                changed["run_at"] = body["run_at"]
        return changed

    def apply_error(self, err: ServiceError) -> None:
        """Show a service error beside the field it is about (at the top of the form otherwise)."""
        name = builder.field_for(err, self.kind.data)
        field = self._fields.get(name) if name else None
        if field is None:
            self.form_errors.append(err.message)
        else:
            field.errors = [*field.errors, err.message]


class AgentForm(FlaskForm):
    """Register an agent; its key is shown once."""

    agent_id = StringField(
        "Agent id", [InputRequired(), Length(max=schemas.ID_MAX)], render_kw={"placeholder": "client-123", **_CODE}
    )
    name = StringField("Name", [Length(max=schemas.TEXT_MAX)])
    capabilities = StringField(
        "Capabilities (separated by commas or spaces)", render_kw={"placeholder": "report-v1, email-v2", **_CODE}
    )
    admin = BooleanField("Admin: may see and change every client's schedules")

    def capability_list(self) -> list[str]:
        """Split the capabilities text into a list."""
        return [c for c in (self.capabilities.data or "").replace(",", " ").split() if c]


class PreviewForm(FlaskForm):
    """The cron preview: read from the query string, so it needs no CSRF token."""

    class Meta:
        """A GET form changes nothing."""

        csrf = False

    cron_expression = StringField("Cron expression", render_kw={"placeholder": "30 2 * * *", **_CODE})
    timezone = StringField("Time zone", default="UTC", render_kw={"list": "tz-list", **_CODE})
    start = StringField("Starting from (optional, local time)", render_kw={"type": "datetime-local"})
    count = IntegerField(
        "Runs to show",
        [Optional(), NumberRange(schemas.PREVIEW_COUNT_MIN, schemas.PREVIEW_COUNT_MAX)],
        default=8,
        render_kw={"min": schemas.PREVIEW_COUNT_MIN, "max": schemas.PREVIEW_COUNT_MAX},
    )
