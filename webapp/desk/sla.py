"""Due times: the policy per category and priority (first response, resolution), the desk's business
hours, the due times a ticket gets from them, and whether a ticket is overdue.

A ticket's due times count from its filing time. The policy row for its category and priority wins,
else the default row (category NULL) for its priority, else BUILT_IN_MINUTES. With business hours
configured only the minutes inside them count (China time, Monday to Friday); without, 24×7.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, delete, select, update

from webapp.desk.schema import sla_policies, tickets
from webapp.desk.storage import Desk, insert_or_update, now

PRIORITIES = ("low", "normal", "high", "urgent")  # as webapp.desk.tickets.PRIORITIES
PRIORITY_LABELS = {"low": "低", "normal": "普通", "high": "高", "urgent": "紧急"}
# (first response, resolution) in minutes, when the policy table has no row for a priority.
BUILT_IN_MINUTES = {
    "urgent": (30, 4 * 60),
    "high": (2 * 60, 24 * 60),
    "normal": (4 * 60, 3 * 24 * 60),
    "low": (24 * 60, 7 * 24 * 60),
}
MAX_MINUTES = 365 * 24 * 60
DEFAULT_AMOUNT_THRESHOLD = 10000  # yuan: a ticket naming a larger amount starts 高
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
DONE_STATUSES = ("resolved", "closed")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class PolicyError(ValueError):
    """A policy row refused: unknown priority or category, minutes out of range."""


@dataclass(frozen=True)
class BusinessHours:
    """The desk's working hours: from `start` to `end` in China time on `days` (0 = Monday)."""

    start: dt.time
    end: dt.time
    days: tuple[int, ...] = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class SlaSettings:
    """What the priority rules and due times need from the app's configuration."""

    amount_threshold: float = DEFAULT_AMOUNT_THRESHOLD
    business_hours: BusinessHours | None = None


@dataclass(frozen=True)
class Policy:
    """One row of the policy table (category None: the default for every category)."""

    id: int
    category: str | None
    priority: str
    first_response_minutes: int
    resolution_minutes: int
    updated: str
    updated_by: str


def parse_business_hours(value: str | None) -> BusinessHours | None:
    """Parse "09:00-18:00" as BusinessHours (Monday to Friday); None for an empty value (24×7);
    ValueError for anything else."""
    if value is None or not str(value).strip():
        return None
    match = _HOURS.match(str(value))
    if not match:
        raise ValueError(f"business hours must look like 09:00-18:00, not {value!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = dt.time(h1, m1), dt.time(h2, m2) if (h2, m2) != (24, 0) else dt.time.max
    except ValueError as e:
        raise ValueError(f"business hours {value!r}: {e}") from None
    if end <= start:
        raise ValueError(f"business hours {value!r} end before they start")
    return BusinessHours(start, end)


# The settings of each desk's engine, as its app configured them (`set_settings`).
_settings: WeakKeyDictionary = WeakKeyDictionary()


def settings_from(config) -> SlaSettings:
    """The rules' settings from a configuration mapping (PRIORITY_AMOUNT_THRESHOLD, BUSINESS_HOURS);
    ValueError for a bad value."""
    threshold = config.get("PRIORITY_AMOUNT_THRESHOLD", DEFAULT_AMOUNT_THRESHOLD)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"PRIORITY_AMOUNT_THRESHOLD must be a number, not {threshold!r}") from None
    return SlaSettings(threshold, parse_business_hours(config.get("BUSINESS_HOURS")))


def set_settings(desk: Desk, settings: SlaSettings) -> None:
    """Use these settings for the rules and due times on this desk from now on."""
    _settings[desk.engine] = settings


def settings_for(conn: Connection) -> SlaSettings:
    """The settings of the desk this connection belongs to (the defaults when none were set)."""
    return _settings.get(conn.engine, SlaSettings())


def _parse(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _stored(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_minutes(start: dt.datetime, minutes: int, hours: BusinessHours | None = None) -> dt.datetime:
    """The moment `minutes` after `start`, counting only business hours when given (24×7 without)."""
    if hours is None:
        return start + dt.timedelta(minutes=minutes)
    moment = start.astimezone(CHINA_TIME)
    left = dt.timedelta(minutes=minutes)
    while True:
        day = moment.date()
        opens = dt.datetime.combine(day, hours.start, CHINA_TIME)
        closes = dt.datetime.combine(day, hours.end, CHINA_TIME)
        if day.weekday() in hours.days and moment < closes:
            moment = max(moment, opens)
            if moment + left <= closes:
                return moment + left
            left -= closes - moment
        moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CHINA_TIME)


def list_policies(desk: Desk) -> list[Policy]:
    """Every policy row: the defaults first, then by category, each by priority from 紧急 down."""
    with desk.read() as conn:
        rows = conn.execute(select(sla_policies)).all()
    order = {p: i for i, p in enumerate(reversed(PRIORITIES))}
    policies = [Policy(**r._mapping) for r in rows]
    return sorted(policies, key=lambda p: (p.category is not None, p.category or "", order.get(p.priority, 9)))


def _minutes(value: object, label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MINUTES:
        raise PolicyError(f"{label} must be a whole number of minutes from 1 to {MAX_MINUTES}")
    return value


def set_policy(
    desk: Desk,
    category: str | None,
    priority: str,
    first_response_minutes: int,
    resolution_minutes: int,
    actor: str,
    known: set[str] | None = None,
) -> None:
    """Add or replace the row for this category (None: the default) and priority; PolicyError for
    an unknown priority or category (`known`: the category slugs) or minutes out of range. Due times
    already given keep their values; tickets filed or re-prioritised from now on get the new ones."""
    if priority not in PRIORITIES:
        raise PolicyError(f"unknown priority {priority!r}")
    if category is not None and known is not None and category not in known:
        raise PolicyError(f"unknown category {category!r}")
    first = _minutes(first_response_minutes, "first response")
    resolution = _minutes(resolution_minutes, "resolution")
    if resolution < first:
        raise PolicyError("resolution time must not be shorter than the first response time")
    values = {"first_response_minutes": first, "resolution_minutes": resolution, "updated": now(), "updated_by": actor}
    with desk.write() as conn:
        # NULL never equals NULL in a unique constraint: the default rows are found and updated by hand.
        same = select(sla_policies.c.id).where(sla_policies.c.priority == priority)
        same = same.where(
            sla_policies.c.category.is_(None) if category is None else sla_policies.c.category == category
        )
        existing = conn.execute(same).scalar()
        if existing is not None:
            conn.execute(update(sla_policies).where(sla_policies.c.id == existing).values(**values))
        else:
            row = {"category": category, "priority": priority, **values}
            insert_or_update(conn, sla_policies, row, ("category", "priority"), values)


def delete_policy(desk: Desk, policy_id: int) -> bool:
    """Remove one row (its category and priority fall back to the default); True when it existed."""
    with desk.write() as conn:
        result = conn.execute(delete(sla_policies).where(sla_policies.c.id == policy_id).returning(sla_policies.c.id))
        return result.first() is not None


def policy_minutes(conn: Connection, category: str | None, priority: str) -> tuple[int, int]:
    """(first response, resolution) minutes for this category and priority: its own row, else the
    default row, else the built-in values."""
    rows = conn.execute(
        select(sla_policies.c.category, sla_policies.c.first_response_minutes, sla_policies.c.resolution_minutes).where(
            sla_policies.c.priority == priority,
            (sla_policies.c.category.is_(None)) | (sla_policies.c.category == category),
        )
    ).all()
    best = sorted(rows, key=lambda r: r.category is None)
    if best:
        return best[0].first_response_minutes, best[0].resolution_minutes
    return BUILT_IN_MINUTES.get(priority, BUILT_IN_MINUTES["normal"])


def due_times(conn: Connection, created: str, category: str | None, priority: str) -> dict:
    """The ticket columns `first_response_due` and `resolution_due` for a ticket filed at `created`."""
    hours = settings_for(conn).business_hours
    first, resolution = policy_minutes(conn, category, priority)
    start = _parse(created)
    return {
        "first_response_due": _stored(add_minutes(start, first, hours)),
        "resolution_due": _stored(add_minutes(start, resolution, hours)),
    }


def recompute(conn: Connection, ticket_id: int) -> None:
    """Inside a write transaction: give the ticket the due times its category and priority call for now."""
    row = conn.execute(
        select(tickets.c.created, tickets.c.category, tickets.c.priority).where(tickets.c.id == ticket_id)
    ).first()
    if row is not None:
        columns = due_times(conn, row.created, row.category, row.priority or "normal")
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**columns))


def mark_first_response(conn: Connection, ticket_id: int, stamp: str) -> None:
    """Inside the reply's write transaction: the ticket's first public agent reply is its first response."""
    conn.execute(
        update(tickets)
        .where(tickets.c.id == ticket_id, tickets.c.first_responded_at.is_(None))
        .values(first_responded_at=stamp)
    )


def overdue(ticket, at: str | None = None) -> str | None:
    """Which due time an unresolved ticket has passed ("first_response" while no agent replied
    publicly, else "resolution"), or None when it is on time, resolved or closed."""
    if ticket.status in DONE_STATUSES:
        return None
    at = at or now()
    if not ticket.first_responded_at and ticket.first_response_due and ticket.first_response_due < at:
        return "first_response"
    if ticket.resolution_due and ticket.resolution_due < at:
        return "resolution"
    return None
