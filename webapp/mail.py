"""Email to merchants, when SMTP is set up (POSDESK_SMTP_HOST and POSDESK_SMTP_FROM): the status link
when a ticket is filed with an address, and a notice on each public reply. The notices are queued in
the event's transaction (`webapp.desk.outbox`) and sent by the same job rounds as webhooks, with
retries. Without the settings nothing is queued, sent or failed. A notice never carries the ticket's
text or a card number: only its number and the link."""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

from flask import Flask

from webapp.desk import outbox
from webapp.desk.storage import Desk
from webapp.webhooks import ERROR_MAX_CHARS, backoff_seconds

log = logging.getLogger(__name__)
ROUND_LIMIT = 100
TEMPLATES = {"ticket.created": "mail/ticket_created.txt", "ticket.reply.public": "mail/reply_public.txt"}
STATUS_PATH = "/tickets/track/{key}"  # the merchant's status page (webapp.merchant)


@dataclass(frozen=True)
class SmtpSettings:
    """Where and as whom mail is sent."""

    host: str
    port: int
    user: str
    password: str
    starttls: bool
    ssl: bool
    sender: str
    timeout: float


def smtp_settings(config) -> SmtpSettings | None:
    """The app's SMTP settings, or None when mail is not set up (no host or no sender address)."""
    if not config.get("SMTP_HOST") or not config.get("SMTP_FROM"):
        return None
    use_ssl = bool(config.get("SMTP_SSL"))
    return SmtpSettings(
        host=str(config["SMTP_HOST"]),
        port=int(config.get("SMTP_PORT") or (465 if use_ssl else 587 if config.get("SMTP_STARTTLS") else 25)),
        user=str(config.get("SMTP_USER") or ""),
        password=str(config.get("SMTP_PASSWORD") or ""),
        starttls=bool(config.get("SMTP_STARTTLS")),
        ssl=use_ssl,
        sender=str(config["SMTP_FROM"]),
        timeout=float(config.get("SMTP_TIMEOUT_SECONDS") or 10),
    )


def status_url(app: Flask, status_key: str) -> str | None:
    """The absolute address of a ticket's status page (None without POSDESK_PUBLIC_BASE_URL: jobs run
    outside requests and cannot know the site's address)."""
    base = (app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return f"{base}{STATUS_PATH.format(key=status_key)}" if base and status_key else None


def composer(app: Flask) -> outbox.MailComposer:
    """The merchant's notice of an event: (subject, body) from the templates in templates/mail (first
    line the subject, then the body)."""

    def compose(event: str, ticket) -> tuple[str, str]:
        page = app.jinja_env.get_template(TEMPLATES[event]).render(
            number=ticket.number, status_url=status_url(app, ticket.status_key)
        )
        subject, _, body = page.partition("\n")
        return subject.strip(), body.strip() + "\n"

    return compose


def attach(app: Flask, desk: Desk) -> None:
    """Queue notices on this desk's events when the app has SMTP settings (else none)."""
    outbox.set_mail_composer(desk, composer(app) if smtp_settings(app.config) else None)


def _message(settings: SmtpSettings, mail: outbox.DueMail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender  # "desk@example.com" or "POS 服务中心 <desk@example.com>"
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2].strip(">") or None)
    message.set_content(mail.body, charset="utf-8")
    return message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.ssl:
        server = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=ssl.create_default_context()
        )
    else:
        server = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.starttls:
            server.starttls(context=ssl.create_default_context())
    if settings.user:
        server.login(settings.user, settings.password)
    return server


def send_due(desk: Desk, settings: SmtpSettings | None, max_attempts: int = 10, limit: int = ROUND_LIMIT) -> int:
    """Send the due emails over one SMTP connection (nothing without settings); return how many were sent.
    A refused recipient is given up at once; a server that fails is tried again later."""
    if settings is None:
        return 0
    sent = 0
    server: smtplib.SMTP | None = None
    try:
        for _ in range(limit):
            mail = outbox.claim_mail(desk, settings.timeout * 3 + 60)
            if mail is None:
                break
            try:
                server = server or _connect(settings)
                server.send_message(_message(settings, mail))
            except smtplib.SMTPRecipientsRefused as e:
                outbox.settle_mail(desk, mail, False, _error(e), None)
                log.warning("gave up an email to %s: %s", mail.to_address, _error(e))
                continue
            except (OSError, smtplib.SMTPException) as e:  # down, refused, timed out, authentication
                tries = mail.attempts + 1
                retry_at = outbox.later(backoff_seconds(tries)) if tries < max_attempts else None
                outbox.settle_mail(desk, mail, False, _error(e), retry_at)
                log.warning("could not send an email (attempt %d): %s", tries, _error(e))
                break  # the server is the problem: the rest wait for the next round
            outbox.settle_mail(desk, mail, True, None, None)
            sent += 1
    finally:
        if server is not None:
            try:
                server.quit()
            except (OSError, smtplib.SMTPException):
                server.close()
    return sent


def _error(e: Exception) -> str:
    return f"{type(e).__name__}: {e}"[:ERROR_MAX_CHARS]


def run_round(app: Flask, desk: Desk) -> int:
    """One mail round with the app's settings; return how many emails were sent."""
    return send_due(desk, smtp_settings(app.config), int(app.config["DELIVERY_MAX_ATTEMPTS"]))
