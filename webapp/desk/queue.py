"""The agents' queue: pages of tickets matching a filter."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from sqlalchemy import func, select

from webapp.desk.schema import tickets
from webapp.desk.storage import Desk
from webapp.desk.tickets import Ticket, ticket_from_row, utc


@dataclass(frozen=True)
class TicketFilter:
    """What the agent queue shows: all criteria optional; times are aware datetimes."""

    category: str | None = None
    status: str | None = None
    needs_review: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class TicketPage:
    """One page of the queue, newest first."""

    tickets: tuple[Ticket, ...]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the whole result has (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))


def _conditions(where: TicketFilter) -> list:
    conditions = []
    if where.category:
        conditions.append(tickets.c.category == where.category)
    if where.status:
        conditions.append(tickets.c.status == where.status)
    if where.needs_review is not None:
        conditions.append(tickets.c.needs_review == int(where.needs_review))
    if where.since:
        conditions.append(tickets.c.created >= utc(where.since))
    if where.until:
        conditions.append(tickets.c.created < utc(where.until))
    return conditions


def list_tickets(desk: Desk, where: TicketFilter | None = None, page: int = 1, per_page: int = 20) -> TicketPage:
    """Return one page of tickets matching the filter, newest first; a page past the end is the last
    page (page 10**18 too, never an overflow)."""
    conditions = _conditions(where or TicketFilter())
    with desk.read() as conn:
        total = conn.execute(select(func.count()).select_from(tickets).where(*conditions)).scalar()
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        rows = conn.execute(
            select(tickets)
            .where(*conditions)
            .order_by(tickets.c.created.desc(), tickets.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return TicketPage(tuple(ticket_from_row(r) for r in rows), total, page, per_page)
