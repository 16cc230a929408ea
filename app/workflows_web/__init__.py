from flask import Blueprint

bp = Blueprint("workflows", __name__)

from app.workflows_web import routes  # noqa: E402,F401
