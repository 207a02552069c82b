"""Public replies on a ticket, both ways: an agent's answer the merchant sees on the status page, and the
merchant's answer from there. Internal notes are not replies (they stay in the ticket's history).

A reply moves the ticket along: an agent's reply that asks for information makes it `pending`
(等待商户), another agent reply takes a `new` ticket to `open`; a merchant's reply brings a `pending`
or `resolved` ticket back to `open` (待处理). Each reply is written with its webhook event, in one
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, update

from triage.redact import mask_card_numbers
from webapp.desk import outbox, sla
from webapp.desk.schema import ticket_replies, tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import (
    Ticket,
    TicketError,
    _event_view,
    _record,
    _require,
    required_text,
    set_status,
)

REPLY_MAX_CHARS = 2000
MERCHANT = "merchant"
MERCHANT_DISPLAY_NAME = "商户"
# Statuses a merchant's reply brings back to the desk's attention; a closed ticket takes no reply.
REOPENED_BY_MERCHANT = ("pending", "resolved")


class TicketClosed(TicketError):
    """A closed ticket takes no more replies (the merchant files a new one)."""


@dataclass(frozen=True)
class Reply:
    """One public reply: who wrote it (an agent or the merchant), what, when, and an inserted article."""

    id: int
    ticket_id: int
    at: str
    author_kind: str  # "agent" or "merchant"
    author: str
    display_name: str
    body: str
    article: str | None
    asks_info: bool

    def to_dict(self) -> dict:
        """The reply as the API and webhook events show it."""
        return {
            "id": self.id,
            "at": self.at,
            "author_kind": self.author_kind,
            "display_name": self.display_name,
            "body": self.body,
            "article": self.article,
        }


def agent_display_name(username: str) -> str:
    """What a merchant sees of an agent: users have no display name, so "客服 " and the username."""
    return f"客服 {username}"


def clean_body(body: object) -> str:
    """The reply's text stripped; TicketError when it is not text, empty or too long."""
    return required_text(body, "body", "回复内容", REPLY_MAX_CHARS)


def _reply_from_row(row) -> Reply:
    m = row._mapping
    return Reply(
        id=m["id"],
        ticket_id=m["ticket_id"],
        at=m["at"],
        author_kind=m["author_kind"],
        author=m["author"],
        display_name=m["display_name"],
        body=m["body"],
        article=m["article"],
        asks_info=bool(m["asks_info"]),
    )


def _insert(conn: Connection, values: dict) -> Reply:
    reply_id = conn.execute(insert(ticket_replies).values(**values).returning(ticket_replies.c.id)).scalar_one()
    row = conn.execute(select(ticket_replies).where(ticket_replies.c.id == reply_id)).one()
    return _reply_from_row(row)


def add_agent_reply(
    desk: Desk,
    ticket_id: int,
    body: str,
    author: str,
    article: str | None = None,
    asks_info: bool = False,
    public_articles: set[str] | None = None,
    display_name: str | None = None,
) -> Reply:
    """Post an agent's public reply (card numbers masked); `article` is a public article's slug to show
    with it (TicketError when it is not in `public_articles`). Asking for information sets `pending`;
    any other reply takes a `new` ticket to `open`. `display_name` is what the merchant sees (default
    "客服 <author>"). LookupError for an unknown ticket, TicketClosed for a closed one."""
    _require(desk, ticket_id)
    body = mask_card_numbers(clean_body(body))
    article = article or None
    if article is not None and public_articles is not None and article not in public_articles:
        raise TicketError(
            f"unknown or internal article {article!r}: a public reply inserts merchant articles only",
            "公开回复只能插入面向商户的文章。",
        )
    fields = {
        "author_kind": "agent",
        "author": author,
        "display_name": display_name or agent_display_name(author),
        "body": body,
        "article": article,
        "asks_info": int(asks_info),
    }

    def next_status(ticket: Ticket) -> str | None:
        return "pending" if asks_info else "open" if ticket.status == "new" else None

    return _post(desk, ticket_id, fields, "reply", "ticket.reply.public", next_status)


def add_merchant_reply(desk: Desk, ticket_id: int, body: str) -> Reply:
    """Post the merchant's reply from the status page (card numbers masked): a `pending` or `resolved`
    ticket goes back to `open`, and `updated` moves so the queue shows it. TicketError on a closed one."""
    body = mask_card_numbers(clean_body(body))
    fields = {
        "author_kind": MERCHANT,
        "author": MERCHANT,
        "display_name": MERCHANT_DISPLAY_NAME,
        "body": body,
        "article": None,
        "asks_info": 0,
    }

    def next_status(ticket: Ticket) -> str | None:
        return "open" if ticket.status in REOPENED_BY_MERCHANT else None

    return _post(desk, ticket_id, fields, "merchant_reply", "ticket.reply.merchant", next_status)


def _post(desk: Desk, ticket_id: int, fields: dict, action: str, event: str, next_status) -> Reply:
    """Store one reply in one transaction: the row, the ticket's `updated`, the history entry, the
    status change `next_status(ticket)` asks for (None: none) and the webhook event. LookupError for
    an unknown ticket, TicketClosed for a closed one."""
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        if ticket.status == "closed":
            raise TicketClosed("the ticket is closed")
        reply = _insert(conn, {"ticket_id": ticket_id, "at": stamp, **fields})
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated=stamp))
        if fields["author_kind"] == "agent":  # the first public agent reply is the ticket's first response
            sla.mark_first_response(conn, ticket_id, stamp)
        _record(conn, ticket_id, fields["author"], action, new=str(reply.id), at=stamp)
        status = next_status(ticket)
        if status:
            set_status(desk, ticket_id, status, fields["author"])
        outbox.emit(conn, event, ticket_id, {"ticket": _event_view(conn, ticket_id), "reply": reply.to_dict()})
    return reply


def list_replies(desk: Desk, ticket_id: int) -> list[Reply]:
    """A ticket's public replies, oldest first."""
    with desk.read() as conn:
        rows = conn.execute(
            select(ticket_replies).where(ticket_replies.c.ticket_id == ticket_id).order_by(ticket_replies.c.id)
        ).all()
    return [_reply_from_row(r) for r in rows]


def merchant_replied_last(desk: Desk, ticket_ids: list[int]) -> set[int]:
    """Of these tickets, those whose latest public reply is the merchant's: they wait for an agent."""
    if not ticket_ids:
        return set()
    latest = (
        select(ticket_replies.c.ticket_id, func.max(ticket_replies.c.id).label("id"))
        .where(ticket_replies.c.ticket_id.in_(ticket_ids))
        .group_by(ticket_replies.c.ticket_id)
        .subquery()
    )
    query = select(ticket_replies.c.ticket_id).join(latest, latest.c.id == ticket_replies.c.id)
    with desk.read() as conn:
        return set(conn.execute(query.where(ticket_replies.c.author_kind == MERCHANT)).scalars())
