"""Evidence uploads: hashed, stored under generated names, served only as downloads, and every
path, type and size trick refused with a message."""

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.models import AuditEvent, EvidenceFile, User
from app.services.incidents import OpenRequest, open_incident
from tests.conftest import csrf_token

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"


@pytest.fixture
def incident_page(client, app, db, signed_in):
    user = signed_in("comms", team="communications")
    registry = app.extensions["breachdesk.workflows"]
    incident = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Post"),
                             actor=db.get(User, user.id))
    db.commit()
    return incident


def upload(client, incident, name, content, description="screenshot"):
    token = csrf_token(client, f"/incidents/{incident.id}")
    return client.post(f"/incidents/{incident.id}/evidence", content_type="multipart/form-data",
                       data={"csrf_token": token, "description": description,
                             "file": (io.BytesIO(content), name)})


def test_a_screenshot_is_stored_hashed_and_downloaded_as_an_attachment(client, app, db, incident_page):
    response = upload(client, incident_page, "screenshot.png", PNG)
    assert response.status_code == 302
    evidence = db.query(EvidenceFile).one()
    assert evidence.sha256 == hashlib.sha256(PNG).hexdigest() and evidence.size_bytes == len(PNG)
    stored = Path(app.config["BREACHDESK"].evidence_path) / evidence.stored_name
    assert stored.read_bytes() == PNG and "screenshot" not in evidence.stored_name
    assert not str(stored).startswith(str(Path(app.static_folder)))
    page = client.get(f"/incidents/{incident_page.id}").get_data(as_text=True)
    assert evidence.sha256 in page
    download = client.get(f"/incidents/{incident_page.id}/evidence/{evidence.id}")
    assert download.status_code == 200 and download.data == PNG
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    actions = {a for (a,) in db.query(AuditEvent.action)}
    assert {"evidence.added", "evidence.downloaded"} <= actions


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("cat.png", b"<html><script>alert(1)</script></html>", "does not match its .png extension"),
        ("drawing.png", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "does not match"),
        ("notes.txt", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "SVG markup"),
        ("page.txt", b"<!DOCTYPE html><p>hi</p>", "web page"),
        ("evil.html.png", b"<html>not a png</html>", "does not match"),
        ("image.svg", b"<svg/>", "not accepted"),
        ("report.html", b"<p>x</p>", "not accepted"),
        ("invoice\u202egnp.exe", b"MZ\x90\x00", "not accepted"),
        ("scan.pdf", PNG, "looks like png"),
        ("empty.png", b"", "is empty"),
        ("noext", b"plain text", "not accepted"),
    ],
)
def test_disguised_or_dangerous_files_are_refused_and_nothing_is_stored(client, app, db, incident_page, name,
                                                                        content, message):
    response = upload(client, incident_page, name, content)
    assert response.status_code in (400, 422)
    assert message in response.get_data(as_text=True)
    assert db.query(EvidenceFile).count() == 0
    folder = Path(app.config["BREACHDESK"].evidence_path)
    assert not folder.exists() or not any(folder.iterdir())


@pytest.mark.parametrize("name", ["../../etc/passwd.txt", "..\\..\\boot.txt", "a\x00b.txt", "/abs/path.txt",
                                  ".hidden.txt", "x" * 400 + ".txt"])
def test_path_tricks_in_names_only_ever_change_the_display_name(client, app, db, incident_page, name):
    response = upload(client, incident_page, name, b"plain words")
    assert response.status_code == 302
    evidence = db.query(EvidenceFile).one()
    assert "/" not in evidence.original_name and "\\" not in evidence.original_name
    assert "\x00" not in evidence.original_name and len(evidence.original_name) <= 200
    stored = Path(app.config["BREACHDESK"].evidence_path) / evidence.stored_name
    assert stored.is_file() and stored.parent == Path(app.config["BREACHDESK"].evidence_path)


def test_double_extension_with_real_image_content_is_kept_as_an_image(client, db, incident_page):
    assert upload(client, incident_page, "photo.php.png", PNG).status_code == 302
    assert db.query(EvidenceFile).one().content_type == "image/png"


def test_pdf_and_text_are_accepted(client, db, incident_page):
    assert upload(client, incident_page, "letter.pdf", PDF).status_code == 302
    assert upload(client, incident_page, "message.eml", b"From: a@b\r\nSubject: hi\r\n\r\nHello").status_code == 302
    assert db.query(EvidenceFile).count() == 2


def test_a_file_over_the_limit_is_refused_with_the_limit(client, db, incident_page):
    response = upload(client, incident_page, "big.png", PNG + b"\x00" * (21 * 1024 * 1024))
    assert response.status_code == 422 and "larger than 20 MB" in response.get_data(as_text=True)


def test_an_oversized_request_gets_a_clear_413(client, incident_page):
    response = upload(client, incident_page, "huge.png", PNG + b"\x00" * (26 * 1024 * 1024))
    assert response.status_code == 413 and "Traceback" not in response.get_data(as_text=True)


def test_too_many_multipart_parts_is_refused(client, incident_page):
    token = csrf_token(client, f"/incidents/{incident_page.id}")
    data = {"csrf_token": token, "file": (io.BytesIO(PNG), "a.png")}
    data.update({f"extra{n}": "x" for n in range(200)})
    response = client.post(f"/incidents/{incident_page.id}/evidence", data=data, content_type="multipart/form-data")
    assert response.status_code == 413


def test_evidence_cannot_be_fetched_through_another_incident_or_by_someone_without_access(
        client, app, db, incident_page, make):
    assert upload(client, incident_page, "s.png", PNG).status_code == 302
    evidence_id = db.query(EvidenceFile).one().id
    registry = app.extensions["breachdesk.workflows"]
    other = open_incident(db, registry, OpenRequest(workflow_key="problem-solving", title="Other"),
                          actor=db.get(User, make.user("admin").id))
    db.commit()
    assert client.get(f"/incidents/{other.id}/evidence/{evidence_id}").status_code == 404
    from tests.conftest import login

    outsider = app.test_client()
    login(outsider, make.user("rep", team="reps-north"))
    assert outsider.get(f"/incidents/{incident_page.id}/evidence/{evidence_id}").status_code == 404


def test_a_forwarded_html_email_is_kept_whole_and_only_ever_downloaded_in_a_sandbox(client, db, incident_page):
    message = (b"From: journalist@paper.example\r\nSubject: Comment?\r\nContent-Type: text/html\r\n\r\n"
               b"<html><body><script>alert(1)</script>Can you comment by 5pm?</body></html>")
    assert upload(client, incident_page, "approach.eml", message).status_code == 302
    evidence = db.query(EvidenceFile).one()
    assert evidence.content_type == "message/rfc822"
    assert evidence.sha256 == hashlib.sha256(message).hexdigest()

    download = client.get(f"/incidents/{incident_page.id}/evidence/{evidence.id}")
    assert download.data == message
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download.headers["Content-Security-Policy"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_markup_is_still_refused_in_a_text_file(client, db, incident_page):
    response = upload(client, incident_page, "notes.txt", b"<html><script>alert(1)</script></html>")
    assert response.status_code == 422 and db.query(EvidenceFile).count() == 0


def test_the_page_shows_each_hash_with_who_captured_it_and_when_in_utc(client, app, db, signed_in):
    """Evidence integrity: the captured text's SHA-256 and each file's, with the capturer and an explicit UTC time
    (July: UK time is an hour ahead, so the UTC time cannot be mistaken for it)."""
    from app.clock import frozen_at
    from app.services.evidence import capture_file
    from app.services.incidents import PostInput

    user = db.get(User, signed_in("comms", team="communications", name="Casey Capturer").id)
    registry = app.extensions["breachdesk.workflows"]
    text = "Our trust's waiting list numbers are a fiddle."
    with frozen_at(datetime(2026, 7, 1, 13, 5, 9, tzinfo=UTC)):
        incident = open_incident(db, registry, OpenRequest(
            workflow_key="problem-solving", title="Post",
            post=PostInput(platform="x", url="https://x.com/a/status/1", text=text)), actor=user)
        capture_file(db, incident, actor=user, filename="screenshot.png", stream=io.BytesIO(PNG),
                     folder=app.config["BREACHDESK"].evidence_path)
        db.commit()
    page = client.get(f"/incidents/{incident.id}").get_data(as_text=True)
    text_line = next(line for line in page.splitlines() if "SHA-256 of text" in line)
    assert hashlib.sha256(text.encode()).hexdigest() in text_line
    assert "01 Jul 2026 13:05:09 UTC" in text_line and "by Casey Capturer" in text_line
    file_line = next(line for line in page.splitlines() if hashlib.sha256(PNG).hexdigest() in line)
    assert "01 Jul 2026 13:05:09 UTC" in file_line and "by Casey Capturer" in file_line
