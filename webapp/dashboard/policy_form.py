"""The schedule form's Advanced section: every policy of SPEC Part 2, read into the body the API takes.

The inputs are plain text: a number is handed to the service as a number when it reads as one and as
the typed text otherwise, so the service's own checks (type, range, combinations) speak for the form
and the operator sees exactly the errors an agent would.
"""

from __future__ import annotations

import re

from wtforms import SelectChoice, SelectField, StringField

from ..errors import ServiceError
from ..models import MisfirePolicy, OverlapPolicy, ScheduledTask
from ..scheduling import policies
from .timefmt import local_input
from .words import span

_NUMBER = {"inputmode": "numeric", "autocomplete": "off", "type": "number"}
RETRY_KEYS = tuple(policies.RETRY_DEFAULTS)  # max_attempts, initial_interval_seconds, ...
RETRY_FIELDS = {key: f"retry_{key}" for key in RETRY_KEYS}
# The names a service message may use for this section's inputs, and the input each one means.
MESSAGE_NAMES = {
    **{name: name for name in policies.DEFAULTS if name != "retry_policy"},
    **{f"retry_policy.{key}": name for key, name in RETRY_FIELDS.items()},
}
# The policy fields the section sends, in the order the API documents them.
POLICY_KEYS = tuple(policies.DEFAULTS)
BOUNDS = ("start_at", "end_at")

OVERLAP_WORDS = {
    OverlapPolicy.ALLOW: "Start it anyway (ALLOW)",
    OverlapPolicy.SKIP: "Skip the new run (SKIP)",
    OverlapPolicy.BUFFER_ONE: "Hold one, start it when the previous ends (BUFFER_ONE)",
    OverlapPolicy.REPLACE: "Cancel the previous run, start the new one (REPLACE)",
}
MISFIRE_WORDS = {
    MisfirePolicy.FIRE_LATEST: "Run the latest one once (FIRE_LATEST)",
    MisfirePolicy.FIRE_ALL: "Run every one, oldest first (FIRE_ALL)",
    MisfirePolicy.SKIP: "Run none, wait for the next (SKIP)",
}
_D = policies.DEFAULTS
_R = policies.RETRY_DEFAULTS


def number_input(label: str, help_text: str, default=None, low: int = 1, **render) -> StringField:
    """Return a number input whose text goes to the service as typed (see number)."""
    return StringField(
        label,
        default=None if default is None else str(default),
        render_kw={**_NUMBER, "min": low, **render},
        description=help_text,
    )


def moment_input(label: str, help_text: str) -> StringField:
    """Return a local date-and-time input for a bound (cron schedules only; the default is none)."""
    return StringField(
        label, render_kw={"type": "datetime-local"}, description=f"{help_text} (the default). Cron schedules only."
    )


def choice_input(label: str, words: dict, name: str, help_text: str) -> SelectField:
    """Return a select of a policy's values in words, its default chosen."""
    return SelectField(
        label,
        choices=[SelectChoice(value, text) for value, text in words.items()],
        default=_D[name],
        description=help_text,
    )


class AdvancedFields:
    """The policy inputs of the schedule form (a mixin for ScheduleForm), each with its default in its help."""

    overlap_policy = choice_input(
        "Overlap (when the previous run is still going)",
        OVERLAP_WORDS,
        "overlap_policy",
        "A run is going while its task waits for a worker, runs, or waits to retry. "
        f"Default: start it anyway ({_D['overlap_policy']}). Run now and backfill always start.",
    )
    misfire_policy = choice_input(
        "Missed runs (while the service was down)",
        MISFIRE_WORDS,
        "misfire_policy",
        "Default: run the latest missed one once and record the older ones as missed "
        f"({_D['misfire_policy']}). A run that is merely late always starts.",
    )
    catchup_window_seconds = number_input(
        "Catch-up window (seconds)",
        "A run found due longer ago than this never starts; it is recorded as outside the window. "
        "Empty: no limit (the default). 3600 is an hour.",
        placeholder="no limit",
    )
    start_at = moment_input(
        "Start (not before)", "No run before this moment, in the schedule's time zone. Empty: from now"
    )
    end_at = moment_input("End (not after)", "No run after this moment; then the schedule is completed. Empty: no end")
    max_runs = number_input(
        "Run limit (firings)",
        "The schedule is completed after this many firings (run now does not count, backfill does). "
        "Empty: no limit (the default). Cron schedules only.",
        placeholder="no limit",
    )
    jitter_seconds = number_input(
        "Jitter (seconds)",
        "Each run starts a fixed number of seconds, below this, after its time, to spread load. "
        f"Default: {_D['jitter_seconds']} (on time). Must be smaller than the gap between runs. Cron schedules only.",
        _D["jitter_seconds"],
        low=0,
    )
    retry_max_attempts = number_input(
        "Attempts (the first included)",
        f"Attempts in all. Default: {_R['max_attempts']} (no retry); 3 retries twice.",
        _R["max_attempts"],
    )
    retry_initial_interval_seconds = number_input(
        "First wait (seconds)",
        f"The wait before the first retry. Default: {_R['initial_interval_seconds']}.",
        _R["initial_interval_seconds"],
    )
    retry_backoff_coefficient = number_input(
        "Growth factor (of each wait)",
        f"Each wait is the one before times this: 2 doubles it. Default: {_R['backoff_coefficient']}.",
        _R["backoff_coefficient"],
        step="0.1",
    )
    retry_max_interval_seconds = number_input(
        "Longest wait (seconds)",
        f"No wait is longer. Default: {_R['max_interval_seconds']} ({span(_R['max_interval_seconds'])}).",
        _R["max_interval_seconds"],
    )
    timeout_seconds = number_input(
        "Timeout (seconds)",
        "An attempt whose worker sends no heartbeat for this long has failed (and is retried while "
        f"attempts remain). Default: {_D['timeout_seconds']} ({span(_D['timeout_seconds'])}).",
        _D["timeout_seconds"],
    )
    pause_after_failures = number_input(
        "Failures before pausing (in a row)",
        "The schedule pauses itself after this many failed runs in a row and says why; resuming "
        "clears the count. Empty: never (the default).",
        placeholder="never",
    )

    def advanced_body(self) -> dict:
        """Return the policy fields of a create request: each as typed, the retry policy when it is not the default."""
        body: dict = {
            "overlap_policy": self.overlap_policy.data or _D["overlap_policy"],
            "misfire_policy": self.misfire_policy.data or _D["misfire_policy"],
        }
        for name in ("catchup_window_seconds", "max_runs", "pause_after_failures"):
            body[name] = number(getattr(self, name).data)  # empty: no limit
        for name in ("jitter_seconds", "timeout_seconds"):
            value = number(getattr(self, name).data)
            body[name] = _D[name] if value is None else value
        for name in BOUNDS:
            body[name] = (getattr(self, name).data or "").strip() or None
        retry = self.retry_body()
        if retry != _R:
            body["retry_policy"] = retry
        return body

    def retry_body(self) -> dict:
        """Return the four retry numbers as typed; an empty one takes its default."""
        retry = {}
        for key, name in RETRY_FIELDS.items():
            value = number(getattr(self, name).data)
            retry[key] = _R[key] if value is None else value
        return retry

    def fill_advanced(self, schedule: ScheduledTask) -> None:
        """Load a stored schedule's policies into the inputs."""
        stored = policies.public(schedule)
        self.overlap_policy.data = stored["overlap_policy"]
        self.misfire_policy.data = stored["misfire_policy"]
        for name in ("catchup_window_seconds", "max_runs", "pause_after_failures", "jitter_seconds", "timeout_seconds"):
            getattr(self, name).data = "" if stored[name] is None else str(stored[name])
        for name in BOUNDS:
            getattr(self, name).data = local_input(getattr(schedule, name), schedule.timezone)
        for key, name in RETRY_FIELDS.items():
            getattr(self, name).data = str(stored["retry_policy"][key])

    def advanced_changes(self, schedule: ScheduledTask, body: dict) -> dict:
        """Take the policy fields out of an edit's body; return those that differ from the stored schedule.

        A bound is written as local wall time, so a new time zone sends it again: the wall time stays
        what the operator sees, read in the new zone (as a one-time run_at is).
        """
        sent = {name: body.pop(name) for name in POLICY_KEYS if name in body}
        stored = policies.public(schedule)
        tz_changed = body.get("timezone", schedule.timezone) != schedule.timezone
        changed = {}
        for name, value in sent.items():
            if name in BOUNDS:
                before = local_input(getattr(schedule, name), schedule.timezone) or None
                if value != before or (tz_changed and value is not None):
                    changed[name] = value
            elif value != stored[name]:
                changed[name] = value
        if "retry_policy" not in sent and stored["retry_policy"] != _R:
            changed["retry_policy"] = dict(_R)  # the inputs were put back to the defaults
        return changed

    def advanced_set(self) -> int:
        """Count the policy inputs that differ from their defaults, for the section's summary."""
        body = self.advanced_body()
        plain = {**_D, "retry_policy": None}
        return sum(1 for name in POLICY_KEYS if body.get(name, plain[name]) != plain[name])


def number(text: str | None) -> int | float | str | None:
    """Read a typed number: an int or a float when it is one, None when empty, else the text.

    The text goes to the service as it is, which refuses it in the API's words ("must be an integer").
    """
    text = (text or "").strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


_RETRY_KEY = re.compile(r"retry_policy\.(\w+)")


def field_for(err: ServiceError) -> str | None:
    """Name the input of the section that a service error about a retry key belongs beside, if any."""
    if err.field != "retry_policy":
        return None
    match = _RETRY_KEY.search(err.message)
    return RETRY_FIELDS.get(match.group(1)) if match else None
