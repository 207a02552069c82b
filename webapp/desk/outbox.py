"""The outbox: events about tickets, written in the same transaction as the change they report, with
one pending delivery per active webhook and, when mail is set up, the merchant's notice; then
claimed and settled by the rounds that send them outside any request (webhooks by
`webapp.webhooks`, emails by `webapp.mail`).

Event types: "ticket.created", "ticket.reply.public" (an agent's public reply), "ticket.reply.merchant",
"ticket.status".
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Table, insert, select, update

from webapp.desk.schema import email_outbox, tickets, webhook_deliveries, webhook_events, webhooks
from webapp.desk.storage import Desk, now

EVENTS = ("ticket.created", "ticket.reply.public", "ticket.reply.merchant", "ticket.status")
# The events that send the merchant an email (when the ticket has an address and mail is set up).
MAIL_EVENTS = ("ticket.created", "ticket.reply.public")

# composer(event, ticket) -> (subject, body): the merchant's notice (`webapp.mail`); `ticket` is a
# `webapp.desk.tickets.Ticket`.
MailComposer = Callable[[str, object], tuple[str, str]]
_composers: WeakKeyDictionary = WeakKeyDictionary()  # a desk's engine -> its MailComposer


def set_mail_composer(desk: Desk, composer: MailComposer | None) -> None:
    """Queue emails on this desk's events with `composer` from now on (None: queue none, mail is not set up)."""
    if composer is None:
        _composers.pop(desk.engine, None)
    else:
        _composers[desk.engine] = composer


def later(seconds: float) -> str:
    """The time `seconds` from now, as the desk stores times."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def emit(conn: Connection, event: str, ticket_id: int, data: dict) -> str:
    """Record one event inside the caller's write transaction, with one pending delivery per active
    webhook and the merchant's email notice when one is due; return its event id. `data` is
    JSON-ready (the ticket as the API shows it, the reply…). ValueError for an unknown event type."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    stamp = now()
    event_id = uuid.uuid4().hex
    body = json.dumps(
        {"id": event_id, "type": event, "created": stamp, "ticket_id": ticket_id, "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )
    row_id = conn.execute(
        insert(webhook_events)
        .values(event_id=event_id, type=event, ticket_id=ticket_id, payload=body, created=stamp)
        .returning(webhook_events.c.id)
    ).scalar_one()
    targets = conn.execute(select(webhooks.c.id).where(webhooks.c.active == 1)).scalars().all()
    if targets:
        conn.execute(
            insert(webhook_deliveries),
            [
                {
                    "delivery_id": uuid.uuid4().hex,
                    "event_id": row_id,
                    "webhook_id": target,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt": stamp,
                    "created": stamp,
                }
                for target in targets
            ],
        )
    composer = _composers.get(conn.engine)
    if composer is not None and event in MAIL_EVENTS:
        _queue_mail(conn, composer, event, ticket_id, stamp)
    return event_id


def _queue_mail(conn: Connection, composer: MailComposer, event: str, ticket_id: int, stamp: str) -> None:
    from webapp.desk.tickets import ticket_from_row  # tickets imports this module

    row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
    if row is None or not row._mapping["email"]:
        return
    ticket = ticket_from_row(row)
    subject, body = composer(event, ticket)
    conn.execute(
        insert(email_outbox).values(
            to_address=ticket.email,
            subject=subject,
            body=body,
            ticket_id=ticket_id,
            status="pending",
            attempts=0,
            next_attempt=stamp,
            created=stamp,
        )
    )


# --- sending rounds: claim what is due, then settle each attempt --------------------------------------


@dataclass(frozen=True)
class DueDelivery:
    """A webhook delivery claimed for one attempt: where it goes, the exact body and how to sign it."""

    id: int
    delivery_id: str
    event_type: str
    payload: str
    webhook_id: int
    url: str
    secret: str
    attempts: int


@dataclass(frozen=True)
class DueMail:
    """An email claimed for one attempt."""

    id: int
    to_address: str
    subject: str
    body: str
    attempts: int


def _claim_one(conn: Connection, table: Table, due, lease_until: str) -> int | None:
    """Take the first due row of `due` (a SELECT of id, next_attempt) for this worker: its next_attempt
    moves to the lease's end, so another worker skips it, unless another worker took it first."""
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(of=table, skip_locked=True)
    row = conn.execute(due.limit(1)).first()
    if row is None:
        return None
    taken = conn.execute(
        update(table)
        .where(table.c.id == row.id, table.c.status == "pending", table.c.next_attempt == row.next_attempt)
        .values(next_attempt=lease_until)
    )
    return row.id if taken.rowcount == 1 else None


def claim_delivery(desk: Desk, lease_seconds: float, skip_webhooks: Iterable[int] = ()) -> DueDelivery | None:
    """Claim the next due delivery (pending, its time come, to an active webhook not in
    `skip_webhooks`) for `lease_seconds`; None when nothing is due. Safe with several workers."""
    d = webhook_deliveries
    due = (
        select(d.c.id, d.c.next_attempt)
        .join(webhooks, webhooks.c.id == d.c.webhook_id)
        .where(d.c.status == "pending", d.c.next_attempt <= now(), webhooks.c.active == 1)
        .order_by(d.c.next_attempt, d.c.id)
    )
    skip = list(skip_webhooks)
    if skip:
        due = due.where(d.c.webhook_id.notin_(skip))
    with desk.write() as conn:
        claimed = _claim_one(conn, d, due, later(lease_seconds))
        if claimed is None:
            return None
        row = conn.execute(
            select(
                d.c.id,
                d.c.delivery_id,
                d.c.attempts,
                d.c.webhook_id,
                webhook_events.c.type,
                webhook_events.c.payload,
                webhooks.c.url,
                webhooks.c.secret,
            )
            .join(webhook_events, webhook_events.c.id == d.c.event_id)
            .join(webhooks, webhooks.c.id == d.c.webhook_id)
            .where(d.c.id == claimed)
        ).one()
    return DueDelivery(
        id=row.id,
        delivery_id=row.delivery_id,
        event_type=row.type,
        payload=row.payload,
        webhook_id=row.webhook_id,
        url=row.url,
        secret=row.secret,
        attempts=row.attempts,
    )


def settle_delivery(
    desk: Desk, delivery: DueDelivery, delivered: bool, status: int | None, error: str | None, retry_at: str | None
) -> None:
    """Record one attempt: delivered, or pending again at `retry_at`, or failed (given up) when
    `retry_at` is None."""
    stamp = now()
    values: dict = {"attempts": delivery.attempts + 1, "last_status": status, "last_error": error}
    if delivered:
        values.update(status="delivered", delivered=stamp, last_error=None)
    elif retry_at is None:
        values.update(status="failed")
    else:
        values.update(next_attempt=retry_at)
    with desk.write() as conn:
        conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == "pending")
            .values(**values)
        )


def redeliver(desk: Desk, delivery_row_id: int) -> bool:
    """Send a delivery again at the next round, whatever became of it (same delivery id, attempts
    counted afresh); False when there is no such delivery."""
    with desk.write() as conn:
        changed = conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_row_id)
            .values(status="pending", attempts=0, next_attempt=now(), delivered=None)
        )
    return changed.rowcount == 1


def claim_mail(desk: Desk, lease_seconds: float) -> DueMail | None:
    """Claim the next due email for `lease_seconds`; None when nothing is due. Safe with several workers."""
    m = email_outbox
    due = select(m.c.id, m.c.next_attempt).where(m.c.status == "pending", m.c.next_attempt <= now())
    with desk.write() as conn:
        claimed = _claim_one(conn, m, due.order_by(m.c.next_attempt, m.c.id), later(lease_seconds))
        if claimed is None:
            return None
        row = conn.execute(select(m).where(m.c.id == claimed)).one()
    return DueMail(id=row.id, to_address=row.to_address, subject=row.subject, body=row.body, attempts=row.attempts)


def settle_mail(desk: Desk, mail: DueMail, sent: bool, error: str | None, retry_at: str | None) -> None:
    """Record one attempt at an email: sent, or pending again at `retry_at`, or failed when it is None."""
    values: dict = {"attempts": mail.attempts + 1, "last_error": error}
    if sent:
        values.update(status="sent", sent=now(), last_error=None)
    elif retry_at is None:
        values.update(status="failed")
    else:
        values.update(next_attempt=retry_at)
    with desk.write() as conn:
        pending = email_outbox.c.status == "pending"
        conn.execute(update(email_outbox).where(email_outbox.c.id == mail.id, pending).values(**values))
