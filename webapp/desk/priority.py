"""Ticket priority: the rules that raise it when a ticket is filed and triaged (a category that is
about money or a frozen merchant, an amount above the threshold), and an agent's own choice, each
change recorded in the ticket's history and the due times recomputed with it.

The rules only ever raise a priority, and never touch one an agent has set.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import Connection, select, update

from webapp.desk import sla
from webapp.desk.schema import ticket_events, tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import PRIORITIES, SYSTEM_ACTOR, Ticket, TicketError, _record, _require

# Categories whose tickets start 高: money that did not arrive or is held, a merchant stopped by risk control.
HIGH_CATEGORIES = frozenset({"settlement", "merchant-risk-status"})
RANK = {p: i for i, p in enumerate(PRIORITIES)}
# An amount of money: "¥12,000", "5万", "5.5万元", "50000元", "3000块", "2千元". A bare number is
# not one (merchant and terminal numbers, codes, phone numbers).
_AMOUNT = re.compile(
    r"(?P<yen>¥\s*)?(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<unit>万|千|元|块|圆|w(?![a-z]))?",
    re.IGNORECASE,
)
_SCALE = {"万": 10000, "w": 10000, "千": 1000}


def amounts(ticket_text: str) -> list[float]:
    """The amounts of money (in yuan) a text names, in order."""
    found = []
    for match in _AMOUNT.finditer(unicodedata.normalize("NFKC", ticket_text)):
        unit = (match["unit"] or "").lower()
        if not unit and not match["yen"]:
            continue
        value = float(match["number"].replace(",", "")) * _SCALE.get(unit, 1)
        found.append(value)
    return found


def rule_priority(category: str | None, ticket_text: str, threshold: float) -> str | None:
    """The priority the rules give a ticket ("high"), or None when no rule applies."""
    if category in HIGH_CATEGORIES:
        return "high"
    if any(amount > threshold for amount in amounts(ticket_text)):
        return "high"
    return None


def agent_set_priority(conn: Connection, ticket_id: int) -> bool:
    """True once anyone but the system has set the ticket's priority."""
    return (
        conn.execute(
            select(ticket_events.c.id)
            .where(
                ticket_events.c.ticket_id == ticket_id,
                ticket_events.c.action == "priority",
                ticket_events.c.actor != SYSTEM_ACTOR,
            )
            .limit(1)
        ).first()
        is not None
    )


def apply_rules(conn: Connection, ticket_id: int) -> None:
    """Inside the write transaction that files or triages a ticket: raise its priority when a rule
    says so (history action `priority` by the system), then give it its due times."""
    row = conn.execute(
        select(tickets.c.text, tickets.c.category, tickets.c.priority).where(tickets.c.id == ticket_id)
    ).first()
    if row is None:
        return
    current = row.priority or "normal"
    wanted = rule_priority(row.category, row.text or "", sla.settings_for(conn).amount_threshold)
    if wanted and RANK[wanted] > RANK.get(current, 1) and not agent_set_priority(conn, ticket_id):
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(priority=wanted))
        _record(conn, ticket_id, SYSTEM_ACTOR, "priority", old=current, new=wanted)
    sla.recompute(conn, ticket_id)


def set_priority(desk: Desk, ticket_id: int, priority: str, actor: str) -> Ticket:
    """An agent sets the ticket's priority (one of PRIORITIES): history action `priority`, due times
    recomputed. TicketError for an unknown priority, LookupError for an unknown ticket."""
    if priority not in PRIORITIES:
        raise TicketError(f"priority must be one of {', '.join(PRIORITIES)}", "未知的优先级")
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        if ticket.priority != priority:
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(priority=priority, updated=stamp))
            _record(conn, ticket_id, actor, "priority", old=ticket.priority, new=priority, at=stamp)
            sla.recompute(conn, ticket_id)
    return _require(desk, ticket_id)
