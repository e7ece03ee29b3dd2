"""Settings from the environment, read in one place."""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEV_SECRET_KEY = "dev-insecure-change-me"
DEFAULT_BATCH_SIZE = 500  # schedules the dispatcher claims per transaction


def _flag(name: str, default: bool) -> bool:
    """Read a boolean environment variable ("0", "false", "no", "off" are false)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() not in {"0", "false", "no", "off"}


def _days(name: str, default: int) -> int:
    """Read a whole number of days, 0 or more; refuse anything else with a message that names the setting."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a whole number of days, 0 or more (0 keeps everything)")
    return int(raw)


def from_environment(instance_path: str) -> dict:
    """Return the app settings taken from the environment, with embedded defaults."""
    default_db = "sqlite:///" + str(Path(instance_path) / "scheduler.db")
    url = os.environ.get("DATABASE_URL") or default_db
    # Heroku-style URLs name the old driver; the scale-out database speaks psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or DEV_SECRET_KEY,
        "SCHEDULER_ENABLED": _flag("SCHEDULER_ENABLED", True),
        "AUTO_UPGRADE": _flag("AUTO_UPGRADE", url.startswith("sqlite")),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", False),
        # How many reverse proxies stand in front (their X-Forwarded-* headers are trusted); 0: none.
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES") or 0),
        "WTF_CSRF_TIME_LIMIT": None,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "JSON_SORT_KEYS": False,
        "DISPATCH_BATCH_SIZE": int(os.environ.get("SCHEDULER_BATCH_SIZE") or DEFAULT_BATCH_SIZE),
        # Set by gunicorn.conf.py for the server: where every worker's metrics are kept (see metrics.py).
        "METRICS_DIR": os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
        # Test-only: seconds to pause inside each batch transaction, so a test can SIGKILL mid-batch.
        "DISPATCH_HOLD_SECONDS": float(os.environ.get("SCHEDULER_TEST_HOLD_SECONDS") or 0),
        # Bounds on how long a stalled writer can hold everyone else up (seconds; see README, Faults).
        "DATABASE_LOCK_TIMEOUT": float(os.environ.get("DATABASE_LOCK_TIMEOUT") or 2),
        "DATABASE_STATEMENT_TIMEOUT": float(os.environ.get("DATABASE_STATEMENT_TIMEOUT") or 30),
        "DATABASE_IDLE_TRANSACTION_TIMEOUT": float(os.environ.get("DATABASE_IDLE_TRANSACTION_TIMEOUT") or 10),
        # Let webhooks reach loopback and private addresses (a receiver on this machine or LAN).
        "WEBHOOK_ALLOW_PRIVATE": _flag("WEBHOOK_ALLOW_PRIVATE", False),
        # Threads per process that POST webhook deliveries.
        "WEBHOOK_WORKERS": int(os.environ.get("WEBHOOK_WORKERS") or 8),
        # Days finished webhook deliveries and their events are kept (events/retention.py); 0 keeps them all.
        "EVENT_RETENTION_DAYS": _days("EVENT_RETENTION_DAYS", 30),
    }


def production_reason(environ: dict | None = None, argv0: str | None = None) -> str | None:
    """Say why this process counts as production (gunicorn, or APP_ENV/FLASK_ENV=production); None if not."""
    environ = os.environ if environ is None else environ
    argv0 = (sys.argv[0] if sys.argv else "") if argv0 is None else argv0
    for name in ("APP_ENV", "FLASK_ENV"):
        if environ.get(name, "").strip().lower() == "production":
            return f"{name}=production"
    # gunicorn's arbiter exports SERVER_SOFTWARE=gunicorn/<version> before it loads the app.
    if "gunicorn" in environ.get("SERVER_SOFTWARE", "").lower() or "gunicorn" in os.path.basename(argv0):
        return "it runs under gunicorn"
    return None


def is_reloader_child() -> bool:
    """Tell whether this process is the serving child of `flask run`'s reloader (read at call time)."""
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def engine_options(config: dict) -> dict:
    """Return the engine options for the configured database, with its session time bounds.

    On PostgreSQL every session of the service gets lock_timeout, statement_timeout and
    idle_in_transaction_session_timeout at connect time (no extra round trip), and a connect
    timeout, so neither a stalled holder of row locks nor an unreachable server hangs a request.
    SQLite's busy timeout is set per connection by extensions.configure_engine.
    """
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if not str(config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        return options

    def ms(name: str) -> int:
        """Return a setting in whole milliseconds."""
        return int(float(config[name]) * 1000)

    bounds = (
        f"-c lock_timeout={ms('DATABASE_LOCK_TIMEOUT')}"
        f" -c statement_timeout={ms('DATABASE_STATEMENT_TIMEOUT')}"
        f" -c idle_in_transaction_session_timeout={ms('DATABASE_IDLE_TRANSACTION_TIMEOUT')}"
    )
    connect_args = dict(options.get("connect_args") or {})
    connect_args.setdefault("connect_timeout", 5)
    connect_args["options"] = f"{connect_args.get('options', '')} {bounds}".strip()
    options["connect_args"] = connect_args
    return options
