"""Administrator pages. For now: the e-mail outbox, so failed sends are visible."""

from __future__ import annotations

from flask import abort, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import func, select

from app.admin import bp
from app.extensions import db
from app.models import OutboxMessage
from app.permissions import can_see_outbox


@bp.get("/outbox")
@login_required
def outbox() -> str:
    if not can_see_outbox(current_user):
        abort(404)
    status = request.args.get("status", "failed")
    if status not in ("pending", "sent", "failed"):
        status = "failed"
    messages = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.status == status).order_by(OutboxMessage.id.desc()).limit(200)
    ).all()
    counts = dict(db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    return render_template("admin/outbox.html", messages=messages, status=status, counts=counts)
