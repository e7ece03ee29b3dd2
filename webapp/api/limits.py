"""The one definition of each limit on what a caller sends: field lengths and ranges, JSON depth, page
sizes and defaults. The request schemas, validation, the dashboard's forms and OpenAPI read them here."""

from __future__ import annotations

# Field limits.
TEXT_MAX = 200  # task_type, capability_required, cron_expression, a capability
ID_MAX = 128  # an agent (client) id
ZONE_MAX = 64  # an IANA zone name
INSTANT_MAX = 64  # an ISO 8601 instant as text
DESCRIPTION_MAX = 2000
ERROR_MESSAGE_MAX = 10000
MAX_INPUT_BYTES = 64 * 1024  # input_data, serialized
PRIORITY_MIN, PRIORITY_MAX, DEFAULT_PRIORITY = 1, 10, 5
PREVIEW_COUNT_MIN, PREVIEW_COUNT_MAX, DEFAULT_PREVIEW_COUNT = 1, 50, 5
CLAIM_LIMIT_MAX = 100
LEASE_SECONDS_MAX = 86400
MAX_OFFSET = 2**31 - 1  # past it the databases overflow
CATCHUP_WINDOW_MAX = 31536000  # a year, in seconds
MAX_RUNS_MAX = 1000000
JITTER_MAX = 3600
TIMEOUT_MAX, DEFAULT_TIMEOUT = 604800, 300  # a week; the lease a claim grants by default
PAUSE_AFTER_MAX = 1000
RETRY_ATTEMPTS_MAX = 20
RETRY_INTERVAL_MAX = 86400
BACKOFF_MIN, BACKOFF_MAX = 1.0, 10.0
BACKFILL_MAX = 1000  # occurrences one backfill may cover
UPCOMING_MAX = 100
UNCLAIMED_ALERT_MIN, UNCLAIMED_ALERT_MAX = 1, 604800  # unclaimed_alert_seconds: one second to one week
URL_MAX = 2000  # a webhook URL
# Written as JSON escapes, this many characters still fit the 1 MiB body limit (ten years of holidays take ~20 kB).
ICS_MAX_CHARACTERS = 150_000

# Deeper JSON than this is refused: no real payload needs it, and deep nesting costs stack in every
# walk over it (decoding, validation, storage).
MAX_JSON_DEPTH = 64

# Every paged list takes limit in 1..100 (each has its own default) and offset or cursor.
PAGE_LIMIT_MIN, PAGE_LIMIT_MAX = 1, 100
SCHEDULE_PAGE_DEFAULT = 20  # GET /aitp/tasks/schedule
EXECUTION_PAGE_DEFAULT = 50  # GET /aitp/tasks/schedule/{id}/executions
