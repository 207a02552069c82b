"""Duplicate tickets: an agent merges a ticket into the one that survives (history on both, the
duplicate resolved with `duplicate_of` set), the tickets merged into one, and where a merchant's
status link of a merged ticket may follow to.

A merchant's status link follows to the surviving ticket only when both carry the same phone: the
number-and-phone lookup already opens any ticket filed with that phone, so following shows the
merchant nothing they could not open themselves. Another merchant's ticket is never shown.
"""

from __future__ import annotations

import hmac

from sqlalchemy import select, update

from webapp.desk.following import normalise_phone, parse_number
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import Ticket, TicketError, _record, _require, get_ticket, set_status, ticket_from_row

MAX_CHAIN = 20  # merges never chain (a duplicate is refused as a target); this bounds old data


def survivor(desk: Desk, ticket: Ticket) -> Ticket:
    """The ticket a merged ticket finally went to (the ticket itself when it was not merged)."""
    seen = {ticket.id}
    while ticket.duplicate_of is not None and len(seen) <= MAX_CHAIN:
        following = get_ticket(desk, ticket.duplicate_of)
        if following is None or following.id in seen:
            break
        seen.add(following.id)
        ticket = following
    return ticket


def mark_duplicate(desk: Desk, ticket_id: int, target_number: str, actor: str) -> Ticket:
    """Merge ticket `ticket_id` into the ticket numbered `target_number` ("PD000042" or "42"): both
    record it, the duplicate is resolved. TicketError (a Chinese message) for itself, an unknown, closed
    or merged target, a merge that would loop, or a ticket already merged; LookupError for an unknown ticket."""
    target_id = parse_number(target_number or "")
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        if ticket.duplicate_of is not None:
            raise TicketError(f"工单 {ticket.number} 已合并到 PD{ticket.duplicate_of:06d}")
        target = get_ticket(desk, target_id) if target_id is not None and target_id < 2**63 else None
        if target is None:
            raise TicketError(f"没有找到工单 {(target_number or '').strip() or '（未填写）'}")
        if target.id == ticket.id:
            raise TicketError("不能把工单合并到它自己")
        if _reaches(desk, target, ticket.id):
            raise TicketError(f"{target.number} 已合并到本工单，不能再反向合并（会形成循环）")
        if target.duplicate_of is not None:
            raise TicketError(
                f"{target.number} 已合并到 PD{target.duplicate_of:06d}，请合并到 PD{target.duplicate_of:06d}"
            )
        if target.status == "closed":
            raise TicketError(f"{target.number} 已关闭，不能合并到已关闭的工单")
        stamp = now()
        conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(duplicate_of=target.id, updated=stamp))
        _record(conn, ticket.id, actor, "merged_into", new=target.number, at=stamp)
        _record(conn, target.id, actor, "merged_from", new=ticket.number, at=stamp)
        if ticket.status not in ("resolved", "closed"):
            set_status(desk, ticket.id, "resolved", actor)
    return _require(desk, ticket_id)


def _reaches(desk: Desk, start: Ticket, ticket_id: int) -> bool:
    """True when following `start`'s merges leads through `ticket_id`."""
    current, steps = start, 0
    while current.duplicate_of is not None and steps < MAX_CHAIN:
        if current.duplicate_of == ticket_id:
            return True
        current = get_ticket(desk, current.duplicate_of)
        if current is None:
            return False
        steps += 1
    return False


def merged_into(desk: Desk, ticket_id: int) -> list[Ticket]:
    """The tickets merged into this one, oldest first."""
    with desk.read() as conn:
        rows = conn.execute(select(tickets).where(tickets.c.duplicate_of == ticket_id).order_by(tickets.c.id)).all()
    return [ticket_from_row(r) for r in rows]


def followed_ticket(desk: Desk, ticket: Ticket) -> Ticket | None:
    """The surviving ticket a merchant's status link of a merged ticket goes on to, or None to stay:
    only when the survivor was filed with the same phone (compared normalised, in constant time)."""
    if ticket.duplicate_of is None:
        return None
    final = survivor(desk, ticket)
    own, theirs = normalise_phone(ticket.phone), normalise_phone(final.phone)
    if final.id == ticket.id or not own or not theirs or not final.status_key:
        return None
    return final if hmac.compare_digest(own.encode(), theirs.encode()) else None
