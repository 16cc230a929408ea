"""Erasure: personal data gone across incidents and audit rows, the audit chain still verifies and still
catches tampering; refused (nothing changed) under a legal hold or a legal-claims exemption."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Text, cast, select, text

from app.clock import frozen_at
from app.models import AuditEvent, Incident, Person, Post, Report
from app.services import holds
from app.services.audit import verify_chain
from app.services.erasure import ErasureRefused, erase_person
from tests.dataprotection.helpers import at, incident, person

NAME = "Zelda Quartermaine"


def _everything_in_audit(db) -> str:
    rows = db.execute(select(AuditEvent.actor_label, AuditEvent.comment, cast(AuditEvent.data, Text))).all()
    return json.dumps([list(r) for r in rows], ensure_ascii=False)


def _erase(app, db, who: Person, admin):
    return erase_person(db, app.extensions["breachdesk.workflows"], who, actor=admin, reason="SAR-2026-7 erasure",
                        folder=app.config["BREACHDESK"].evidence_path)


def test_erasure_removes_the_person_everywhere_and_the_chain_still_verifies(app, db, make):
    admin = make.user("admin")
    with frozen_at(at(2026, 2, 1)):
        zelda = person(db, NAME, email="zelda@example.org", handle="@zeldaq")
        other = person(db, "Oscar Other")
        about = incident(app, db, admin, zelda, title=f"{NAME} posted about a patient",
                         text="hello from @zeldaq", reporter="Rita Reporter")
        mention = incident(app, db, admin, other, title="Oscar's post", text=f"Oscar quoted {NAME} and @zeldaq",
                           reporter=f"{NAME}", evidence=False)
        db.commit()
    stored = app.config["BREACHDESK"].evidence_path / about.evidence_files[0].stored_name
    assert NAME in _everything_in_audit(db)
    db.rollback()
    assert verify_chain(db) is None

    with frozen_at(at(2026, 3, 1)):
        result = _erase(app, db, db.get(Person, zelda.id), admin)
        db.commit()
    result.delete_files()

    db.expire_all()
    assert verify_chain(db) is None
    audit_text = _everything_in_audit(db)
    for word in (NAME, "Zelda", "Quartermaine", "zelda@example.org", "zeldaq"):
        assert word.lower() not in audit_text.lower(), word
    erased = db.get(Person, zelda.id)
    assert erased.name == f"Erased person {zelda.id}" and erased.email is None and not erased.handles
    assert erased.erased_at is not None
    everything = json.dumps([[i.title, i.summary, i.fields] for i in db.scalars(select(Incident))]
                            + [[p.text, p.author_handle] for p in db.scalars(select(Post))]
                            + [[r.reporter, r.note] for r in db.scalars(select(Report))], ensure_ascii=False)
    assert "zelda" not in everything.lower() and "quartermaine" not in everything.lower()
    assert "Oscar quoted [erased]" in everything  # the other person's file keeps everything else
    assert db.get(Incident, mention.id).subject_id == other.id and db.get(Incident, mention.id).posts[0].text
    assert not stored.exists() and not db.get(Incident, about.id).evidence_files
    sealed = db.scalar(select(AuditEvent).where(AuditEvent.action == "audit.values_erased"))
    assert sealed.data["rows"] and all(len(s["hash"]) == 64 for s in sealed.data["rows"].values())

    # Tampering with an erased (sealed) row, or any other row, is still caught.
    row_id = int(next(iter(sealed.data["rows"])))
    db.rollback()
    db.execute(text("UPDATE audit_events SET comment = 'quietly changed' WHERE id = :id"), {"id": row_id})
    db.commit()
    broken = verify_chain(db)
    assert broken is not None and broken.event_id == row_id


@pytest.mark.parametrize("kind", ["legal_hold", "legal_claims"])
def test_erasure_is_refused_under_a_hold_or_exemption_and_nothing_changes(app, db, make, kind):
    admin = make.user("admin")
    zelda = person(db, NAME, handle="@zeldaq")
    case = incident(app, db, admin, zelda, title=f"{NAME} case", text="hi", evidence=False)
    if kind == "legal_hold":
        holds.place_hold(db, actor=admin, incident=case, reason="Employment tribunal claim lodged")
    else:
        holds.place_hold(db, actor=admin, person=zelda, kind=kind, reason="Needed to defend a claim")
    db.commit()
    before = db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()))
    with pytest.raises(ErasureRefused) as refused:
        _erase(app, db, zelda, admin)
    db.rollback()
    assert "nothing was changed" in str(refused.value)
    assert db.get(Person, zelda.id).name == NAME and db.get(Incident, case.id).title == f"{NAME} case"
    assert db.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc())) == before
