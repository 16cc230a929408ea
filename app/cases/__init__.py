"""Members' case files (union side): the file, its parallel tracks, the hearing bundle, the rep's week."""

from flask import Blueprint

bp = Blueprint("cases", __name__)

from app.cases import routes  # noqa: E402,F401
