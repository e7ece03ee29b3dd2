"""gunicorn reads this file from the working directory: settings checks that run once, in the master.

gunicorn treats every module-level name that matches one of its settings (`config` is one) as that
setting, so the imports here carry underscore names.
"""

from __future__ import annotations

import os as _os
import sys as _sys

from webapp import config as _config
from webapp import security as _security


def on_starting(server) -> None:
    """Refuse an insecure start in one clear line, before any worker boots (no traceback per worker)."""
    settings = _config.from_environment(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "instance"))
    refusal = _security.secret_key_refusal(settings["SECRET_KEY"], "it runs under gunicorn")
    if refusal:
        print(f"gunicorn: {refusal}", file=_sys.stderr, flush=True)
        _sys.exit(1)
