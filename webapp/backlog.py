"""The embedded job runner: a background thread in each served process triages waiting tickets (new
ones as soon as a request wakes it, the backlog once a model exists; one process of the node at a
time, by a lock file in the instance folder), delivers the outbox (webhooks and emails, as soon as a
change wakes it and as retries come due; any process, each delivery claimed by one) and writes the
article reads, token uses and site events noted in memory (webapp.deferred), and once an hour prunes
the site events older than SITE_EVENTS_DAYS. With Redis (`webapp.jobs`) `posdesk
worker` processes triage and deliver instead and this thread only writes. A request never triages
or sends, and a page view never writes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask, current_app

from webapp import deferred as deferred_writes
from webapp.db import get_desk
from webapp.deferred import deferred
from webapp.desk.site_events import prune_events, retention_cutoff
from webapp.desk.tickets import Classifier, triage_pending
from webapp.model import current_triager

log = logging.getLogger(__name__)
LOCK_FILE = "triage-backlog.lock"
PRUNE_SECONDS = 3600  # how often a process deletes the site events past their retention
_EXTENSION = "posdesk.backlog"


@contextmanager
def backlog_lock(instance: Path, wait: bool) -> Iterator[bool]:
    """Hold the instance's backlog lock for the block; yields False (at once) when another process
    holds it and `wait` is false."""
    path = Path(instance) / LOCK_FILE
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def triage_backlog(triager: Classifier, wait: bool = False) -> int:
    """Triage the waiting tickets with this model unless another process is doing it; return how many."""
    with backlog_lock(Path(current_app.instance_path), wait) as locked:
        return triage_pending(get_desk(), triager) if locked else 0


class BacklogWorker:
    """A daemon thread that, every few seconds, triages the waiting tickets once a model exists and
    writes the counted article reads (sooner when many wait, and once more as it stops)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.interval = float(app.config["TRIAGE_WORKER_SECONDS"])
        self.triages = not app.config.get("REDIS_URL")  # with Redis, `posdesk worker` triages
        self._stop = threading.Event()
        self._wake = False  # a wake-up not taken by a round yet (read and reset under _wake_lock)
        self._wake_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._next_prune = 0.0

    def wake(self) -> None:
        """Triage and deliver now (a ticket was filed, an event written): the thread's next round starts at once."""
        with self._wake_lock:
            self._wake = True
        deferred(self.app).due.set()

    def _woken(self) -> bool:
        """Whether wake() was called since the last call (read and reset in one step, so that a
        wake-up arriving while a round runs starts the next round instead of being lost)."""
        with self._wake_lock:
            woken, self._wake = self._wake, False
        return woken

    def run_once(self) -> int:
        """One round: triage the backlog when a model is loaded; return how many tickets were triaged."""
        if not self.triages:
            return 0
        with self.app.app_context():
            triager = current_triager()
            count = triage_backlog(triager) if triager else 0
        if count:
            log.info("triaged %d waiting tickets with model %s", count, triager.version)
        return count

    def deliver(self) -> int:
        """One outbox round (webhooks, emails) unless `posdesk worker` does it; return how many were tried."""
        if not self.triages:
            return 0
        from webapp.jobs import run_deliveries

        return run_deliveries(self.app)

    def flush_writes(self) -> int:
        """Write the article reads and token uses noted in this process; return how many reads."""
        noted = deferred(self.app)
        if not any(noted.pending()):
            return 0
        with self.app.app_context():
            return noted.flush(get_desk())

    def prune(self) -> int:
        """Delete the site events older than SITE_EVENTS_DAYS days (their retention); return how many."""
        with self.app.app_context():
            days = int(self.app.config["SITE_EVENTS_DAYS"])
            count = prune_events(get_desk(), retention_cutoff(days))
        if count:
            log.info("pruned %d site events older than %d days", count, days)
        return count

    def _loop(self) -> None:
        views = deferred(self.app)
        next_triage = 0.0
        while not self._stop.is_set():
            if self._woken() or time.monotonic() >= next_triage:
                next_triage = time.monotonic() + self.interval
                try:
                    self.run_once()
                except Exception:  # a failing round (a locked database) must not end the thread
                    log.exception("triaging the backlog failed; trying again in %.0f s", self.interval)
                try:
                    self.deliver()
                except Exception:  # the outbox keeps its events for the next round
                    log.exception("delivering the outbox failed; trying again in %.0f s", self.interval)
            try:
                self.flush_writes()
            except Exception:  # the reads stay counted and are written with the next batch
                log.exception("writing view counts and token uses failed; trying again in %.0f s", self.interval)
            if time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_SECONDS
                try:
                    self.prune()
                except Exception:  # old events wait for the next hour's round
                    log.exception("pruning old site events failed; trying again in %d s", PRUNE_SECONDS)
            # Only this loop clears the event, right after waking: a wake() during the round above
            # left it set, so the next round starts at once.
            views.due.wait(max(0.0, next_triage - time.monotonic()))
            views.due.clear()

    def ensure_started(self) -> None:
        """Start the thread in this process if it is not running (a fork leaves threads behind)."""
        if self._pid == os.getpid() and self._thread and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="posdesk-backlog", daemon=True)
            self._pid = os.getpid()
            self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Ask the thread to stop, wait for its current round to end, then write the reads still counted."""
        self._stop.set()
        deferred(self.app).due.set()  # wake the thread from its wait
        if self._thread:
            self._thread.join(timeout)
        try:
            self.flush_writes()
        except Exception:
            log.exception("writing view counts and token uses at exit failed: %s", deferred(self.app).pending())


def worker(app: Flask) -> BacklogWorker:
    """The app's backlog worker."""
    return app.extensions[_EXTENSION]


def init_app(app: Flask) -> None:
    """Give the app its backlog worker, started with the first request when TRIAGE_WORKER is on
    (`posdesk serve` starts it as each worker process boots)."""
    deferred_writes.init_app(app)
    backlog = BacklogWorker(app)
    app.extensions[_EXTENSION] = backlog
    if app.config["TRIAGE_WORKER"]:
        app.before_request(backlog.ensure_started)
