"""A subject's record: handles, live warnings, and the incidents about them the viewer may see."""

from __future__ import annotations

from flask import abort, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from app.clock import utcnow
from app.extensions import db
from app.models import Incident, Person, Warning
from app.people import bp
from app.permissions import can_view_person, visible_incidents
from app.timing import LONDON


@bp.get("/people/<int:person_id>")
@login_required
def show(person_id: int) -> str:
    person = db.session.get(Person, person_id)
    if person is None or not can_view_person(db.session, current_user, person):
        abort(404)
    incidents = db.session.scalars(
        select(Incident).where(Incident.subject_id == person.id, visible_incidents(current_user))
        .order_by(Incident.created_at.desc()).limit(200)
    ).all()
    warnings = db.session.scalars(
        select(Warning).where(Warning.person_id == person.id).order_by(Warning.issued_on.desc())
    ).all()
    visible_ids = {i.id for i in incidents}
    # A warning from a case the viewer may not see stays hidden: its existence is case information.
    warnings = [w for w in warnings if w.incident_id in visible_ids or current_user.role == "admin"]
    # Live by date, not by the sweep's bookkeeping: a warning past its expiry is expired even if no
    # worker has run since.
    today = utcnow().astimezone(LONDON).date()
    return render_template("people/show.html", person=person, incidents=incidents,
                           live=[w for w in warnings if w.is_live(today)],
                           expired=[w for w in warnings if not w.is_live(today)])
