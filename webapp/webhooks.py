"""Sending webhook deliveries: each due one is POSTed with its exact JSON body, signed
(`X-Posdesk-Signature: sha256=<hex HMAC-SHA256 of the body, keyed by the webhook's secret>`), by a
job outside any request, and retried with exponential backoff until a 2xx answer or the last attempt.
Also keeps the webhook that POSDESK_WEBHOOK_URL / POSDESK_WEBHOOK_SECRET configure."""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import urllib.error
import urllib.request
from dataclasses import dataclass

from flask import Flask

from webapp.desk import outbox
from webapp.desk.storage import Desk
from webapp.desk.webhooks import WebhookError, ensure_webhook

log = logging.getLogger(__name__)
USER_AGENT = "posdesk-webhooks/1"
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
ROUND_LIMIT = 100  # deliveries per round at most: the rest wait for the next one
ERROR_MAX_CHARS = 300
_CONFIGURED = "posdesk.webhook_configured"


def sign(secret: str, body: bytes) -> str:
    """The X-Posdesk-Signature value of a body: "sha256=" and the hex HMAC-SHA256 keyed by the secret."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def backoff_seconds(attempts: int) -> float:
    """How long to wait after the `attempts`-th failed attempt: 30 s doubling each time, at most an
    hour, ±20 % so that retries to one receiver do not come back in step."""
    delay = min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS)
    return delay * random.uniform(0.8, 1.2)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not a new address: the body never goes anywhere the admin did not set."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


@dataclass(frozen=True)
class Attempt:
    """What one POST got: the HTTP status (None when no answer came) and an error to show."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


def post(delivery: outbox.DueDelivery, timeout: float) -> Attempt:
    """POST one delivery's body to its webhook; never raises for the receiver's failures."""
    body = delivery.payload.encode("utf-8")
    request = urllib.request.Request(
        delivery.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Posdesk-Signature": sign(delivery.secret, body),
            "X-Posdesk-Delivery": delivery.delivery_id,
            "X-Posdesk-Event": delivery.event_type,
        },
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(64 * 1024)
            status = response.status
    except urllib.error.HTTPError as e:  # 3xx (not followed), 4xx, 5xx
        e.close()
        return Attempt(e.code, f"HTTP {e.code} {e.reason}"[:ERROR_MAX_CHARS])
    except (OSError, ValueError) as e:  # refused, timed out, DNS, TLS, a malformed answer
        reason = getattr(e, "reason", None) or e
        return Attempt(None, f"{type(reason).__name__}: {reason}"[:ERROR_MAX_CHARS])
    if 200 <= status < 300:
        return Attempt(status, None)
    return Attempt(status, f"HTTP {status}")


@dataclass(frozen=True)
class RoundReport:
    """What one round did."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        """How many deliveries were tried."""
        return self.delivered + self.retrying + self.failed


def deliver_due(desk: Desk, timeout: float = 5.0, max_attempts: int = 10, limit: int = ROUND_LIMIT) -> RoundReport:
    """Send every due delivery (up to `limit`), one claimed at a time so that several workers share
    them; a webhook that fails is skipped for the rest of the round (its deliveries keep their turn)."""
    delivered = retrying = failed = 0
    failing: set[int] = set()
    lease = timeout + 60  # longer than one attempt can take: a worker that died mid-attempt is retried then
    for _ in range(limit):
        delivery = outbox.claim_delivery(desk, lease, failing)
        if delivery is None:
            break
        attempt = post(delivery, timeout)
        if attempt.ok:
            outbox.settle_delivery(desk, delivery, True, attempt.status, None, None)
            delivered += 1
            continue
        failing.add(delivery.webhook_id)
        tries = delivery.attempts + 1
        retry_at = outbox.later(backoff_seconds(tries)) if tries < max_attempts else None
        outbox.settle_delivery(desk, delivery, False, attempt.status, attempt.error, retry_at)
        if retry_at is None:
            failed += 1
            log.warning("gave up delivering %s to %s: %s", delivery.delivery_id, delivery.url, attempt.error)
        else:
            retrying += 1
    return RoundReport(delivered, retrying, failed)


def run_round(app: Flask, desk: Desk) -> RoundReport:
    """One delivery round with the app's settings."""
    ensure_configured(app, desk)
    return deliver_due(desk, float(app.config["WEBHOOK_TIMEOUT_SECONDS"]), int(app.config["DELIVERY_MAX_ATTEMPTS"]))


def ensure_configured(app: Flask, desk: Desk, strict: bool = False) -> None:
    """Once per process: make sure the webhook of POSDESK_WEBHOOK_URL exists with
    POSDESK_WEBHOOK_SECRET. A bad URL or a missing secret is logged (WebhookError when `strict`)."""
    url = app.config.get("WEBHOOK_URL")
    if not url or (app.extensions.get(_CONFIGURED) and not strict):
        return
    try:
        if ensure_webhook(desk, url, app.config.get("WEBHOOK_SECRET") or ""):
            log.info("webhook %s configured from the settings", url)
    except WebhookError as e:
        if strict:
            raise
        log.error("POSDESK_WEBHOOK_URL is not used: %s", e)  # a bad setting never takes the desk down
    app.extensions[_CONFIGURED] = True


def configure_on_init() -> None:
    """`posdesk init`'s step: the configured webhook exists afterwards (ClickException for a bad setting)."""
    import click
    from flask import current_app

    from webapp.db import get_desk

    try:
        ensure_configured(current_app, get_desk(), strict=True)
    except WebhookError as e:
        raise click.ClickException(str(e)) from e


def init_app(app: Flask) -> None:
    """With POSDESK_WEBHOOK_URL set, each process makes sure its webhook exists before its first
    request files anything (`posdesk init` and every job round do so too)."""
    if not app.config.get("WEBHOOK_URL"):
        return

    def configured() -> None:
        if not app.extensions.get(_CONFIGURED):
            from webapp.db import get_desk

            ensure_configured(app, get_desk(app))

    app.before_request(configured)
