"""WSGI entry point for gunicorn: ``gunicorn 'app.wsgi:app'``. Start-up problems print one line and exit."""

import sys

from app import create_app, freeze_startup_objects
from app.errors import StartupError

try:
    app = create_app()
except StartupError as error:
    print(f"breachdesk: {error}", file=sys.stderr)
    sys.exit(4)
freeze_startup_objects()
