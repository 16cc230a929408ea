"""E-mail in: one message through the real ``breachdesk mail-in`` command, and the SMTP listener."""

from __future__ import annotations

import smtplib
import socket
from email.message import EmailMessage

import pytest
from sqlalchemy import create_engine, func, select, text

from app.models import AuditEvent, EvidenceFile, Incident, OutboxMessage, Report
from app.services.mail_in import MailRefused, parse_routes, route_for_address, route_for_subject

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ROUTES = parse_routes("press=press-referral,escalate=antagonistic-tag")


def message(*, sender: str, to: str, subject: str = "Fwd: hostile reply", body: str | None = None,
            attachments: tuple[tuple[str, bytes, str, str], ...] = ()) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Forwarding Officer <{sender}>"
    mail["To"] = to
    mail["Subject"] = subject
    mail["Message-ID"] = "<forward-1@example.org>"
    mail.set_content(body if body is not None else
                     "---------- Forwarded message ---------\n"
                     "@angry_registrar wrote: https://x.com/angry_registrar/status/1860000000000000042 "
                     "explain your College's fees!\n")
    for name, data, maintype, subtype in attachments:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return mail


# --- routing (pure) -----------------------------------------------------------------------------


def test_routes_come_from_the_setting_and_refuse_nonsense():
    assert ROUTES == {"press": "press-referral", "escalate": "antagonistic-tag"}
    assert route_for_address("Press Office <press@breachdesk.example.org>", ROUTES) == "press-referral"
    assert route_for_address("Escalate+urgent@breachdesk.example.org", ROUTES) == "antagonistic-tag"
    assert route_for_address("hello@breachdesk.example.org", ROUTES) is None
    assert route_for_subject("Fwd: [press] Courier wants a comment", ROUTES) == "press-referral"
    assert route_for_subject("Fwd: hello", ROUTES) is None
    with pytest.raises(ValueError, match="cannot take mail"):
        parse_routes("press=content-removal")
    with pytest.raises(ValueError, match="should look like"):
        parse_routes("press")


# --- the real command, one message on standard input --------------------------------------------


def _cli_db(run):  # type: ignore[no-untyped-def]
    return create_engine(run.url)


def _count(engine, table: str) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _users(run) -> None:  # type: ignore[no-untyped-def]
    for email, role in (("officer@example.org", "officer"), ("director@example.org", "director_of_comms"),
                        ("press@example.org", "press_office"), ("left@example.org", "officer")):
        assert run("users", "create", email, "--name", email.split("@")[0].title(), "--role", role,
                   "--password-stdin", stdin="a long enough passphrase 2026\n").returncode == 0
    assert run("users", "disable", "left@example.org").returncode == 0


def test_a_forwarded_tag_on_stdin_opens_a_referral_with_the_message_as_evidence(cli_env):
    _users(cli_env)
    mail = message(sender="officer@example.org", to="escalate@breachdesk.example.org",
                   attachments=(("screenshot.png", PNG, "image", "png"),
                                ("run-me.exe", b"MZ\x90\x00binary", "application", "octet-stream")))
    done = cli_env("mail-in", stdin=mail.as_string())
    assert done.returncode == 0, done.stderr
    assert "opened" in done.stdout and "1 attachment(s) skipped" in done.stdout
    engine = _cli_db(cli_env)
    with engine.connect() as connection:
        workflow, state, title = connection.execute(
            text("SELECT workflow_key, state, title FROM incidents")).one()
        assert (workflow, state) == ("antagonistic-tag", "referred_to_director")
        assert title == "Tag forwarded by e-mail: Fwd: hostile reply"
        files = connection.execute(text("SELECT original_name, sha256 FROM evidence_files ORDER BY id")).all()
        assert [f[0] for f in files] == ["forwarded-message.eml", "screenshot.png"]
        assert all(len(f[1]) == 64 for f in files)
        import hashlib

        assert files[0][1] == hashlib.sha256(mail.as_string().encode()).hexdigest()
        assert connection.execute(text("SELECT channel FROM reports")).scalar_one() == "email"
        post = connection.execute(text("SELECT platform, platform_post_id FROM posts")).one()
        assert post == ("x", "1860000000000000042")
        told = connection.execute(text("SELECT to_address FROM outbox_messages")).scalars().all()
        assert told == ["director@example.org"]
        skipped = connection.execute(text("SELECT data FROM audit_events WHERE action = 'mail_in.received'")
                                     ).scalar_one()
        assert "run-me.exe" in str(skipped)


def test_a_forwarded_press_approach_on_stdin_tells_the_press_office(cli_env):
    _users(cli_env)
    mail = message(sender="officer@example.org", to="press@breachdesk.example.org",
                   subject="Fwd: Courier request for comment", body="Can the College comment by 4pm? Jo, Courier")
    done = cli_env("mail-in", "--to", "press@breachdesk.example.org", stdin=mail.as_string())
    assert done.returncode == 0, done.stderr
    engine = _cli_db(cli_env)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT workflow_key, state, title FROM incidents")).one()
        assert row[:2] == ("press-referral", "approach_logged")  # the press office fills in outlet and journalist
        assert "Courier request for comment" in row[2]
        assert connection.execute(text("SELECT to_address FROM outbox_messages")).scalars().all() == \
            ["press@example.org"]


REFUSALS = [
    ("stranger@elsewhere.example", "escalate@x.example", None, 67, "not an active Breachdesk account"),
    ("left@example.org", "escalate@x.example", None, 67, "not an active Breachdesk account"),  # disabled
    ("officer@example.org", "hello@x.example", None, 67, "Not an address Breachdesk takes mail for"),
    ("officer@example.org", "escalate@x.example", "   \n\n ", 65, "no text"),
]


def test_refused_messages_store_nothing_and_exit_non_zero(cli_env):
    # One database for the four cases: each process starts afresh, and each must leave it untouched.
    _users(cli_env)
    engine = _cli_db(cli_env)
    audit_before = _count(engine, "audit_events")
    for sender, to, body, code, says in REFUSALS:
        done = cli_env("mail-in", stdin=message(sender=sender, to=to, body=body).as_string())
        assert done.returncode == code, (sender, to, done.stderr)
        assert says in done.stderr and "nothing stored" in done.stderr
        for table in ("incidents", "reports", "evidence_files", "outbox_messages"):
            assert _count(engine, table) == 0, (sender, to, table)
        assert _count(engine, "audit_events") == audit_before


# --- the SMTP listener --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def listener(app):  # type: ignore[no-untyped-def]
    from app.escalate.mail_cli import start_listener

    port = _free_port()
    controller = start_listener(app, "127.0.0.1", port)
    yield port
    controller.stop()


def _stored(db) -> tuple[int, ...]:  # type: ignore[no-untyped-def]
    db.expire_all()
    counts = tuple(db.scalar(select(func.count()).select_from(m)) for m in (Incident, Report, EvidenceFile,
                                                                            OutboxMessage))
    db.rollback()  # end the read: on SQLite every transaction holds the write lock the listener needs
    return counts


def test_the_listener_takes_a_press_approach(app, db, make, listener):
    officer = make.user("officer", email="officer@example.org")
    press_email = make.user("press_office").email
    db.rollback()  # end the read: on SQLite every transaction holds the write lock the listener needs
    mail = message(sender=officer.email, to="press@breachdesk.example.org", subject="Fwd: Radio Five",
                   body="Radio Five would like you live at 7am tomorrow.",
                   attachments=(("invite.pdf", b"%PDF-1.4\n% a small pdf\n", "application", "pdf"),))
    with smtplib.SMTP("127.0.0.1", listener, timeout=20) as smtp:
        refused = smtp.send_message(mail, from_addr="officer@example.org", to_addrs=["press@breachdesk.example.org"])
    assert refused == {}
    db.expire_all()
    incident = db.scalar(select(Incident))
    assert incident.workflow_key == "press-referral"
    assert sorted(e.original_name for e in incident.evidence_files) == ["forwarded-message.eml", "invite.pdf"]
    assert [r.channel for r in incident.reports] == ["email"]
    assert db.scalars(select(OutboxMessage.to_address)).all() == [press_email]
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "mail_in.received")).data["workflow"] == \
        "press-referral"


def test_the_listener_refuses_unknown_senders_recipients_and_empty_messages(app, db, make, listener):
    make.user("officer", email="officer@example.org")
    make.user("director_of_comms")
    before = _stored(db)
    officer_email = "officer@example.org"
    with smtplib.SMTP("127.0.0.1", listener, timeout=20) as smtp:
        with pytest.raises(smtplib.SMTPSenderRefused) as sender:
            smtp.send_message(message(sender="stranger@elsewhere.example", to="escalate@x.example"),
                              from_addr="stranger@elsewhere.example", to_addrs=["escalate@x.example"])
        assert sender.value.smtp_code == 550
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused) as recipient:
            smtp.send_message(message(sender=officer_email, to="hello@x.example"),
                              from_addr=officer_email, to_addrs=["hello@x.example"])
        assert recipient.value.recipients["hello@x.example"][0] == 550
        smtp.rset()
        # The envelope is an account, the From: line is not: refused too.
        with pytest.raises(smtplib.SMTPDataError) as forged:
            smtp.send_message(message(sender="stranger@elsewhere.example", to="escalate@x.example"),
                              from_addr=officer_email, to_addrs=["escalate@x.example"])
        assert forged.value.smtp_code == 550
        smtp.rset()
        with pytest.raises(smtplib.SMTPDataError) as empty:
            smtp.send_message(message(sender=officer_email, to="escalate@x.example", body=""),
                              from_addr=officer_email, to_addrs=["escalate@x.example"])
        assert empty.value.smtp_code == 554
    assert _stored(db) == before


def test_mail_refused_carries_the_reply_and_exit_codes():
    assert MailRefused("x", 550).exit_code == 67
    assert MailRefused("x", 554).exit_code == 65


def test_the_real_command_listens_takes_a_message_and_stops_on_sigterm(cli_env, tmp_path):
    import os
    import subprocess
    import time

    from tests.conftest import BREACHDESK

    _users(cli_env)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREACHDESK_")}
    env.update(BREACHDESK_DATABASE_URL=cli_env.url, BREACHDESK_SECRET_KEY="cli-test",
               BREACHDESK_EVIDENCE_PATH=str(tmp_path / "evidence"))
    server = subprocess.Popen([BREACHDESK, "mail-in", "--listen", f"127.0.0.1:{port}"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "listening for SMTP" in server.stdout.readline()
        deadline = time.monotonic() + 30
        while True:  # the controller is up once it answers
            try:
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=20)
                break
            except OSError:
                assert time.monotonic() < deadline, "the listener never answered"
                time.sleep(0.2)
        with smtp:
            smtp.send_message(message(sender="officer@example.org", to="escalate@x.example"),
                              from_addr="officer@example.org", to_addrs=["escalate@x.example"])
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err
    assert "mail-in: BD-" in out
    assert _count(_cli_db(cli_env), "incidents") == 1
    assert len(list((tmp_path / "evidence").iterdir())) == 1  # the .eml, kept under a generated name
