"""What `GET /api/v1/tickets`, `PATCH /api/v1/tickets/<id>` and `POST /api/v1/tickets/<id>/notes`
accept: the listing's parameters, the fields a PATCH may change (all checked before any is
applied, every bad one named) and a ticket's ownership fields as the API shows them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from triage.prediction import OUT_OF_SCOPE
from webapp.audit_views import audit
from webapp.desk import priority as priorities
from webapp.desk.listing import VIEWS, ListPage, list_after, list_numbered
from webapp.desk.ownership import assign, check_assignee, set_team
from webapp.desk.storage import Desk
from webapp.desk.tickets import (
    FIELD_MAX_CHARS,
    PRIORITIES,
    STATUSES,
    Ticket,
    TicketError,
    get_ticket,
    set_category,
    set_status,
)
from webapp.errors import refuse
from webapp.queue_views import read_listing

LIST_MAX = 100
LIST_DEFAULT = 20
MAX_ROW_ID = 2**63 - 1
API_VIEWS = tuple(v for v in VIEWS if v != "mine")  # a token is no desk account: it has no "mine"
PATCH_FIELDS = ("status", "category", "assignee", "priority", "team")
_NUMBER = re.compile(r"[0-9]{1,19}")  # ASCII digits only: "²".isdigit() is True


@dataclass(frozen=True)
class Listing:
    """One `GET /api/v1/tickets` request's page."""

    result: ListPage
    order: str


def ownership_json(ticket: Ticket) -> dict:
    """Who owns the ticket, as the API adds it to a ticket: assignee (null: unassigned), team, priority."""
    return {"assignee": ticket.assignee, "team": ticket.team, "priority": ticket.priority}


def _number(args, name: str, low: int, high: int) -> int | None:
    raw = args.get(name)
    if raw is None:
        return None
    value = int(raw) if _NUMBER.fullmatch(raw) else 0
    return value if low <= value <= high else -1


def list_from_args(desk: Desk, args, categories: set[str]) -> Listing:
    """The page of tickets the query string asks for (filters as the desk queue's, plus `view`,
    `order`, `limit` and `page` or `cursor`); 400 naming every bad parameter."""
    view = args.get("view") or None
    order = args.get("order", "newest")
    listing = read_listing(args, categories, view=view if view in API_VIEWS else None)
    bad = list(listing.errors)
    if view is not None and view not in API_VIEWS:
        bad.append("view")
    if order not in ("newest", "oldest"):
        bad.append("order")
    limit = _number(args, "limit", 1, LIST_MAX)
    page = _number(args, "page", 1, MAX_ROW_ID)
    cursor = _number(args, "cursor", 1, MAX_ROW_ID)
    bad += [name for name, value in (("limit", limit), ("page", page), ("cursor", cursor)) if value == -1]
    if page is not None and cursor is not None and "page" not in bad:
        bad.append("page")  # one way of paging at a time
    if bad:
        names = ", ".join(dict.fromkeys(bad))
        refuse(400, f"bad query parameters: {names}", f"查询参数有误：{names}")
    limit = limit or LIST_DEFAULT
    newest = order == "newest"
    if cursor is not None:
        return Listing(list_after(desk, listing.query, newest, cursor, limit), order)
    result = list_numbered(desk, listing.query, newest, page or 1, limit)
    if result.page < result.pages and result.tickets:
        result = ListPage(result.tickets, result.total, result.page, limit, str(result.tickets[-1].id))
    return Listing(result, order)


def _patch_errors(desk: Desk, body: dict, categories: set[str]) -> list[str]:
    """Every field of a PATCH body that cannot be applied, with why."""
    checks = {
        "status": lambda v: v in STATUSES,
        "category": lambda v: isinstance(v, str) and (v in categories or v == OUT_OF_SCOPE),
        "priority": lambda v: v in PRIORITIES,
        "team": lambda v: v is None or (isinstance(v, str) and len(v.strip()) <= FIELD_MAX_CHARS and v.isprintable()),
    }
    reasons = {
        "status": f"status must be one of {', '.join(STATUSES)}",
        "category": "category must be a known category slug",
        "priority": f"priority must be one of {', '.join(PRIORITIES)}",
        "team": f"team must be null or a string of at most {FIELD_MAX_CHARS} printable characters",
    }
    errors = [reasons[name] for name, ok in checks.items() if name in body and not ok(body[name])]
    if "assignee" in body:
        try:
            check_assignee(desk, body["assignee"])
        except TicketError:
            errors.append("assignee must be null or the username of an active desk account")
    return errors


def patch_ticket(desk: Desk, ticket: Ticket, body: dict, actor: str, categories: set[str]) -> tuple[Ticket, dict]:
    """Apply a PATCH body to the ticket in one transaction, each change in its history: (the ticket
    after, {field: [old, new]} for the fields that changed), with an audit-log entry `ticket.update`
    in the same transaction. 400 naming every unknown or bad field, or an empty body, before
    anything is changed."""
    unknown = sorted(ascii(name) for name in body if name not in PATCH_FIELDS)
    if unknown:
        names = ", ".join(unknown)
        refuse(400, f"unknown fields: {names}", f"不认识的字段：{names}")
    if not body:
        fields = ", ".join(PATCH_FIELDS)
        refuse(400, f"nothing to change: send one or more of {fields}", f"请至少填写一项要修改的字段：{fields}")
    errors = _patch_errors(desk, body, categories)
    if errors:
        refuse(400, "; ".join(errors), "字段有误：" + "；".join(errors))
    before = ownership_json(ticket) | {"status": ticket.status, "category": ticket.category}
    with desk.write():
        if "status" in body:
            set_status(desk, ticket.id, body["status"], actor)
        if "category" in body:
            set_category(desk, ticket.id, body["category"], actor, categories)
        if "assignee" in body:
            assign(desk, ticket.id, body["assignee"], actor)
        if "team" in body:
            set_team(desk, ticket.id, body["team"], actor)
        if "priority" in body:
            priorities.set_priority(desk, ticket.id, body["priority"], actor)
        after = get_ticket(desk, ticket.id)
        now = ownership_json(after) | {"status": after.status, "category": after.category}
        changes = {name: [before[name], now[name]] for name in PATCH_FIELDS if before[name] != now[name]}
        audit("ticket.update", f"ticket:{ticket.id}", {"changes": changes}, actor=actor)
    return after, changes
