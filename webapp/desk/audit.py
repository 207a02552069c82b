"""The audit log: an append-only record of agents' and admins' actions beyond ticket history
(logins, accounts, tokens, settings, exports, bulk actions): who, what, when, from where.

Only `record` writes and only `entries` reads; nothing here (or anywhere in the app) updates or
deletes a row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select

from webapp.desk.schema import audit_log
from webapp.desk.storage import Desk, now

PAGE_SIZE = 50
ACTOR_MAX_CHARS = 200  # an attacker picks the username of a failed login: keep what is stored short


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action."""

    id: int
    at: str
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any]
    address: str | None


@dataclass(frozen=True)
class AuditPage:
    """One page of entries, newest first, and how many match the filters in all."""

    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the matching entries fill (at least one)."""
        return max(1, -(-self.total // self.per_page))


def record(
    desk: Desk,
    actor: str,
    action: str,
    target: str | None = None,
    detail: dict[str, Any] | None = None,
    address: str | None = None,
) -> None:
    """Append one entry; inside the caller's write transaction it commits (or rolls back) with it."""
    row = {
        "at": now(),
        "actor": (actor or "anonymous")[:ACTOR_MAX_CHARS],
        "action": action,
        "target": target,
        "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str) if detail else None,
        "address": address,
    }
    with desk.write() as conn:
        conn.execute(insert(audit_log).values(**row))


def _entry(row) -> AuditEntry:
    try:
        detail = json.loads(row.detail) if row.detail else {}
    except ValueError:
        detail = {"raw": row.detail}
    return AuditEntry(row.id, row.at, row.actor, row.action, row.target, detail, row.address)


def entries(
    desk: Desk,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
    per_page: int = PAGE_SIZE,
    until_exclusive: bool = False,
) -> AuditPage:
    """The entries matching the filters, newest first: `actor` exactly, `action` exactly or by its
    prefix when it ends in "." ("user." for every account change), `since`/`until` as stored times
    or ISO dates (a date `until` includes its whole day; `until_exclusive` stops just before it)."""
    conditions = []
    if actor:
        conditions.append(audit_log.c.actor == actor)
    if action:
        if action.endswith("."):
            conditions.append(audit_log.c.action.startswith(action, autoescape=True))
        else:
            conditions.append(audit_log.c.action == action)
    if since:
        conditions.append(audit_log.c.at >= since)
    if until and until_exclusive:
        conditions.append(audit_log.c.at < until)
    elif until:
        # A bare date includes its whole day: "2026-12-01" < "2026-12-01T…" < "2026-12-01~".
        conditions.append(audit_log.c.at <= (until + "~" if len(until) == 10 else until))
    page = max(1, page)
    query = select(audit_log).where(*conditions).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
    with desk.read() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log).where(*conditions)).scalar_one()
        rows = conn.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    return AuditPage([_entry(r) for r in rows], total, page, per_page)


def actions(desk: Desk) -> list[str]:
    """Every action recorded so far, sorted (for the admin page's filter)."""
    with desk.read() as conn:
        return list(conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action)).scalars())
