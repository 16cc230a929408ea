"""``breachdesk mail-in``: one message on standard input (an MTA pipe), or an SMTP listener."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from app.extensions import db
from app.services.mail_in import MAX_MESSAGE_BYTES, MailRefused, parse_routes, receive, route_for_address


def _routes() -> dict[str, str]:
    try:
        return parse_routes(current_app.config["BREACHDESK"].mail_in_routes)
    except ValueError as error:
        click.echo(f"breachdesk: {error}", err=True)
        sys.exit(78)  # EX_CONFIG


def deliver(app: Flask, raw: bytes, *, recipients: list[str] | None, envelope_sender: str | None) -> str:
    """Act on one message and commit; MailRefused (nothing stored) when it is refused."""
    with app.app_context():
        try:
            received = receive(db.session, app.extensions["breachdesk.workflows"], raw,
                               routes=parse_routes(app.config["BREACHDESK"].mail_in_routes),
                               folder=app.config["BREACHDESK"].evidence_path, recipients=recipients,
                               envelope_sender=envelope_sender)
            db.session.commit()
            return received.summary
        except BaseException:
            db.session.rollback()
            raise
        finally:
            db.session.remove()


class SmtpHandler:
    """aiosmtpd handler: refuses unknown senders and recipients during the conversation, acts on DATA."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.routes = parse_routes(app.config["BREACHDESK"].mail_in_routes)

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        from app.services.mail_in import known_sender

        with self.app.app_context():
            try:
                known_sender(db.session, address, "The envelope sender")
            except MailRefused as refused:
                return f"550 5.7.1 {refused}"
            except Exception:  # noqa: BLE001 - a database hiccup: the sender may retry; never show internals
                self.app.logger.exception("mail-in: could not check a sender")
                return "451 4.3.0 Breachdesk could not check the sender; try again later"
            finally:
                db.session.remove()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if route_for_address(address, self.routes) is None:
            return f"550 5.1.1 <{address}>: Breachdesk takes mail only for " + \
                ", ".join(f"{name}@" for name in self.routes)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        try:
            summary = deliver(self.app, raw, recipients=list(envelope.rcpt_tos), envelope_sender=envelope.mail_from)
        except MailRefused as refused:
            return f"{refused.smtp_code} {'5.1.1' if refused.smtp_code == 550 else '5.6.0'} {refused}"
        except Exception:  # noqa: BLE001 - the sender gets a temporary failure and may retry; we log it
            self.app.logger.exception("mail-in: could not store a message")
            return "451 4.3.0 Breachdesk could not store the message; try again later"
        click.echo(f"mail-in: {summary}")
        return f"250 OK {summary.split(' ', 1)[0]}"


def start_listener(app: Flask, host: str, port: int):  # type: ignore[no-untyped-def]
    """Start the SMTP listener in a background thread; returns the aiosmtpd controller (call .stop())."""
    from aiosmtpd.controller import Controller

    controller = Controller(SmtpHandler(app), hostname=host, port=port, data_size_limit=MAX_MESSAGE_BYTES,
                            decode_data=False, ready_timeout=10)
    controller.start()
    return controller


@click.command("mail-in")
@click.option("--listen", metavar="HOST:PORT", help="Run an SMTP listener instead of reading one message.")
@click.option("--to", "recipients", multiple=True, metavar="ADDRESS",
              help="The envelope recipient (an MTA passes it, e.g. Postfix ${recipient}); else the headers say.")
@click.option("--sender", "envelope_sender", metavar="ADDRESS",
              help="The envelope sender (e.g. Postfix ${sender}); it must be an active account too.")
@with_appcontext
def mail_in(listen: str | None, recipients: tuple[str, ...], envelope_sender: str | None) -> None:
    """Take a forwarded tag or press approach by e-mail: one RFC 822 message on standard input, or
    --listen HOST:PORT for SMTP. Refused messages store nothing (exit 67 unknown sender or address,
    65 unusable message; SMTP 550/554)."""
    _routes()  # a bad BREACHDESK_MAIL_IN_ROUTES stops here, saying why
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if listen:
        host, _sep, port_text = listen.rpartition(":")
        if not host or not port_text.isdigit():
            click.echo("breachdesk: --listen wants HOST:PORT, for example 127.0.0.1:2525", err=True)
            sys.exit(64)
        controller = start_listener(app, host.strip("[]"), int(port_text))
        click.echo(f"mail-in: listening for SMTP on {host}:{port_text} (Ctrl+C to stop)")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            controller.stop()
        return
    raw = sys.stdin.buffer.read(MAX_MESSAGE_BYTES + 1)
    try:
        summary = deliver(app, raw, recipients=list(recipients) or None, envelope_sender=envelope_sender)
    except MailRefused as refused:
        click.echo(f"breachdesk: refused, nothing stored: {refused}", err=True)
        sys.exit(refused.exit_code)
    click.echo(f"mail-in: {summary}")
