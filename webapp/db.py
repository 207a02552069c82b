"""The two stores a request uses: the desk (shared state: `get_desk()`, a `webapp.desk.storage.Desk`)
and this node's knowledge index (derived, local: `get_kb()`, one SQLite connection per worker
thread, reused across its requests, brought up to the desk's knowledge generation on first use and
then every KNOWLEDGE_CHECK_SECONDS)."""

from __future__ import annotations

import os
import threading
import time

import sqlite_utils
from flask import Flask, current_app, g, has_request_context

from kb.db import open_db
from webapp import knowledge
from webapp.desk.storage import Desk

_CHECKED = "posdesk.knowledge_checked"  # when this process last compared its index with the desk
_POOL = "posdesk.connections"
_DESK = "posdesk.desk"


def get_desk(app: Flask | None = None) -> Desk:
    """The app's desk database (one engine per process, made on first use; its schema is upgraded
    then on the embedded default, and must be current on a shared one)."""
    app = app or current_app
    desk = app.extensions.get(_DESK)
    if desk is None:
        with _DESK_LOCK:
            desk = app.extensions.get(_DESK)
            if desk is None:
                desk = Desk(app.config["DATABASE_URL"])
                desk.ensure_current()
                from webapp import mail

                mail.attach(app, desk)  # its events queue the merchant's emails when SMTP is set up
                from webapp.desk import sla

                sla.set_settings(desk, sla.settings_from(app.config))  # priority threshold, business hours
                app.extensions[_DESK] = desk
    return desk


_DESK_LOCK = threading.Lock()


class ConnectionPool:
    """One open connection per thread that serves requests: opening SQLite and setting its PRAGMAs
    costs about a millisecond, as much as a whole cached page. Every connection is closed by `close_all`
    (as a worker exits, before `posdesk serve` forks)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self) -> sqlite_utils.Database:
        """This thread's connection, opened on first use."""
        if self._pid != os.getpid():  # a forked child never uses its parent's connections
            self._local, self._all, self._pid = threading.local(), [], os.getpid()
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = open_db(self.path, any_thread=True)
            with self._lock:
                self._all.append(db)
        return db

    def release(self, db: sqlite_utils.Database) -> None:
        """Hand a connection back after a request: nothing of the request may stay open on it."""
        if db.conn.in_transaction:  # a request that failed inside a write (or left one open)
            db.conn.rollback()

    def close_all(self) -> None:
        """Close every connection the pool opened (in this process)."""
        with self._lock:
            opened, self._all = self._all, []
        if self._pid == os.getpid():
            for db in opened:
                db.close()
        self._local = threading.local()


def _pool() -> ConnectionPool:
    pool = current_app.extensions.get(_POOL)
    if pool is None or pool.path != current_app.config["KNOWLEDGE_DB"]:
        pool = current_app.extensions[_POOL] = ConnectionPool(current_app.config["KNOWLEDGE_DB"])
    return pool


def get_kb() -> sqlite_utils.Database:
    """Return this request's (or CLI command's) knowledge index: a request borrows its thread's
    connection; a command or a background round opens its own, closed at the end of its app context."""
    if "db" not in g:
        pooled = has_request_context()
        g.db = _pool().get() if pooled else open_db(current_app.config["KNOWLEDGE_DB"])
        g.db_pooled = pooled
        checked = current_app.extensions.get(_CHECKED)
        if checked is None or time.monotonic() - checked >= float(current_app.config["KNOWLEDGE_CHECK_SECONDS"]):
            knowledge.refresh(g.db, get_desk())
            current_app.extensions[_CHECKED] = time.monotonic()
    return g.db


def recheck_knowledge(app: Flask | None = None) -> None:
    """Have this process compare its index with the desk at its next `get_kb()` (after a change to the
    knowledge sources made here, so that the editor's next page shows it at once)."""
    (app or current_app).extensions.pop(_CHECKED, None)


def close_db(exc: BaseException | None = None) -> None:
    """Give back (a request's) or close (a command's) database, if one was used."""
    db = g.pop("db", None)
    if db is None:
        return
    if g.pop("db_pooled", False):
        _pool().release(db)
    else:
        db.close()


def close_all(app: Flask) -> None:
    """Close every pooled connection of the app, knowledge and desk (as a worker exits, and before
    forking workers)."""
    pool = app.extensions.get(_POOL)
    if pool is not None:
        pool.close_all()
    desk = app.extensions.get(_DESK)
    if desk is not None:
        desk.close()


def init_app(app: Flask) -> None:
    """Wire the database into the app's lifecycle."""
    app.teardown_appcontext(close_db)
