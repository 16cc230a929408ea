"""Subject access archives and redacted disclosure copies: contents, real removal, the month's deadline."""

from __future__ import annotations

import io
import zipfile

from sqlalchemy import select

from app.clock import frozen_at
from app.models import AuditEvent, Incident
from app.services.disclosure import disclosure_copy
from app.services.subject_access import build_archive, open_request
from tests.conftest import csrf_token, login
from tests.dataprotection.helpers import at, incident, person


def _unzip(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


def test_sar_archive_holds_their_data_with_third_parties_removed_and_a_tracked_month(app, db, make):
    admin = make.user("admin", name="Dana Protection")
    registry = app.extensions["breachdesk.workflows"]
    with frozen_at(at(2026, 3, 10)):
        alice = person(db, "Alice Example", email="alice@example.org", handle="@alice_ex")
        bob = person(db, "Bob Bystander", email="bob@bystander.example", handle="@bobby_b")
        incident(app, db, admin, alice, reporter="Carol Reporter",
                 title="Alice Example tagged the College",
                 text="@alice_ex here: Bob Bystander (bob@bystander.example, 07700 900123) agrees with @bobby_b")
        incident(app, db, admin, bob, title="Bob's own case", text="nothing about Alice")
        sar = open_request(db, registry, alice, actor=admin)
        archive = build_archive(db, registry, alice, actor=admin, request=sar)
        db.commit()

    files = _unzip(archive.data)
    assert set(files) >= {"cover.txt", "person.json", "audit.txt"}
    assert sum(name.startswith("incidents/") for name in files) == 1  # Bob's case is not hers
    everything = "\n".join(files.values())
    assert "Alice Example" in everything and "alice@example.org" in everything and "@alice_ex" in everything
    for third_party in ("Bob", "Bystander", "bob@bystander.example", "bobby_b", "Carol", "07700 900123",
                        "Dana Protection", admin.email):
        assert third_party not in everything, third_party
        assert third_party.encode() not in archive.data
    assert "[third party]" in everything
    cover = files["cover.txt"]
    assert "person.json" in cover and "audit.txt" in cover and "incidents/" in cover
    assert "respond by 2026-04-10" in cover  # one month, from workflows/subject-access.yaml
    assert sar.workflow_key == "subject-access" and sar.restricted and sar.deadlines[0].key == "respond"
    assert db.scalar(select(AuditEvent.id).where(AuditEvent.action == "subject_access.archive_made")) is not None


def test_sar_for_an_unknown_person_is_refused_and_writes_nothing(cli_env, tmp_path):
    result = cli_env("sar", "nobody@example.org")
    assert result.returncode == 2
    assert "No person matches 'nobody@example.org'" in result.stderr and "Nothing was written" in result.stderr
    assert not list(tmp_path.glob("*.zip"))
    assert "0 row(s)" in cli_env("audit", "verify").stdout


def test_disclosure_copy_removes_chosen_people_pii_and_notes(app, db, make):
    admin = make.user("admin")
    registry = app.extensions["breachdesk.workflows"]
    alice = person(db, "Alice Example", handle="@alice_ex")
    bob = person(db, "Bob Bystander", email="bob@bystander.example")
    case = incident(app, db, admin, alice, title="Post naming Bob Bystander", reporter="Bob Bystander",
                    text="Bob Bystander, NHS 943 476 5919, lives at SW1A 1AA")
    db.commit()
    data = disclosure_copy(db, registry, db.get(Incident, case.id), actor=admin, people=[bob], pii=True, notes=False)
    db.commit()
    for gone in (b"Bob", b"Bystander", b"943 476 5919", b"SW1A 1AA", b"saw it"):
        assert gone not in data, gone
    assert b"Alice Example" in data and b"[redacted]" in data and b"[redacted: NHS number]" in data
    row = db.scalar(select(AuditEvent).where(AuditEvent.action == "incident.disclosure_exported"))
    assert row.data["redacted_people"] == [bob.id] and row.data["notes_removed"] is True


def test_admin_page_downloads_an_archive_and_refuses_an_unknown_person(app, db, make, client):
    admin = make.user("admin")
    alice = person(db, "Alice Example", email="alice@example.org")
    db.commit()
    assert login(client, admin).status_code == 302
    token = csrf_token(client, "/admin/data-protection")
    refused = client.post("/admin/data-protection/sar", data={"csrf_token": token, "person": "Nobody Here"})
    assert refused.status_code == 302
    assert db.scalar(select(Incident.id)) is None
    answer = client.post("/admin/data-protection/sar", data={"csrf_token": token, "person": str(alice.id)})
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert "person.json" in _unzip(answer.data)


def test_special_category_files_carry_a_marker(app, db, make, client):
    admin = make.user("admin")
    registry = app.extensions["breachdesk.workflows"]
    from app.services.incidents import OpenRequest, open_incident

    member = person(db, "Mina Member", role="member")
    case = open_incident(db, registry, OpenRequest(workflow_key="employer-disciplinary", title="Member case",
                                                   subject=member, restricted=True), actor=admin, check_role=False)
    plain = incident(app, db, admin, person(db, "Paul Plain"), title="College post", evidence=False)
    db.commit()
    assert login(client, admin).status_code == 302
    page = client.get(f"/incidents/{case.id}").get_data(as_text=True)
    assert "Special category" in page and "trade union membership" in page and "restricted file" in page
    assert "Special category" not in client.get(f"/incidents/{plain.id}").get_data(as_text=True)
