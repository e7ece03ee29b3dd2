"""WTForms of the dashboard; the schedule rules themselves stay in schedules.py and cron.py."""

from __future__ import annotations

import functools
import json
import re

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
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

from ..api import limits
from ..errors import ServiceError
from ..models import ScheduledTask
from ..scheduling import cron
from . import builder, policy_form
from .policy_form import AdvancedFields
from .timefmt import local_input

_CODE = {"spellcheck": "false", "autocomplete": "off", "autocapitalize": "off"}


def choices(pairs) -> list[SelectChoice]:
    """Return (value, label) pairs as select options."""
    return [SelectChoice(value, label) for value, label in pairs]


@functools.cache
def timezone_names() -> list[str]:
    """Return the zone names offered in the picker: UTC and every valid Area/City name (cron.zone_names)."""
    return ["UTC", *sorted(n for n in cron.zone_names() if "/" in n and not n.startswith(("Etc/", "posix")))]


# API field names as they may appear in a service message; the form writes them as their labels.
_FIELD_NAMES = {
    **{
        name: name
        for name in (
            "client_id",
            "task_type",
            "capability_required",
            "cron_expression",
            "run_at",
            "input_data",
            "timezone",
            "priority",
            "description",
        )
    },
    **policy_form.MESSAGE_NAMES,
}
# Longest first, so "retry_policy.max_attempts" is read whole.
_API_NAMES = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(_FIELD_NAMES, key=len, reverse=True)) + r")\b")


def label_of(form: FlaskForm, name: str) -> str:
    """Return the label people see for a field, without its parenthesised help: "Client (agent)" -> "Client"."""
    field = form._fields.get(_FIELD_NAMES.get(name, name))
    return field.label.text.split(" (")[0] if field is not None else name


def in_words(form: FlaskForm, message: str) -> str:
    """Write the API field names in a message as the form's labels ("priority must..." -> "Priority must...")."""

    def label(match: re.Match) -> str:
        """Return the label, lower-cased in mid-sentence."""
        text = label_of(form, match.group(1))
        return text if match.start() == 0 else text[0].lower() + text[1:]

    return _API_NAMES.sub(label, message)


def show_errors(form: FlaskForm, name: str | None, message: str) -> None:
    """Show a message beside a field, once, in the form's words (at the top when no field matches)."""
    field = form._fields.get(name) if name else None
    text = in_words(form, message)
    if field is None:
        if text not in form.form_errors:
            form.form_errors.append(text)
    elif text not in field.errors:
        field.errors = [*field.errors, text]


def error_summary(form: FlaskForm) -> list[dict]:
    """Return every error of a form, in field order, with the id each summary link jumps to."""
    items = [{"target": None, "message": message} for message in form.form_errors]
    for name, field in form._fields.items():
        if not field.errors or name == "csrf_token":
            continue
        target = f"{field.id}-0" if field.type == "RadioField" else field.id
        label = label_of(form, name)
        for message in field.errors:
            text = message if label.lower() in message.lower() else f"{label}: {message}"
            items.append({"target": target, "message": text})
    if form._fields.get("csrf_token") is not None and form.csrf_token.errors:
        items.insert(0, {"target": None, "message": "The form had expired; check it and submit it again."})
    return items


def focus_first_error(form: FlaskForm) -> None:
    """Give keyboard focus (autofocus) to the first field with an error."""
    for name, field in form._fields.items():
        if field.errors and name != "csrf_token":
            field.render_kw = {**(field.render_kw or {}), "autofocus": True}
            return


class LoginForm(FlaskForm):
    """Operator sign-in."""

    username = StringField("Username", [InputRequired(), Length(max=80)], render_kw={"autocomplete": "username"})
    password = PasswordField("Password", [InputRequired()], render_kw={"autocomplete": "current-password"})
    next = HiddenField()


DST_GAP_CHOICES = (("SHIFT", "Run at the end of the gap (SHIFT)"), ("SKIP", "Do not run that day (SKIP)"))
DST_REPEAT_CHOICES = (
    ("FIRST", "At the first (FIRST)"),
    ("SECOND", "At the second (SECOND)"),
    ("BOTH", "At both (BOTH)"),
)
HOLIDAY_CHOICES = (
    ("", "Run as usual"),
    ("SKIP", "Skip the run (SKIP)"),
    ("NEXT_BUSINESS_DAY", "Move it to the next business day"),
    ("PREVIOUS_BUSINESS_DAY", "Move it to the previous business day"),
)


class PolicyFields:
    """The daylight-saving policy and holiday rule, shared by the schedule form and the preview."""

    dst_gap = SelectField("When the spring change skips the time", choices=choices(DST_GAP_CHOICES), default="SHIFT")
    dst_repeat = SelectField(
        "When the autumn change repeats the time", choices=choices(DST_REPEAT_CHOICES), default="FIRST"
    )
    holiday_rule = SelectField("On weekends and holidays", choices=choices(HOLIDAY_CHOICES), default="")
    calendar_id = SelectField("Holiday calendar", validate_choice=False, default="")

    def policy(self) -> dict:
        """Return the four fields as the API takes them (empty choices as null)."""
        return {
            "dst_gap": self.dst_gap.data or "SHIFT",
            "dst_repeat": self.dst_repeat.data or "FIRST",
            "holiday_rule": self.holiday_rule.data or None,
            "calendar_id": self.calendar_id.data or None,
        }


class ScheduleForm(PolicyFields, AdvancedFields, FlaskForm):
    """Create or edit a schedule; the builder writes the cron expression."""

    client_id = SelectField("Client (agent)", validate_choice=False)
    task_type = StringField(
        "Task type",
        [InputRequired("Give the task type")],
        render_kw={"required": True, "maxlength": limits.TEXT_MAX, **_CODE},
    )
    capability_required = StringField(
        "Capability required",
        [InputRequired("Give the capability a worker needs")],
        render_kw={"required": True, "maxlength": limits.TEXT_MAX, "list": "capability-list", **_CODE},
    )
    priority = IntegerField(
        f"Priority ({limits.PRIORITY_MIN} lowest – {limits.PRIORITY_MAX} highest)",
        default=limits.DEFAULT_PRIORITY,
        render_kw={"min": limits.PRIORITY_MIN, "max": limits.PRIORITY_MAX},
    )
    kind = RadioField("Runs", choices=choices(builder.KINDS), default="daily")
    at_time = StringField("At", default="09:00", render_kw={"type": "time"})
    weekday = SelectField("On", choices=choices(builder.WEEKDAYS), default="MON")
    monthday = IntegerField("On day", [Optional()], default=1, render_kw={"min": 1, "max": 31})
    run_at = StringField("Date and time", render_kw={"type": "datetime-local"})
    cron_expression = StringField("Cron expression", render_kw={"placeholder": "*/15 9-17 * * 1-5", **_CODE})
    timezone = StringField("Time zone", default="UTC", render_kw={"list": "tz-list", **_CODE})
    input_data = TextAreaField("Input data (a JSON object)", default="{}", render_kw={"rows": 6, **_CODE})
    description = TextAreaField("Description", render_kw={"rows": 2, "maxlength": limits.DESCRIPTION_MAX})

    def validate_input_data(self, field) -> None:
        """Refuse text that is not JSON; the service checks that it is an object and its size."""
        try:
            field.parsed = json.loads(field.data or "{}")
        except json.JSONDecodeError as err:
            raise ValidationError(f"Not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})") from None
        except RecursionError:
            raise ValidationError(f"Nested too deeply (limit {limits.MAX_JSON_DEPTH} levels)") from None

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
        self.holiday_rule.data = schedule.holiday_rule or ""
        self.calendar_id.data = schedule.calendar_id or ""
        self.fill_advanced(schedule)

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

    def body(self, with_timing: bool = True) -> dict:
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
        if with_timing:
            body.update(self.timing())
            body.update(self.policy())
        body.update(self.advanced_body())
        return body

    def changes(self, schedule: ScheduledTask) -> dict:
        """Return only what the edit changes, so untouched timing is not recomputed."""
        body = self.body()
        body.pop("client_id", None)
        advanced = self.advanced_changes(schedule, body)
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
        changed.update(advanced)
        return changed

    def apply_error(self, err: ServiceError) -> None:
        """Show a service error beside the field it is about (at the top of the form otherwise), in labels."""
        name = policy_form.field_for(err) or builder.field_for(err, self.kind.data)
        show_errors(self, name, err.message)


class CalendarForm(FlaskForm):
    """Create or edit a holiday calendar: dates typed in, or an iCalendar file imported."""

    client_id = SelectField("Client (agent)", validate_choice=False)
    name = StringField(
        "Name", [InputRequired("Give the calendar a name")], render_kw={"maxlength": limits.TEXT_MAX, "required": True}
    )
    dates = TextAreaField(
        "Dates (YYYY-MM-DD, one per line or separated by commas)",
        render_kw={"rows": 8, "placeholder": "2026-12-25\n2027-01-01", **_CODE},
    )
    ics_file = FileField("Or import an iCalendar file (.ics): its all-day events replace the dates")

    def body(self) -> dict:
        """Return the request the form stands for, as the API would receive it."""
        body: dict = {"name": (self.name.data or "").strip()}
        upload = self.ics_file.data
        if upload is not None and getattr(upload, "filename", ""):
            body["ics"] = upload.read().decode("utf-8", errors="replace")
        else:
            body["dates"] = [d for d in re.split(r"[\s,;]+", self.dates.data or "") if d]
        return body

    def apply_error(self, err: ServiceError) -> None:
        """Show a service error beside the field it is about (ics errors beside the file)."""
        show_errors(self, "ics_file" if err.field == "ics" else err.field, err.message)


class AgentForm(FlaskForm):
    """Register an agent; its key is shown once."""

    agent_id = StringField(
        "Agent id", [InputRequired(), Length(max=limits.ID_MAX)], render_kw={"placeholder": "client-123", **_CODE}
    )
    name = StringField("Name", [Length(max=limits.TEXT_MAX)])
    capabilities = StringField(
        "Capabilities (separated by commas or spaces)", render_kw={"placeholder": "report-v1, email-v2", **_CODE}
    )
    admin = BooleanField("Admin: may see and change every client's schedules")

    def capability_list(self) -> list[str]:
        """Split the capabilities text into a list."""
        return [c for c in (self.capabilities.data or "").replace(",", " ").split() if c]


class PreviewForm(PolicyFields, FlaskForm):
    """The cron preview: read from the query string, so it needs no CSRF token."""

    class Meta:
        """A GET form changes nothing."""

        csrf = False

    cron_expression = StringField("Cron expression", render_kw={"placeholder": "30 2 * * *", **_CODE})
    timezone = StringField("Time zone", default="UTC", render_kw={"list": "tz-list", **_CODE})
    start = StringField("Starting from (optional, local time)", render_kw={"type": "datetime-local"})
    count = IntegerField(
        "Runs to show",
        [Optional(), NumberRange(limits.PREVIEW_COUNT_MIN, limits.PREVIEW_COUNT_MAX)],
        default=8,
        render_kw={"min": limits.PREVIEW_COUNT_MIN, "max": limits.PREVIEW_COUNT_MAX},
    )
