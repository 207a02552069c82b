"""The desk's views of its tickets: named views (mine, unassigned, needs review, waiting for the
merchant, overdue, unresolved, all) with their counts, filters that combine, orders, and pages by
number or by cursor. The agent queue and `GET /api/v1/tickets` both list through here."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

from sqlalchemy import and_, case, func, literal, or_, select

from triage.prediction import OUT_OF_SCOPE
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import Ticket, ticket_from_row, utc

VIEWS = ("mine", "unassigned", "review", "waiting", "overdue", "open", "all")
DEFAULT_VIEW = "open"
UNRESOLVED = ("new", "open", "pending")
ORDERS = ("attention", "newest", "oldest")
NOBODY = "none"  # the assignee filter's value for unassigned tickets


@dataclass(frozen=True)
class TicketQuery:
    """Which tickets to list: a named view (None: no view's condition) and filters, every one
    optional and combined with AND. `assignee` is a username or NOBODY; `scope` is "in" (about POS
    acquiring) or "out"; times are aware datetimes, `until` exclusive."""

    view: str | None = None
    user: str | None = None  # who "mine" means
    status: str | None = None
    category: str | None = None
    assignee: str | None = None
    priority: str | None = None
    source: str | None = None
    scope: str | None = None
    needs_review: bool | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: its tickets, how many match in all, the page number (1 when paged by
    cursor), the page size and the cursor of the next page (None on the last one)."""

    tickets: tuple[Ticket, ...]
    total: int
    page: int
    per_page: int
    next_cursor: str | None = None

    @property
    def pages(self) -> int:
        """How many pages the whole result has (at least 1)."""
        return max(1, math.ceil(self.total / self.per_page))


def _overdue(stamp: str):
    """Unresolved and past a due time: the first response while no agent has replied publicly, or
    the resolution (the SQL twin of `webapp.desk.sla.overdue`)."""
    late_reply = and_(
        tickets.c.first_responded_at.is_(None),
        tickets.c.first_response_due.is_not(None),
        tickets.c.first_response_due < stamp,
    )
    late_resolution = and_(tickets.c.resolution_due.is_not(None), tickets.c.resolution_due < stamp)
    return and_(tickets.c.status.not_in(("resolved", "closed")), or_(late_reply, late_resolution))


def _view_condition(view: str | None, user: str | None, stamp: str):
    unresolved = tickets.c.status.in_(UNRESOLVED)
    if view == "mine":
        return and_(unresolved, tickets.c.assignee == (user or ""))
    if view == "unassigned":
        return and_(unresolved, tickets.c.assignee.is_(None))
    if view == "review":
        return and_(unresolved, tickets.c.needs_review == 1)
    if view == "waiting":
        return tickets.c.status == "pending"
    if view == "overdue":
        return _overdue(stamp)
    if view == "open":
        return unresolved
    return None


def _conditions(query: TicketQuery, stamp: str) -> list:
    conditions = []
    view = _view_condition(query.view, query.user, stamp)
    if view is not None:
        conditions.append(view)
    for column in ("status", "category", "priority", "source"):
        value = getattr(query, column)
        if value:
            conditions.append(tickets.c[column] == value)
    if query.assignee == NOBODY:
        conditions.append(tickets.c.assignee.is_(None))
    elif query.assignee:
        conditions.append(tickets.c.assignee == query.assignee)
    if query.scope == "out":
        conditions.append(tickets.c.category == OUT_OF_SCOPE)
    elif query.scope == "in":
        conditions.append(or_(tickets.c.category.is_(None), tickets.c.category != OUT_OF_SCOPE))
    if query.needs_review is not None:
        conditions.append(tickets.c.needs_review == int(query.needs_review))
    if query.since:
        conditions.append(tickets.c.created >= utc(query.since))
    if query.until:
        conditions.append(tickets.c.created < utc(query.until))
    return conditions


def _order(order: str, stamp: str) -> list:
    if order == "oldest":
        return [tickets.c.created.asc(), tickets.c.id.asc()]
    if order == "newest":
        return [tickets.c.created.desc(), tickets.c.id.desc()]
    # What needs someone first: to be reviewed or overdue (and not resolved), then the oldest.
    attention = case((and_(tickets.c.status.in_(UNRESOLVED), tickets.c.needs_review == 1), 1), else_=0)
    attention = attention + case((_overdue(stamp), 1), else_=0)
    return [case((attention > 0, 0), else_=1), tickets.c.created, tickets.c.id]


def list_page(desk: Desk, query: TicketQuery, order: str = "attention", page: int = 1, per_page: int = 20) -> ListPage:
    """One page of the tickets the query matches, in `order` (ORDERS); a page past the end is the
    last page (page 10**18 too, never an overflow)."""
    stamp = now()
    conditions = _conditions(query, stamp)
    with desk.read() as conn:
        total = conn.execute(select(func.count()).select_from(tickets).where(*conditions)).scalar()
        pages = max(1, math.ceil(total / per_page))
        page = min(max(1, page), pages)
        rows = conn.execute(
            select(tickets)
            .where(*conditions)
            .order_by(*_order(order, stamp))
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).all()
    return ListPage(tuple(ticket_from_row(r) for r in rows), total, page, per_page)


def list_after(desk: Desk, query: TicketQuery, newest_first: bool, cursor: int | None, limit: int) -> ListPage:
    """A page of the query's tickets in filing order (newest or oldest first), after the ticket the
    cursor names (None: from the start); `next_cursor` continues where it ends. Tickets filed while
    a client pages never shift its pages, as offsets would."""
    stamp = now()
    conditions = _conditions(query, stamp)
    after = []
    if cursor is not None:
        after.append(tickets.c.id < cursor if newest_first else tickets.c.id > cursor)
    order = tickets.c.id.desc() if newest_first else tickets.c.id.asc()
    with desk.read() as conn:
        total = conn.execute(select(func.count()).select_from(tickets).where(*conditions)).scalar()
        rows = conn.execute(select(tickets).where(*conditions, *after).order_by(order).limit(limit + 1)).all()
    found = tuple(ticket_from_row(r) for r in rows[:limit])
    following = str(found[-1].id) if len(rows) > limit else None
    return ListPage(found, total, 1, limit, following)


def list_numbered(desk: Desk, query: TicketQuery, newest_first: bool, page: int, limit: int) -> ListPage:
    """A numbered page of the query's tickets in filing order (newest or oldest first); a page past
    the end is the last page."""
    conditions = _conditions(query, now())
    with desk.read() as conn:
        total = conn.execute(select(func.count()).select_from(tickets).where(*conditions)).scalar()
        page = min(max(1, page), max(1, math.ceil(total / limit)))
        order = tickets.c.id.desc() if newest_first else tickets.c.id.asc()
        rows = conn.execute(
            select(tickets).where(*conditions).order_by(order).limit(limit).offset((page - 1) * limit)
        ).all()
    return ListPage(tuple(ticket_from_row(r) for r in rows), total, page, limit)


def view_counts(desk: Desk, query: TicketQuery) -> dict[str, int]:
    """How many tickets each view holds under the query's filters (its own view aside), in one
    statement: {"mine": 3, "unassigned": 5, ...}."""
    stamp = now()
    base = replace(query, view=None)
    conditions = _conditions(base, stamp)
    columns = []
    for view in VIEWS:
        condition = _view_condition(view, query.user, stamp)
        if condition is None:
            columns.append(func.count().label(view))
        else:
            columns.append(func.coalesce(func.sum(case((condition, 1), else_=0)), literal(0)).label(view))
    with desk.read() as conn:
        row = conn.execute(select(*columns).select_from(tickets).where(*conditions)).one()
    return {view: int(row._mapping[view]) for view in VIEWS}
