"""What merchants do on the FAQ site, written for the deflection funnel and the content-gap reports:
suggestions shown while typing a ticket, searches submitted, articles opened and tickets filed (the
`site_events` table). This module owns the writing side: the batches that `webapp.deferred` noted in
memory, with their query text redacted, and the pruning of rows past the retention period.

One row per event, by `kind`:
- "suggest": live suggestions answered; `query` as typed, `results` = how many articles were shown;
- "search": a submitted search (search page, the no-script deflection step); `query`, `results`;
- "article": an article page opened; `slug`, and `query` when a search result or suggestion led there;
- "ticket": a ticket filed through the web form; `ticket_id`.
`visitor` is the page's random visitor id (None without one, or when the browser asks not to be tracked);
`at` is ISO 8601 UTC ("2026-12-01T08:30:00Z").
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from sqlalchemy import delete, insert

from triage.redact import mask_personal
from webapp.desk.schema import site_events
from webapp.desk.storage import Desk

KINDS = ("suggest", "search", "article", "ticket")
QUERY_MAX_CHARS = 200
# A visitor id: url-safe base64, at least 16 characters (96 bits); the page script makes 22 (128 bits).
VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
DEFAULT_RETENTION_DAYS = 180


@dataclass(frozen=True)
class SiteEvent:
    """One thing a merchant did on the site (fields as in the table; unused ones None)."""

    kind: str
    at: str
    visitor: str | None = None
    query: str | None = None
    results: int | None = None
    slug: str | None = None
    ticket_id: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown site event kind {self.kind!r}: one of {', '.join(KINDS)}")
        if self.visitor is not None and not VISITOR_ID.fullmatch(self.visitor):
            raise ValueError("a visitor id is 16-64 url-safe characters")


def redact_query(text: str | None) -> str | None:
    """A query as it is stored: phone, card and ID numbers masked, at most QUERY_MAX_CHARS characters
    (masked whole before it is cut, so that no cut number escapes the mask); None for no text."""
    if text is None:
        return None
    text = mask_personal(text.strip())[:QUERY_MAX_CHARS].strip()
    return text or None


def record_events(desk: Desk, events: Iterable[SiteEvent]) -> int:
    """Write events (their queries redacted here) in the caller's transaction or one of their own;
    return how many."""
    rows = [{**asdict(e), "query": redact_query(e.query)} for e in events]
    if rows:
        with desk.write() as conn:
            conn.execute(insert(site_events), rows)
    return len(rows)


def retention_cutoff(days: int, at: dt.datetime | None = None) -> str:
    """The stored time before which events are older than `days` days (counted from `at`, default now)."""
    moment = (at or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def prune_events(desk: Desk, older_than: str) -> int:
    """Delete the events recorded before `older_than` (a stored UTC time); return how many."""
    with desk.write() as conn:
        return conn.execute(delete(site_events).where(site_events.c.at < older_than)).rowcount
