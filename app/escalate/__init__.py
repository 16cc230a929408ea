"""Officers' Escalate page, the Director of Communications' referral queue and the press office's queue."""

from flask import Blueprint

bp = Blueprint("escalate", __name__)

from app.escalate import routes  # noqa: E402,F401
