"""The database connection each request uses (one per worker thread, reused across its requests), and
the schema of every table the app uses (created once per process on first use)."""

from __future__ import annotations

import os
import threading

import sqlite_utils
from flask import Flask, current_app, g, has_request_context

from kb import db as kb_db
from kb.db import open_db, write
from triage import tickets
from webapp import accounts, feedback, sessions

_SCHEMA_READY = "posdesk.schema_ready"
_POOL = "posdesk.connections"


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the knowledge-base, ticket, account and feedback tables that do not exist yet (in one
    write transaction, so that processes starting together create them once)."""
    with write(db):
        kb_db.ensure_schema(db)
        tickets.ensure_schema(db)
        accounts.ensure_schema(db)
        sessions.ensure_schema(db)
        feedback.ensure_schema(db)


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
    if pool is None or pool.path != current_app.config["DATABASE"]:
        pool = current_app.extensions[_POOL] = ConnectionPool(current_app.config["DATABASE"])
    return pool


def get_db() -> sqlite_utils.Database:
    """Return this request's (or CLI command's) database: a request borrows its thread's connection;
    a command or a background round opens its own, closed at the end of its app context."""
    if "db" not in g:
        # ":memory:" is a new empty database per connection: never shared between requests.
        pooled = has_request_context() and current_app.config["DATABASE"] != ":memory:"
        g.db = _pool().get() if pooled else open_db(current_app.config["DATABASE"])
        g.db_pooled = pooled
        if not current_app.extensions.get(_SCHEMA_READY):
            ensure_schema(g.db)
            current_app.extensions[_SCHEMA_READY] = True
    return g.db


def is_initialised(db: sqlite_utils.Database) -> bool:
    """True once `posdesk init` has loaded the knowledge base into this database."""
    return db["articles"].exists() and db["articles"].count > 0


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
    """Close every pooled connection of the app (as a worker exits, and before forking workers)."""
    pool = app.extensions.get(_POOL)
    if pool is not None:
        pool.close_all()


def init_app(app: Flask) -> None:
    """Wire the database into the app's lifecycle."""
    app.teardown_appcontext(close_db)
