"""WSGI entry point for gunicorn: ``gunicorn 'app.wsgi:app'``. Start-up problems print one line and exit."""

import gc
import sys

from app import create_app
from app.errors import StartupError

try:
    app = create_app()
except StartupError as error:
    print(f"breachdesk: {error}", file=sys.stderr)
    sys.exit(4)

# What start-up built (models, compiled templates, the workflow files) lives as long as the worker. Freezing it
# takes it out of the collector's reach, so the full collections a busy worker runs between requests scan only
# what requests allocate, not these hundreds of thousands of long-lived objects.
gc.collect()
gc.freeze()
