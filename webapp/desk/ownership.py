"""Who owns a ticket: its assignee (an active desk account, or nobody) and its team, each change
recorded in the ticket's history (priority is `webapp.desk.priority`'s); and a merchant's other
tickets (same 商户号, 终端号 or phone)."""

from __future__ import annotations

import re

from sqlalchemy import or_, select, update

from webapp.desk.accounts import find_user
from webapp.desk.schema import tickets
from webapp.desk.storage import Desk, now
from webapp.desk.tickets import FIELD_MAX_CHARS, Ticket, TicketError, _record, _require, ticket_from_row

MERCHANT_HISTORY_LIMIT = 20
_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{1,31}")  # as `webapp.desk.accounts` makes them


def check_assignee(desk: Desk, username: str | None) -> str | None:
    """The username to store for an assignee (None: unassigned); TicketError unless it names an
    existing, active desk account."""
    if username is None or username == "":
        return None
    if not isinstance(username, str):
        raise TicketError("assignee must be a username or null", "处理人必须是客服账号的用户名。")
    # Checked before the lookup: a name no account can have (a NUL byte in it, say) never reaches SQL.
    user = find_user(desk, username) if _USERNAME.fullmatch(username.strip().lower()) else None
    if user is None or not user.active:
        raise TicketError(f"assignee {username!r} is not an active desk account", f"没有启用中的客服账号 {username}。")
    return user.username


def _set(desk: Desk, ticket_id: int, column: str, value, actor: str) -> Ticket:
    """Change one ownership column, recording old → new in the history when it changed."""
    stamp = now()
    with desk.write() as conn:
        ticket = _require(desk, ticket_id)
        old = getattr(ticket, column)
        if old != value:
            conn.execute(update(tickets).where(tickets.c.id == ticket_id).values({column: value, "updated": stamp}))
            _record(conn, ticket_id, actor, column, old=old, new=value, at=stamp)
    return _require(desk, ticket_id)


def assign(desk: Desk, ticket_id: int, username: str | None, actor: str) -> Ticket:
    """Assign the ticket to a desk account (None unassigns it); history action `assignee`, old and
    new usernames (None for nobody). TicketError for an unknown or disabled account, LookupError for
    an unknown ticket."""
    _require(desk, ticket_id)
    return _set(desk, ticket_id, "assignee", check_assignee(desk, username), actor)


def set_team(desk: Desk, ticket_id: int, team: str | None, actor: str) -> Ticket:
    """Put the ticket in a team (None or empty: no team); history action `team`."""
    if team is not None and not isinstance(team, str):
        raise TicketError("team must be a string or null", "团队必须是文字。")
    team = (team or "").strip() or None
    if team and len(team) > FIELD_MAX_CHARS:
        raise TicketError(
            f"team is longer than {FIELD_MAX_CHARS} characters", f"团队名称不能超过 {FIELD_MAX_CHARS} 个字。"
        )
    if team and (not team.isprintable() or "\x00" in team):
        raise TicketError("team holds control characters", "团队名称含有控制字符。")
    return _set(desk, ticket_id, "team", team, actor)


def merchant_history(desk: Desk, ticket: Ticket, limit: int = MERCHANT_HISTORY_LIMIT) -> list[Ticket]:
    """The merchant's other tickets, newest first: those with the same 商户号, 终端号 or phone as
    this one (empty fields match nothing)."""
    same = [
        column == value
        for column, value in (
            (tickets.c.merchant_no, ticket.merchant_no),
            (tickets.c.terminal_no, ticket.terminal_no),
            (tickets.c.phone, ticket.phone),
        )
        if value
    ]
    if not same:
        return []
    with desk.read() as conn:
        rows = conn.execute(
            select(tickets)
            .where(or_(*same), tickets.c.id != ticket.id)
            .order_by(tickets.c.created.desc(), tickets.c.id.desc())
            .limit(limit)
        ).all()
    return [ticket_from_row(r) for r in rows]
