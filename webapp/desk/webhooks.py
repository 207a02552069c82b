"""Webhook receivers (the URLs events are POSTed to, each with its signing secret) and what became of
their deliveries, for the admin pages. The events and deliveries themselves are `webapp.desk.outbox`'s."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import case, func, insert, select, text, update

from webapp.desk.schema import webhook_deliveries, webhook_events, webhooks
from webapp.desk.storage import Desk, now

URL_MAX_CHARS = 500
SECRET_MIN_CHARS = 16
SECRET_MAX_CHARS = 200
SECRET_BYTES = 32
CONFIG_CREATOR = "POSDESK_WEBHOOK_URL"  # created_by of the webhook the settings configure
_CONFIG_LOCK = 7_230_411  # a PostgreSQL advisory lock: one node at a time creates the configured webhook


class WebhookError(ValueError):
    """A webhook refused: a URL that is not http(s), a secret too short or too long, an unknown id.
    `str(e)` is English (logs, the CLI); `message` is Chinese for the admin."""

    def __init__(self, text: str, message: str | None = None) -> None:
        super().__init__(text)
        self.message = message or text


@dataclass(frozen=True)
class Webhook:
    """One receiver of events (its secret is never shown again after it is added)."""

    id: int
    url: str
    active: bool
    created: str
    created_by: str
    pending: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Delivery:
    """One event's delivery to one webhook, with what its last attempt got."""

    id: int
    delivery_id: str
    event_id: str
    event_type: str
    ticket_id: int | None
    status: str
    attempts: int
    next_attempt: str
    last_status: int | None
    last_error: str | None
    delivered: str | None
    created: str


def check_url(url: object) -> str:
    """The URL stripped; WebhookError unless it is an absolute http or https URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise WebhookError("the URL is empty", "请填写地址。")
    url = url.strip()
    if len(url) > URL_MAX_CHARS:
        raise WebhookError(
            f"the URL is longer than {URL_MAX_CHARS} characters",
            f"地址不能超过 {URL_MAX_CHARS} 个字符。",
        )
    if any(c.isspace() for c in url):
        raise WebhookError("the URL contains spaces", "地址中不能有空格。")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError(
            "the URL must start with http:// or https:// and name a host",
            "地址须以 http:// 或 https:// 开头，并包含主机名。",
        )
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry a user name or password", "地址中不能包含用户名或密码。")
    try:
        parts.port  # noqa: B018  (ValueError for a port out of range or not a number)
    except ValueError as e:
        raise WebhookError(f"the URL's port is invalid: {e}", "地址中的端口号无效。") from e
    return url


def check_secret(secret: str | None) -> str:
    """The secret given (stripped), or a new random one when none is; WebhookError when it is too short."""
    secret = (secret or "").strip()
    if not secret:
        return secrets.token_hex(SECRET_BYTES)
    if not SECRET_MIN_CHARS <= len(secret) <= SECRET_MAX_CHARS or any(c.isspace() for c in secret):
        raise WebhookError(
            f"the secret needs {SECRET_MIN_CHARS} to {SECRET_MAX_CHARS} characters without spaces",
            f"密钥须为 {SECRET_MIN_CHARS}-{SECRET_MAX_CHARS} 个字符，不能有空格。",
        )
    return secret


def _webhook(row) -> Webhook:
    m = row._mapping
    return Webhook(
        id=m["id"],
        url=m["url"],
        active=bool(m["active"]),
        created=m["created"],
        created_by=m["created_by"],
        pending=m.get("pending") or 0,
        failed=m.get("failed") or 0,
    )


def add_webhook(desk: Desk, url: str, secret: str | None, created_by: str) -> tuple[Webhook, str]:
    """Add an active webhook; return it with its secret (the one given, or a generated one), to be
    shown once. WebhookError for a bad URL or secret. Events from now on are delivered to it."""
    url, secret = check_url(url), check_secret(secret)
    with desk.write() as conn:
        new_id = conn.execute(
            insert(webhooks)
            .values(url=url, secret=secret, active=1, created=now(), created_by=created_by)
            .returning(webhooks.c.id)
        ).scalar_one()
    return get_webhook(desk, new_id), secret


def ensure_webhook(desk: Desk, url: str, secret: str) -> bool:
    """Make sure a webhook for `url` exists with `secret` (the one the settings configure): add it, or
    set its secret when it changed. Idempotent, and one row however many nodes start at once. An
    admin's deactivation stays. Return True when something changed."""
    url = check_url(url)
    if not secret or not secret.strip():
        raise WebhookError("POSDESK_WEBHOOK_URL needs POSDESK_WEBHOOK_SECRET, the secret its receiver verifies with")
    secret = secret.strip()
    with desk.write() as conn:
        if conn.dialect.name == "postgresql":  # SQLite's writers are one at a time already
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CONFIG_LOCK})
        rows = conn.execute(select(webhooks.c.id, webhooks.c.secret).where(webhooks.c.url == url)).all()
        if not rows:
            conn.execute(
                insert(webhooks).values(url=url, secret=secret, active=1, created=now(), created_by=CONFIG_CREATOR)
            )
            return True
        stale = [row.id for row in rows if row.secret != secret]
        if stale:
            conn.execute(update(webhooks).where(webhooks.c.id.in_(stale)).values(secret=secret))
        return bool(stale)


def _counted():
    d = webhook_deliveries
    pending = func.sum(case((d.c.status == "pending", 1), else_=0))
    failed = func.sum(case((d.c.status == "failed", 1), else_=0))
    return (
        select(webhooks, pending.label("pending"), failed.label("failed"))
        .outerjoin(d, d.c.webhook_id == webhooks.c.id)
        .group_by(webhooks.c.id)
    )


def list_webhooks(desk: Desk) -> list[Webhook]:
    """Every webhook, newest first, with how many of its deliveries wait and how many were given up."""
    with desk.read() as conn:
        return [_webhook(row) for row in conn.execute(_counted().order_by(webhooks.c.id.desc()))]


def get_webhook(desk: Desk, webhook_id: int) -> Webhook | None:
    """One webhook, or None."""
    with desk.read() as conn:
        row = conn.execute(_counted().where(webhooks.c.id == webhook_id)).first()
    return _webhook(row) if row else None


def set_active(desk: Desk, webhook_id: int, active: bool) -> Webhook:
    """Turn a webhook on or off (off: no new deliveries, and its waiting ones wait); WebhookError for an unknown id."""
    with desk.write() as conn:
        changed = conn.execute(update(webhooks).where(webhooks.c.id == webhook_id).values(active=int(active)))
        if changed.rowcount != 1:
            raise WebhookError(f"no webhook {webhook_id}")
    return get_webhook(desk, webhook_id)


def recent_deliveries(desk: Desk, webhook_id: int, limit: int = 50) -> list[Delivery]:
    """A webhook's latest deliveries, newest first."""
    d, e = webhook_deliveries, webhook_events
    with desk.read() as conn:
        rows = conn.execute(
            select(d, e.c.event_id.label("event_uid"), e.c.type, e.c.ticket_id)
            .join(e, e.c.id == d.c.event_id)
            .where(d.c.webhook_id == webhook_id)
            .order_by(d.c.id.desc())
            .limit(limit)
        ).all()
    return [
        Delivery(
            id=r.id,
            delivery_id=r.delivery_id,
            event_id=r.event_uid,
            event_type=r.type,
            ticket_id=r.ticket_id,
            status=r.status,
            attempts=r.attempts,
            next_attempt=r.next_attempt,
            last_status=r.last_status,
            last_error=r.last_error,
            delivered=r.delivered,
            created=r.created,
        )
        for r in rows
    ]


def delivery_webhook(desk: Desk, delivery_row_id: int) -> int | None:
    """The webhook a delivery goes to, or None for an unknown delivery."""
    with desk.read() as conn:
        return conn.execute(
            select(webhook_deliveries.c.webhook_id).where(webhook_deliveries.c.id == delivery_row_id)
        ).scalar_one_or_none()
