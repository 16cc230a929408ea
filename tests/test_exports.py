"""CSV export: the list's filter, only what the user may read, formula-safe, audited."""

import csv
import io

import pytest

from app.models import AuditEvent, User
from app.services.exports import neutralise
from app.services.incidents import OpenRequest, open_incident


@pytest.mark.parametrize("value", ["=HYPERLINK(\"http://evil\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_formula_starts_are_neutralised(value):
    assert neutralise(value) == "'" + value


def test_ordinary_text_is_left_alone():
    assert neutralise("Rude post about the College") == "Rude post about the College"
    assert neutralise(None) == ""


def test_export_follows_the_filter_hides_what_the_user_cannot_read_and_is_audited(client, app, db, make, signed_in):
    registry = app.extensions["breachdesk.workflows"]
    comms = signed_in("comms", team="communications")
    comms = db.get(User, comms.id)
    rep = make.user("rep", team="reps-north")
    open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="=cmd|' /C calc'!A0"), actor=comms)
    open_incident(db, registry, OpenRequest(workflow_key="press-referral", title="Press approach"), actor=comms)
    open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Member case"),
                  actor=db.get(User, rep.id))
    db.commit()
    response = client.get("/incidents/export.csv?workflow=problem-solving&status=all")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:2] == ["reference", "title"]
    assert [r[1] for r in rows[1:]] == ["'=cmd|' /C calc'!A0"]
    everything = client.get("/incidents/export.csv?status=all").get_data(as_text=True)
    assert "Press approach" in everything and "Member case" not in everything
    exports = db.query(AuditEvent).filter_by(action="export").order_by(AuditEvent.id).all()  # oldest first
    assert len(exports) == 2 and exports[0].data["rows"] == 1
