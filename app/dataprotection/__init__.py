"""The data protection officer's page (administrators): subject access, legal holds, retention, erasure,
redacted disclosure copies."""

from flask import Blueprint

bp = Blueprint("dataprotection", __name__, url_prefix="/admin/data-protection")

from app.dataprotection import routes  # noqa: E402,F401
