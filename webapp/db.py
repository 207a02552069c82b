"""The request-scoped database connection, cached on `g` and closed on teardown, and the schema of
every table the app uses (created once per process on first use)."""

from __future__ import annotations

import sqlite_utils
from flask import Flask, current_app, g

from kb import db as kb_db
from kb.db import open_db, write
from triage import tickets
from webapp import accounts, feedback, sessions

_SCHEMA_READY = "posdesk.schema_ready"


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the knowledge-base, ticket, account and feedback tables that do not exist yet (in one
    write transaction, so that processes starting together create them once)."""
    with write(db):
        kb_db.ensure_schema(db)
        tickets.ensure_schema(db)
        accounts.ensure_schema(db)
        sessions.ensure_schema(db)
        feedback.ensure_schema(db)


def get_db() -> sqlite_utils.Database:
    """Return this request's (or CLI command's) database, opening it on first use."""
    if "db" not in g:
        g.db = open_db(current_app.config["DATABASE"])
        if not current_app.extensions.get(_SCHEMA_READY):
            ensure_schema(g.db)
            current_app.extensions[_SCHEMA_READY] = True
    return g.db


def is_initialised(db: sqlite_utils.Database) -> bool:
    """True once `posdesk init` has loaded the knowledge base into this database."""
    return db["articles"].exists() and db["articles"].count > 0


def close_db(exc: BaseException | None = None) -> None:
    """Close the database opened for this request, if any."""
    db = g.pop("db", None)
    if db is not None:
        db.close()


def init_app(app: Flask) -> None:
    """Wire the database into the app's lifecycle."""
    app.teardown_appcontext(close_db)
