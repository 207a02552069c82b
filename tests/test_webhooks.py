"""Webhooks: events written with the change they report reach a real HTTP receiver on loopback,
signed so that the receiver can verify them, retried with backoff, never slowing a request; admins
manage the receivers and redeliver from the desk."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from webapp import jobs, webhooks
from webapp.db import get_desk
from webapp.desk import outbox
from webapp.desk.replies import add_agent_reply
from webapp.desk.schema import webhook_deliveries
from webapp.desk.schema import webhooks as webhooks_table
from webapp.desk.tickets import file_ticket, set_status
from webapp.desk.webhooks import WebhookError, add_webhook, ensure_webhook, list_webhooks

TEXT = "刷卡交易失败，终端提示应答码96"
SECRET = "s3cret-for-the-receiver-0123456789"
REDIS_URL = os.environ.get("POSDESK_TEST_REDIS_URL")
# Reads the servers of the PostgreSQL + Redis pass itself: every test here runs in that pass.
pytestmark = pytest.mark.desk


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers with the statuses it is given
    (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/posdesk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[dict]:
        """The JSON bodies received."""
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    """A recording HTTP receiver on loopback."""
    server = Receiver()
    yield server
    server.close()


def closed_port_url() -> str:
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"


def verifies(request: dict, secret: str) -> bool:
    """What a receiver does: HMAC-SHA256 of the raw body with the shared secret, compared in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), request["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, request["headers"]["X-Posdesk-Signature"])


def deliveries(app) -> list:
    with get_desk(app).read() as conn:
        return conn.execute(select(webhook_deliveries).order_by(webhook_deliveries.c.id)).all()


def make_due(app) -> None:
    """Move every pending delivery's next attempt to the past (instead of waiting for the backoff)."""
    with get_desk(app).write() as conn:
        conn.execute(update(webhook_deliveries).values(next_attempt="2000-01-01T00:00:00Z"))


def test_a_ticket_filed_through_the_api_reaches_the_receiver_correctly_signed(app, api_headers, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    response = app.test_client().post(
        "/api/v1/tickets", json={"text": "终端提示应答码58，退货失败"}, headers=api_headers
    )
    assert response.status_code == 201
    ticket = response.get_json()["ticket"]

    [request] = receiver.requests
    assert request["path"] == "/hooks/posdesk"
    assert verifies(request, SECRET)
    assert not verifies(request, "another-secret-0123456789")
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["headers"]["X-Posdesk-Event"] == "ticket.created"
    assert request["headers"]["User-Agent"].startswith("posdesk")
    event = json.loads(request["body"])
    assert event["type"] == "ticket.created" and event["ticket_id"] == ticket["id"]
    assert event["data"]["ticket"]["number"] == ticket["number"]
    [delivery] = deliveries(app)
    assert request["headers"]["X-Posdesk-Delivery"] == delivery.delivery_id
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_the_event_never_carries_the_merchants_text_or_card_number(app, api_headers, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    text = "卡号6222021234567890123刷卡失败，应答码58"
    app.test_client().post("/api/v1/tickets", json={"text": text, "phone": "13812345678"}, headers=api_headers)
    body = receiver.requests[0]["body"].decode()
    assert "6222021234567890123" not in body and "13812345678" not in body and "刷卡失败" not in body


def test_a_public_reply_sends_a_signed_reply_event(app, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    desk = get_desk(app)
    ticket = file_ticket(desk, "退货提示没有权限")
    add_agent_reply(desk, ticket.id, "请联系收单机构开通退货权限。", "lina")
    jobs.enqueue_delivery(app)

    types = [r["headers"]["X-Posdesk-Event"] for r in receiver.requests]
    assert types[0] == "ticket.created" and types[-1] == "ticket.reply.public"  # (a status change between)
    reply = receiver.requests[-1]
    assert verifies(reply, SECRET)
    event = json.loads(reply["body"])
    assert event["type"] == "ticket.reply.public" and event["ticket_id"] == ticket.id
    assert event["data"]["reply"]["body"] == "请联系收单机构开通退货权限。"


def test_a_reply_posted_on_the_desk_reaches_the_receiver_signed(app, api_headers, agent_client, csrf, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    ticket = app.test_client().post("/api/v1/tickets", json={"text": TEXT}, headers=api_headers).get_json()["ticket"]
    token = csrf(agent_client, f"/agent/tickets/{ticket['id']}")
    response = agent_client.post(
        f"/agent/tickets/{ticket['id']}/reply", data={"body": "请稍后重试，我们已联系银行。", "csrf_token": token}
    )
    assert response.status_code == 302
    reply = receiver.requests[-1]
    assert reply["headers"]["X-Posdesk-Event"] == "ticket.reply.public" and verifies(reply, SECRET)
    assert json.loads(reply["body"])["ticket_id"] == ticket["id"]


def test_a_status_change_on_the_desk_is_delivered(app, agent_client, csrf, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    ticket = file_ticket(get_desk(app), "到账慢")
    token = csrf(agent_client, f"/agent/tickets/{ticket.id}")
    response = agent_client.post(f"/agent/tickets/{ticket.id}/status", data={"status": "resolved", "csrf_token": token})
    assert response.status_code == 302
    event = receiver.events()[-1]
    assert event["type"] == "ticket.status"
    assert event["data"]["status"] == {"old": "new", "new": "resolved", "actor": "lina"}


def test_a_failing_receiver_is_retried_later_then_delivered(app, api_headers, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    receiver.answers = [500]
    response = app.test_client().post("/api/v1/tickets", json={"text": TEXT}, headers=api_headers)
    assert response.status_code == 201
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.next_attempt > outbox.later(20)  # backed off: about 30 s

    assert webhooks.deliver_due(get_desk(app)).attempted == 0  # not due yet
    make_due(app)
    assert webhooks.deliver_due(get_desk(app)).delivered == 1
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status, delivery.last_error) == (
        "delivered",
        2,
        200,
        None,
    )
    first, second = receiver.requests
    assert first["body"] == second["body"] and verifies(second, SECRET)
    assert first["headers"]["X-Posdesk-Delivery"] == second["headers"]["X-Posdesk-Delivery"]


def test_a_delivery_is_given_up_after_the_last_attempt(make_app, receiver):
    app = make_app(DELIVERY_MAX_ATTEMPTS=2)
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    receiver.answers = [503, 503]
    file_ticket(get_desk(app), "交易失败")
    jobs.enqueue_delivery(app)
    make_due(app)
    jobs.run_deliveries(app)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 2, 503)
    make_due(app)
    assert jobs.run_deliveries(app) == 0 and len(receiver.requests) == 2


def test_a_redirect_is_not_followed(app, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    receiver.answers = [302]
    file_ticket(get_desk(app), "交易失败")
    jobs.enqueue_delivery(app)
    [delivery] = deliveries(app)
    assert (delivery.status, delivery.last_status) == ("pending", 302)
    assert len(receiver.requests) == 1


def test_an_unreachable_receiver_never_fails_the_request(app, api_headers):
    add_webhook(get_desk(app), closed_port_url(), SECRET, "boss")
    response = app.test_client().post("/api/v1/tickets", json={"text": TEXT}, headers=api_headers)
    assert response.status_code == 201
    [delivery] = deliveries(app)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_status is None and "Connection refused" in delivery.last_error


def test_a_claimed_delivery_is_not_sent_twice(app, receiver):
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    with get_desk(app).write() as conn:  # an event written without the jobs running
        outbox.emit(conn, "ticket.created", 1, {"ticket": {"id": 1}})
    desk = get_desk(app)
    first = outbox.claim_delivery(desk, lease_seconds=60)
    assert first is not None
    assert outbox.claim_delivery(desk, lease_seconds=60) is None  # another worker skips it
    assert webhooks.deliver_due(desk).attempted == 0


def test_deliveries_wait_while_a_webhook_is_off_and_new_events_skip_it(app, receiver):
    desk = get_desk(app)
    hook, _ = add_webhook(desk, receiver.url, SECRET, "boss")
    from webapp.desk.webhooks import set_active

    set_active(desk, hook.id, False)
    file_ticket(desk, "交易失败")
    jobs.enqueue_delivery(app)
    assert receiver.requests == [] and deliveries(app) == []


def test_webhook_urls_must_be_http(app):
    desk = get_desk(app)
    for url in ("ftp://example.com/x", "javascript:alert(1)", "http://", "https://u:p@example.com/", "example.com"):
        with pytest.raises(WebhookError):
            add_webhook(desk, url, None, "boss")
    with pytest.raises(WebhookError):
        add_webhook(desk, "https://example.com/", "short", "boss")
    hook, secret = add_webhook(desk, "https://example.com/hook", None, "boss")
    assert len(secret) >= 32 and hook.active


def test_the_configured_webhook_is_created_once_and_used(make_app, desk_template, api_headers_for, receiver):
    url = desk_template.new_url()
    first = make_app(DATABASE_URL=url, WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET)
    second = make_app(DATABASE_URL=url, WEBHOOK_URL=receiver.url, WEBHOOK_SECRET=SECRET)
    for app in (first, second, first):
        app.test_client().get("/")
    assert [w.url for w in list_webhooks(get_desk(first))] == [receiver.url]

    response = second.test_client().post("/api/v1/tickets", json={"text": TEXT}, headers=api_headers_for(second))
    assert response.status_code == 201
    assert verifies(receiver.requests[0], SECRET)


def test_a_new_secret_in_the_settings_replaces_the_old_one(app):
    desk = get_desk(app)
    assert ensure_webhook(desk, "https://crm.example.com/hook", "first-secret-0123456789")
    assert not ensure_webhook(desk, "https://crm.example.com/hook", "first-secret-0123456789")
    assert ensure_webhook(desk, "https://crm.example.com/hook", "second-secret-0123456789")
    with desk.read() as conn:
        assert conn.execute(select(webhooks_table.c.secret)).scalars().all() == ["second-secret-0123456789"]
    with pytest.raises(WebhookError, match="POSDESK_WEBHOOK_SECRET"):
        ensure_webhook(desk, "https://crm.example.com/other", "")


def test_posdesk_init_refuses_a_webhook_url_without_a_secret(make_app):
    from webapp.cli import cli

    app = make_app(WEBHOOK_URL="https://crm.example.com/hook")
    result = app.test_cli_runner().invoke(cli, ["init"])
    assert result.exit_code == 1
    assert "POSDESK_WEBHOOK_SECRET" in result.output and "Traceback" not in result.output


# --- the admin pages ---------------------------------------------------------------------------------


def test_an_admin_adds_a_webhook_and_sees_its_secret_once(admin_client, csrf, app):
    token = csrf(admin_client, "/agent/admin/webhooks")
    refused = admin_client.post("/agent/admin/webhooks", data={"url": "ftp://x.example", "csrf_token": token})
    assert refused.status_code == 400 and "http://" in refused.get_data(as_text=True)

    page = admin_client.post("/agent/admin/webhooks", data={"url": "https://crm.example.com/in", "csrf_token": token})
    assert page.status_code == 200
    [hook] = list_webhooks(get_desk(app))
    with get_desk(app).read() as conn:
        secret = conn.execute(select(webhooks_table.c.secret)).scalar_one()
    assert secret in page.get_data(as_text=True)
    listing = admin_client.get("/agent/admin/webhooks").get_data(as_text=True)
    assert "https://crm.example.com/in" in listing and secret not in listing

    admin_client.post(f"/agent/admin/webhooks/{hook.id}/deactivate", data={"csrf_token": token})
    assert not list_webhooks(get_desk(app))[0].active


def test_without_the_csrf_token_nothing_is_added(admin_client, app):
    response = admin_client.post("/agent/admin/webhooks", data={"url": "https://crm.example.com/in"})
    assert response.status_code == 400
    assert list_webhooks(get_desk(app)) == []


def test_agents_cannot_see_the_webhooks(agent_client):
    assert agent_client.get("/agent/admin/webhooks").status_code == 403


def test_an_admin_sees_the_deliveries_and_redelivers_one(admin_client, csrf, app, receiver):
    hook, _ = add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    receiver.answers = [500]
    ticket = file_ticket(get_desk(app), "交易失败")
    jobs.enqueue_delivery(app)
    [delivery] = deliveries(app)

    page = admin_client.get(f"/agent/admin/webhooks/{hook.id}").get_data(as_text=True)
    assert "ticket.created" in page and "HTTP 500" in page and ticket.number in page and "重新投递" in page
    token = csrf(admin_client, f"/agent/admin/webhooks/{hook.id}")
    response = admin_client.post(
        f"/agent/admin/webhooks/deliveries/{delivery.id}/redeliver", data={"csrf_token": token}
    )
    assert response.status_code == 302
    assert len(receiver.requests) == 2  # sent again at once, not after the backoff
    [delivery] = deliveries(app)
    assert delivery.status == "delivered"
    assert "已送达" in admin_client.get(f"/agent/admin/webhooks/{hook.id}").get_data(as_text=True)


def test_the_admin_navigation_links_the_webhooks(admin_client):
    assert 'href="/agent/admin/webhooks"' in admin_client.get("/agent/admin/users").get_data(as_text=True)


# --- with Redis: a job, and the worker's rounds --------------------------------------------------------


def test_with_redis_the_worker_delivers(make_app, api_headers_for, receiver):
    if not REDIS_URL:
        pytest.skip("needs POSDESK_TEST_REDIS_URL (a Redis server)")
    from redis import Redis

    from webapp.cli import cli

    redis_url = REDIS_URL.rsplit("/", 1)[0] + "/5"
    Redis.from_url(redis_url).flushdb()
    app = make_app(JOBS_EAGER=False, REDIS_URL=redis_url)
    add_webhook(get_desk(app), receiver.url, SECRET, "boss")
    response = app.test_client().post("/api/v1/tickets", json={"text": TEXT}, headers=api_headers_for(app))
    assert response.status_code == 201 and receiver.requests == []  # the request sent nothing

    result = app.test_cli_runner().invoke(cli, ["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert [r["headers"]["X-Posdesk-Event"] for r in receiver.requests] == ["ticket.created"]
    assert verifies(receiver.requests[0], SECRET)


def test_set_status_writes_its_event_with_the_change(app):
    desk = get_desk(app)
    hook, _ = add_webhook(desk, closed_port_url(), SECRET, "boss")
    ticket = file_ticket(desk, "交易失败")
    set_status(desk, ticket.id, "open", "lina")
    assert len(deliveries(app)) == 2  # created, status: written, waiting for a round
