"""A merchant following their own ticket without an account: finding it by its private status key or by
ticket number and phone, marking it solved, and rating the answer once.

Keys and phones are compared in constant time, and a lookup that fails does the same work whether the
number or the phone was wrong, so the answer tells nothing about which tickets exist.
"""

from __future__ import annotations

import hmac
import re

from sqlalchemy import select, update

from triage.redact import mask_card_numbers
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import Ticket, TicketError, _record, _require, check_encodable, set_status, ticket_from_row

RATING_COMMENT_MAX_CHARS = 500
SOLVABLE = ("new", "open", "pending")  # a merchant may say "solved" on these
RATEABLE = ("resolved", "closed")
_KEY = re.compile(r"[A-Za-z0-9_-]{22,64}")  # token_urlsafe: 192-bit keys are 32 characters
_NUMBER = re.compile(r"(?:PD)?0*([0-9]{1,18})")
_PHONE_NOISE = re.compile(r"[\s\-()（）]")
_MOBILE_PREFIX = re.compile(r"^(?:\+?86)(?=1[3-9]\d{9}$)")
_DUMMY_PHONE = "0" * 12  # compared against when no ticket has the number: the same work either way


def parse_number(value: str) -> int | None:
    """A ticket id from what a merchant types as its number ("PD000042", "pd 42", "42"), or None."""
    match = _NUMBER.fullmatch(re.sub(r"\s+", "", value or "").upper())
    return int(match.group(1)) if match and int(match.group(1)) > 0 else None


def normalise_phone(value: str) -> str:
    """A phone number as compared: separators and a mobile's +86 removed."""
    return _MOBILE_PREFIX.sub("", _PHONE_NOISE.sub("", value or ""))


def ticket_by_key(desk: Desk, key: str) -> Ticket | None:
    """The ticket whose private status link has this key, or None (a malformed key is never looked up)."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        return None
    with desk.read() as conn:
        row = conn.execute(select(tickets).where(tickets.c.status_key == key)).first()
    if row is None or not hmac.compare_digest(row.status_key.encode(), key.encode()):
        return None
    return ticket_from_row(row)


def ticket_by_number_and_phone(desk: Desk, number: str, phone: str) -> Ticket | None:
    """The ticket with this number whose contact phone is this one, or None for a wrong number and a
    wrong phone alike."""
    ticket_id = parse_number(number)
    given = normalise_phone(phone)
    row = None
    if ticket_id is not None and ticket_id < 2**63:
        with desk.read() as conn:
            row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
    stored = normalise_phone(row.phone) if row is not None and row.phone else _DUMMY_PHONE
    matches = hmac.compare_digest(stored.encode(), given.encode())
    if row is None or not row.phone or not given or not matches:
        return None
    return ticket_from_row(row)


def mark_solved(desk: Desk, ticket_id: int) -> Ticket:
    """The merchant says the problem is solved: the ticket becomes `resolved` (TicketError unless it is
    new, open or pending)."""
    with desk.write():
        ticket = _require(desk, ticket_id)
        if ticket.status not in SOLVABLE:
            raise TicketError(f"a {ticket.status} ticket cannot be marked solved")
        return set_status(desk, ticket_id, "resolved", "merchant")


def rate(desk: Desk, ticket_id: int, rating: int, comment: str = "") -> Ticket:
    """Record the merchant's 1-5 rating of the answer, with an optional comment, once per ticket and
    only once it is resolved or closed; TicketError otherwise (a second rating included)."""
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise TicketError("rating must be an integer from 1 to 5")
    comment = (comment or "").strip()
    if len(comment) > RATING_COMMENT_MAX_CHARS:
        raise TicketError(f"comment is longer than {RATING_COMMENT_MAX_CHARS} characters")
    check_encodable(comment, "comment")
    comment = mask_card_numbers(comment)
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        if ticket.status not in RATEABLE:
            raise TicketError("only a resolved or closed ticket can be rated")
        done = conn.execute(
            update(tickets)
            .where(tickets.c.id == ticket_id, tickets.c.rating.is_(None))
            .values(rating=rating, rating_comment=comment or None, rated_at=stamp, updated=stamp)
            .returning(tickets.c.id)
        ).first()
        if done is None:
            raise TicketError("the ticket is rated already")
        _record(conn, ticket_id, "merchant", "rated", new=str(rating), at=stamp)
    return _require(desk, ticket_id)
