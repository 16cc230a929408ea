"""Delivery over STARTTLS with a login, as a real relay would demand."""

from __future__ import annotations

import ssl
import subprocess
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from app.models import OutboxMessage
from app.services.mailer import SmtpSettings, deliver_outbox
from tests.deadlines.conftest import free_port


class Inbox:
    def __init__(self) -> None:
        self.received: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.received.append((session.authenticated, session.ssl is not None, envelope))
        return "250 OK"


def _authenticator(server, session, envelope, mechanism, auth_data):  # type: ignore[no-untyped-def]
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"relay-user", b"s3cret")
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 235 or 535 itself


@pytest.fixture
def tls_relay(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                            auth_required=True, authenticator=_authenticator)
    controller.start()
    yield inbox, port, str(cert)
    controller.stop()


def _queue(db):
    db.add(OutboxMessage(to_address="rep@example.org", subject="[Breachdesk] BD-2026-00001: Reminder",
                         body="Open it: {base_url}/incidents/1\n"))
    db.commit()


def test_delivers_over_starttls_with_credentials(app, db, tls_relay):
    inbox, port, ca = tls_relay
    _queue(db)
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="breachdesk@example.org", starttls=True,
                            username="relay-user", password="s3cret", ca_file=ca, base_url="https://bd.example")
    report = deliver_outbox(db, settings)
    db.commit()
    assert report.sent == 1
    [(authenticated, encrypted, envelope)] = inbox.received
    assert authenticated and encrypted
    assert "https://bd.example/incidents/1" in message_from_bytes(envelope.content).get_payload()


def test_wrong_credentials_keep_the_message_for_a_retry(app, db, tls_relay):
    inbox, port, ca = tls_relay
    _queue(db)
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="breachdesk@example.org", starttls=True,
                            username="relay-user", password="wrong", ca_file=ca)
    report = deliver_outbox(db, settings)
    db.commit()
    message = db.query(OutboxMessage).one()
    assert report.retrying == 1 and message.status == "pending" and "Authentication" in message.last_error
    assert inbox.received == []


def test_an_untrusted_certificate_is_not_accepted(app, db, tls_relay):
    inbox, port, _ca = tls_relay
    _queue(db)
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="breachdesk@example.org", starttls=True,
                            username="relay-user", password="s3cret")
    report = deliver_outbox(db, settings)
    db.commit()
    assert report.retrying == 1 and "CERTIFICATE" in db.query(OutboxMessage).one().last_error.upper()
    assert inbox.received == []
