"""gunicorn reads this file from the working directory: what runs once, in the master.

gunicorn treats every module-level name that matches one of its settings (`config` is one) as that
setting, so the imports here carry underscore names.
"""

from __future__ import annotations

import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile

# The server's metrics directory (see webapp/metrics.py): fresh for each server, so counts start at
# zero and no other server's files are summed. prometheus-client picks its multiprocess mode when it
# is first imported, which the webapp import below does, so the variable is set before it.
_METRICS_DIR = _tempfile.mkdtemp(prefix="scheduler-metrics-")
_os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR

from prometheus_client import multiprocess as _multiprocess  # noqa: E402

from webapp import config as _config  # noqa: E402
from webapp import security as _security  # noqa: E402


def on_starting(server) -> None:
    """Refuse an insecure start in one clear line, before any worker boots (no traceback per worker)."""
    settings = _config.from_environment(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "instance"))
    refusal = _security.secret_key_refusal(settings["SECRET_KEY"], "it runs under gunicorn")
    if refusal:
        print(f"gunicorn: {refusal}", file=_sys.stderr, flush=True)
        _sys.exit(1)


def child_exit(server, worker) -> None:
    """Let the metrics of a worker that exited stay counted, and drop its live-gauge files."""
    _multiprocess.mark_process_dead(worker.pid, _METRICS_DIR)


def on_exit(server) -> None:
    """Remove the server's metrics directory."""
    _shutil.rmtree(_METRICS_DIR, ignore_errors=True)
