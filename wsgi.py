"""The WSGI entry point: `gunicorn wsgi:app` or `flask --app wsgi ...`."""

import sys

from webapp import create_app
from webapp.security import InsecureSettings

try:
    app = create_app()
except InsecureSettings as refused:
    # One clear line rather than a traceback; 4 is gunicorn's "app failed to load", so it stops, not retries.
    print(refused, file=sys.stderr, flush=True)
    sys.exit(4)
