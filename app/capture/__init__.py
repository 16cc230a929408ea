"""Logging a reported post (the communications team's capture form) and acting on the incident page's
suggestions (accept or reject a suggested clause or severity)."""

from flask import Blueprint

bp = Blueprint("capture", __name__)

from app.capture import routes  # noqa: E402,F401
