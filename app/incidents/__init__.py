from flask import Blueprint

bp = Blueprint("incidents", __name__)

from app.incidents import routes  # noqa: E402,F401
from app.incidents.rows import queue_rows  # noqa: E402

bp.add_app_template_global(queue_rows)
