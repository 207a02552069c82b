"""Bulk edits from the queue: one or more of assignee, status, category and priority set on many
tickets in one transaction, with one history entry per ticket (action `bulk`, the changes as JSON)
and the status webhook event for each ticket whose status moved."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select, update

from triage.prediction import OUT_OF_SCOPE
from webapp.desk import outbox, sla
from webapp.desk.ownership import check_assignee
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import PRIORITIES, STATUSES, TicketError, _event_view, _record, ticket_from_row

MAX_TICKETS = 200
UNASSIGNED = ""  # the assignee value that unassigns


@dataclass(frozen=True)
class BulkChanges:
    """What to set on every selected ticket (None: leave it as it is; assignee "" unassigns)."""

    assignee: str | None = None
    status: str | None = None
    category: str | None = None
    priority: str | None = None

    def any(self) -> bool:
        """True when at least one field is to be set."""
        return any(v is not None for v in (self.assignee, self.status, self.category, self.priority))


@dataclass(frozen=True)
class BulkResult:
    """Which tickets changed, which already had every value, and which ids named no ticket."""

    changed: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)


def _check(desk: Desk, changes: BulkChanges, known: set[str] | None) -> str | None:
    """TicketError for a value no single-ticket action would accept; the assignee to store."""
    if not changes.any():
        raise TicketError("nothing to change", "请至少选择一项要修改的内容")
    if changes.status is not None and changes.status not in STATUSES:
        raise TicketError(f"unknown status {changes.status!r}", "未知的状态")
    if changes.priority is not None and changes.priority not in PRIORITIES:
        raise TicketError(f"unknown priority {changes.priority!r}", "未知的优先级")
    category = changes.category
    if category is not None and category != OUT_OF_SCOPE and known is not None and category not in known:
        raise TicketError(f"unknown category {category!r}", "未知的分类")
    if changes.assignee:
        return check_assignee(desk, changes.assignee)  # the ownership rules: an active desk account
    return changes.assignee


def bulk_update(
    desk: Desk, ticket_ids: list[int], changes: BulkChanges, actor: str, known: set[str] | None = None
) -> BulkResult:
    """Apply `changes` to these tickets, all or none; TicketError for a bad value or too many tickets.
    A category set this way counts as the agent's decision (as on the ticket page); a new category or
    priority recomputes the due times."""
    ids = list(dict.fromkeys(ticket_ids))
    if not ids:
        raise TicketError("no tickets selected", "请先勾选工单")
    if len(ids) > MAX_TICKETS:
        raise TicketError(f"at most {MAX_TICKETS} tickets at once", f"一次最多修改 {MAX_TICKETS} 个工单")
    assignee = _check(desk, changes, known)
    result = BulkResult()
    stamp = now()
    with desk.write() as conn:
        rows = {r.id: ticket_from_row(r) for r in conn.execute(select(tickets).where(tickets.c.id.in_(ids))).all()}
        for ticket_id in ids:
            ticket = rows.get(ticket_id)
            if ticket is None:
                result.missing.append(ticket_id)
                continue
            values, diff = {}, {}
            if changes.assignee is not None and (assignee or None) != ticket.assignee:
                values["assignee"] = assignee or None
                diff["assignee"] = [ticket.assignee, assignee or None]
            if changes.status is not None and changes.status != ticket.status:
                values["status"] = changes.status
                diff["status"] = [ticket.status, changes.status]
            if changes.category is not None and (changes.category != ticket.category or not ticket.category_by):
                values.update(category=changes.category, category_by=actor, category_at=stamp, needs_review=0)
                diff["category"] = [ticket.category, changes.category]
            if changes.priority is not None and changes.priority != ticket.priority:
                values["priority"] = changes.priority
                diff["priority"] = [ticket.priority, changes.priority]
            if not diff:
                result.unchanged.append(ticket_id)
                continue
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated=stamp, **values))
            _record(conn, ticket_id, actor, "bulk", new=json.dumps(diff, ensure_ascii=False, sort_keys=True), at=stamp)
            if "category" in diff or "priority" in diff:
                sla.recompute(conn, ticket_id)
            if "status" in diff:
                change = {"old": ticket.status, "new": changes.status, "actor": actor}
                view = _event_view(conn, ticket_id)
                outbox.emit(conn, "ticket.status", ticket_id, {"ticket": view, "status": change})
            result.changed.append(ticket_id)
    return result
