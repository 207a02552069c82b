"""Writes kept out of requests: article reads, API tokens' last use and site events (what merchants
search, are shown and open: webapp.desk.site_events) are noted in memory and written
in batches by the background worker (every TRIAGE_WORKER_SECONDS, or sooner once VIEW_FLUSH_COUNT
reads wait) and once more as the worker process exits, so that a page view never commits. A clean
shutdown loses nothing; a killed worker (kill -9) loses what it noted since its last batch: at most one
interval's reads and events, and tokens' last-use stamps that much older than the truth."""

from __future__ import annotations

import threading
from collections import Counter

from flask import Flask, current_app

from webapp.desk.accounts import record_token_uses
from webapp.desk.feedback import record_views
from webapp.desk.site_events import SiteEvent, record_events
from webapp.desk.storage import Desk

_EXTENSION = "posdesk.deferred"


class DeferredWrites:
    """Reads, token uses and site events noted in this process and not written yet."""

    def __init__(self, flush_count: int) -> None:
        self.flush_count = flush_count
        self.due = threading.Event()  # set when enough reads wait: the worker writes them at once
        self._views: Counter[str] = Counter()
        self._token_uses: dict[int, str] = {}
        self._events: list[SiteEvent] = []
        self._waiting = 0
        self._lock = threading.Lock()

    def count_view(self, slug: str) -> None:
        """Count one read of an article."""
        with self._lock:
            self._views[slug] += 1
            self._waiting += 1
            if self._waiting >= self.flush_count:
                self.due.set()

    def note_event(self, event: SiteEvent) -> None:
        """Note one site event, to be written with the next batch."""
        with self._lock:
            self._events.append(event)
            self._waiting += 1
            if self._waiting >= self.flush_count:
                self.due.set()

    def note_token_use(self, token_id: int, when: str) -> None:
        """Note that an API token was used at `when` (a UTC timestamp)."""
        with self._lock:
            self._token_uses[token_id] = max(when, self._token_uses.get(token_id, ""))

    def pending(self) -> tuple[dict[str, int], dict[int, str], list[SiteEvent]]:
        """What waits to be written: reads by slug, last use by token id, site events in order."""
        with self._lock:
            return dict(self._views), dict(self._token_uses), list(self._events)

    def flush(self, desk: Desk) -> int:
        """Write everything noted in one transaction; return how many reads; on failure it all waits
        for the next batch."""
        with self._lock:
            views, uses, events = self._views, self._token_uses, self._events
            self._views, self._token_uses, self._events, self._waiting = Counter(), {}, [], 0
        try:
            with desk.write():  # one commit for all three (each helper's own write() joins this one)
                record_views(desk, views)
                record_token_uses(desk, uses)
                record_events(desk, events)
        except BaseException:
            with self._lock:
                self._views.update(views)
                self._events[:0] = events
                self._waiting += sum(views.values()) + len(events)
                for token_id, when in uses.items():
                    self._token_uses[token_id] = max(when, self._token_uses.get(token_id, ""))
            raise
        return sum(views.values())


def deferred(app: Flask | None = None) -> DeferredWrites:
    """The app's deferred writes."""
    return (app or current_app).extensions[_EXTENSION]


def init_app(app: Flask) -> None:
    """Give the app its deferred writes."""
    app.extensions[_EXTENSION] = DeferredWrites(int(app.config["VIEW_FLUSH_COUNT"]))
