"""The SQLite database: opening it (WAL), write transactions, the knowledge-base schema and a small
key-value meta table."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

SCHEMA_VERSION = 5
SCHEMA_KEY = "schema_version"  # the meta key holding the schema an index was last brought up to
# The meta key naming this build of the index: a new random stamp whenever its articles change, so
# what a process keeps of one build is never taken for another's (even a rebuilt file's).
BUILD_KEY = "kb_build"
# How long a writer waits for another one to finish before giving up with "database is locked".
BUSY_TIMEOUT_MS = 10_000


def open_db(path: Path | str, any_thread: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) the database at path, in WAL mode, with foreign keys on.

    With any_thread, the connection may be closed by another thread than the one that opened it (a
    pool closing its threads' connections); it must still be used by one thread at a time.
    """
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=not any_thread))
    if str(path) != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return db


@contextmanager
def write(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction, committed at the end of the block and rolled back on an exception.

    It starts with BEGIN IMMEDIATE, taking the write lock before anything is read: a deferred
    transaction that reads first (as the FTS5 triggers do) and then writes fails at once in WAL mode
    with SQLITE_BUSY when another connection committed meanwhile, whatever the busy timeout, while
    BEGIN IMMEDIATE waits up to the busy timeout for the lock. Inside an open transaction the block is
    a savepoint of it.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.rollback()
        raise
    try:
        db.commit()  # a no-op when code inside already committed (`with db.conn:`)
    except BaseException:
        db.rollback()
        raise


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the knowledge-base tables and search index if they do not exist yet."""
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["categories"].create(
        {"slug": str, "name": str, "definition": str, "signals": str, "codes": str, "position": int},
        pk="slug",
        if_not_exists=True,
    )
    db["articles"].create(
        {
            "slug": str,
            "title": str,
            "category": str,
            "audience": str,
            "tags": str,
            "codes": str,
            "related": str,
            "updated": str,
            "body": str,
            "content_hash": str,
        },
        pk="slug",
        foreign_keys=[("category", "categories", "slug")],
        if_not_exists=True,
    )
    codes = db["article_codes"]
    if "listed" not in codes.columns_dict:
        # Schema 1 had no code table, schemas 2 and 3 no `listed` count: rebuilt from the articles.
        codes.drop(ignore=True)
        _create_article_codes(db)
    db["response_codes"].create(
        {
            "code": str,
            "meaning": str,
            "terminal_display": str,
            "owner": str,
            "category": str,
            "article": str,
            "note": str,
        },
        pk="code",
        if_not_exists=True,
    )
    index = db["article_index"]
    if not index.exists():
        index.create(
            {
                "slug": str,
                "title_w": str,
                "tags_w": str,
                "body_w": str,
                "title_c": str,
                "tags_c": str,
                "body_c": str,
                "plain": str,
            },
            pk="slug",
        )
        index.enable_fts(
            ["title_w", "tags_w", "body_w", "title_c", "tags_c", "body_c"],
            fts_version="FTS5",
            create_triggers=True,
            tokenize="unicode61",
        )
    if int(get_meta(db, SCHEMA_KEY, "0")) < 3:
        # Schema 1 and 2 had a per-column vocabulary view; document frequencies need the per-row one.
        db.execute("DROP TABLE IF EXISTS article_index_vocab")
        db.execute("DROP TABLE IF EXISTS search_terms")
        db.execute("CREATE VIRTUAL TABLE article_index_vocab USING fts5vocab(article_index_fts, 'row')")
    if not db["search_terms"].exists():
        # Document frequency per indexed term; fts5vocab answers the same but scans per lookup.
        db["search_terms"].create({"term": str, "df": int}, pk="term")
        refresh_term_frequencies(db)
    if get_meta(db, BUILD_KEY) is None:
        stamp_build(db)
    set_meta(db, SCHEMA_KEY, str(SCHEMA_VERSION))


def stamp_build(db: sqlite_utils.Database) -> None:
    """Mark the index as a new build (call it whenever its articles change): see BUILD_KEY."""
    set_meta(db, BUILD_KEY, uuid.uuid4().hex)


def _create_article_codes(db: sqlite_utils.Database) -> None:
    """The code -> article table, filled from the stored articles' code lists.

    `listed` is how many codes the article lists: search lifts an article about a code above a
    table naming dozens, and the (code, listed, slug) index hands it the best few of thousands without
    reading the rest.
    """
    db["article_codes"].create({"code": str, "slug": str, "listed": int}, pk=("code", "slug"))
    db["article_codes"].create_index(["code", "listed", "slug"])
    db.execute(
        "INSERT OR IGNORE INTO article_codes (code, slug, listed) "
        "SELECT j.value, a.slug, json_array_length(a.codes) FROM articles a, json_each(a.codes) j"
    )


def refresh_term_frequencies(db: sqlite_utils.Database) -> None:
    """Recompute the search_terms table from the full-text index."""
    db.execute("DELETE FROM search_terms")
    db.execute("INSERT INTO search_terms (term, df) SELECT term, doc FROM article_index_vocab")


def get_meta(db: sqlite_utils.Database, key: str, default: str | None = None) -> str | None:
    """Read one value from the meta table."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else default


def set_meta(db: sqlite_utils.Database, key: str, value: str) -> None:
    """Write one value to the meta table."""
    db["meta"].upsert({"key": key, "value": value}, pk="key")
