"""Email to merchants through a real SMTP server on loopback (aiosmtpd): the status link when a ticket
is filed with an address, a notice on each public reply, queued with the change and sent by the jobs;
without SMTP settings nothing is queued, sent or failed."""

from __future__ import annotations

import socket
from email import message_from_bytes, policy

import pytest
from sqlalchemy import select, update

from webapp import jobs
from webapp.db import get_desk
from webapp.desk.replies import add_agent_reply
from webapp.desk.schema import email_outbox
from webapp.desk.tickets import get_ticket

TEXT = "卡号6222021234567890123刷卡失败，终端提示应答码58"
BASE = "https://desk.example.com"


class Mailbox:
    """An aiosmtpd handler keeping every message it is given."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    """A local SMTP server: (its port, the mailbox it fills)."""
    from aiosmtpd.controller import Controller

    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture
def mail_app(make_app, smtp):
    """An app whose mail goes to the local SMTP server."""
    port, _ = smtp
    return make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="desk@example.com", PUBLIC_BASE_URL=BASE + "/")


def outbox_rows(app) -> list:
    with get_desk(app).read() as conn:
        return conn.execute(select(email_outbox).order_by(email_outbox.c.id)).all()


def file(app, headers, **fields) -> dict:
    response = app.test_client().post("/api/v1/tickets", json={"text": TEXT, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["ticket"]


def test_filing_with_an_email_sends_the_status_link(mail_app, api_headers_for, smtp):
    _, mailbox = smtp
    ticket = file(mail_app, api_headers_for(mail_app), email="wang@example.com", phone="13812345678")

    [(recipients, message)] = mailbox.messages
    assert recipients == ["wang@example.com"]
    assert message["To"] == "wang@example.com" and "desk@example.com" in message["From"]
    assert ticket["number"] in message["Subject"] and "已受理" in message["Subject"]
    body = message.get_content()
    status_key = get_ticket(get_desk(mail_app), ticket["id"]).status_key
    assert f"{BASE}/tickets/track/{status_key}" in body
    # Never the card number, the text or the phone: only the number and the link.
    assert "6222021234567890123" not in body and "应答码" not in body and "13812345678" not in body
    [row] = outbox_rows(mail_app)
    assert (row.status, row.attempts) == ("sent", 1)


def test_filing_without_an_email_sends_nothing(mail_app, api_headers_for, smtp):
    _, mailbox = smtp
    file(mail_app, api_headers_for(mail_app))
    assert mailbox.messages == [] and outbox_rows(mail_app) == []


def test_the_merchant_form_with_an_email_sends_the_link(mail_app, smtp, csrf):
    from conftest import ticket_form

    _, mailbox = smtp
    client = mail_app.test_client()
    form = ticket_form(csrf(client, "/tickets/new"), email="li@example.com", reviewed="1")
    response = client.post("/tickets/new", data=form)
    assert response.status_code == 302
    [(recipients, message)] = mailbox.messages
    assert recipients == ["li@example.com"] and "/tickets/track/" in message.get_content()


def test_a_public_reply_sends_a_notice_without_the_reply(mail_app, api_headers_for, smtp):
    _, mailbox = smtp
    ticket = file(mail_app, api_headers_for(mail_app), email="wang@example.com")
    add_agent_reply(get_desk(mail_app), ticket["id"], "请联系收单机构开通退货权限，卡号6222021234567890123", "lina")
    jobs.enqueue_delivery(mail_app)

    assert len(mailbox.messages) == 2
    _, notice = mailbox.messages[1]
    assert "新回复" in notice["Subject"] and ticket["number"] in notice["Subject"]
    body = notice.get_content()
    assert "/tickets/track/" in body and "退货权限" not in body and "6222021234567890123" not in body


def test_without_smtp_settings_nothing_is_queued_or_sent(app, api_headers, smtp):
    _, mailbox = smtp
    ticket = file(app, api_headers, email="wang@example.com")
    add_agent_reply(get_desk(app), ticket["id"], "已处理", "lina")
    jobs.enqueue_delivery(app)
    assert outbox_rows(app) == [] and mailbox.messages == []


def test_a_server_that_is_down_never_fails_the_request_and_is_retried(make_app, api_headers_for, smtp):
    port, mailbox = smtp
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_FROM="desk@example.com", PUBLIC_BASE_URL=BASE)
    file(app, api_headers_for(app), email="wang@example.com")
    [row] = outbox_rows(app)
    assert (row.status, row.attempts) == ("pending", 1) and "Connection refused" in row.last_error

    app.config["SMTP_PORT"] = port  # the server is back; the retry comes due
    with get_desk(app).write() as conn:
        conn.execute(update(email_outbox).values(next_attempt="2000-01-01T00:00:00Z"))
    jobs.run_deliveries(app)
    [row] = outbox_rows(app)
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    assert len(mailbox.messages) == 1


def test_a_refused_recipient_is_given_up_at_once(mail_app, api_headers_for, smtp):
    _, mailbox = smtp

    async def refuse(server, session, envelope, address, rcpt_options):
        return "550 no such user"

    mailbox.handle_RCPT = refuse
    file(mail_app, api_headers_for(mail_app), email="nobody@example.com")
    [row] = outbox_rows(mail_app)
    assert row.status == "failed" and "550" in row.last_error
