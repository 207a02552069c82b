"""The desk database: one SQLAlchemy engine per process over SQLite (the embedded default, a file in
the instance folder) or PostgreSQL, read and write transactions, migrations, and shared settings.

    desk = Desk("postgresql://posdesk@db/posdesk")
    with desk.write() as conn:
        conn.execute(...)

Transactions nest: a `read()` or `write()` inside a `write()` on the same thread joins it, so that
helpers compose into one commit.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, create_engine, event, insert, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import IntegrityError

from webapp.desk.schema import desk_meta

# How long a SQLite writer waits for another one before "database is locked" (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest migration in MIGRATIONS (a test keeps the two equal): checking a database against it
# needs one SELECT, not Alembic's import and script scan at every process start.
HEAD = "0005"


def now() -> str:
    """The current time as the desk stores it: ISO 8601 UTC to the second ("2026-12-01T08:30:00Z")."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeskError(RuntimeError):
    """The desk database cannot be used: a bad URL, a server that refuses, a schema to upgrade."""


def default_url(instance: Path) -> str:
    """The embedded default: the SQLite file `posdesk.db` in the instance folder."""
    return f"sqlite:///{Path(instance).resolve() / 'posdesk.db'}"


def normalise_url(url: str) -> str:
    """The URL with its driver made explicit: `postgresql://` means psycopg (version 3), the one
    PostgreSQL driver posdesk installs. DeskError for a URL SQLAlchemy cannot read or a backend
    other than SQLite and PostgreSQL."""
    try:
        parsed = make_url(url)
    except Exception as e:  # sqlalchemy.exc.ArgumentError, ValueError
        raise DeskError(f"POSDESK_DATABASE_URL is not a database URL: {e}") from e
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername in ("postgresql", "postgresql+psycopg2", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise DeskError(f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://…")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        # pysqlite's own transaction handling would BEGIN late (deferred); ours begins below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if database and database != ":memory:":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # A writer takes the lock first: a deferred transaction that reads and then writes fails at
        # once with SQLITE_BUSY in WAL mode when another connection committed meanwhile.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("posdesk_read") else "BEGIN IMMEDIATE")

    return engine


class Desk:
    """A handle on the desk database, shared by the threads of one process.

    DeskError when the URL is unusable. A process that forks closes it first (`close()`): pooled
    connections never cross a fork.
    """

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.backend = make_url(self.url).get_backend_name()
        if self.backend == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        self._local = threading.local()

    @property
    def embedded(self) -> bool:
        """True on SQLite, the single-machine default."""
        return self.backend == "sqlite"

    @contextmanager
    def _transaction(self, read_only: bool) -> Iterator[Connection]:
        joined = getattr(self._local, "conn", None)
        if joined is not None:
            if not read_only and joined.get_execution_options().get("posdesk_read"):
                raise DeskError("a write inside a read transaction")
            yield joined
            return
        with self.engine.connect() as conn:
            if read_only:
                conn = conn.execution_options(posdesk_read=True)
            self._local.conn = conn
            try:
                with conn.begin():
                    yield conn
            finally:
                self._local.conn = None

    def read(self):
        """A read-only transaction (or the enclosing one), as a context manager yielding its
        Connection; nothing written in it is committed."""
        return self._transaction(read_only=True)

    def write(self):
        """One write transaction, as a context manager yielding its Connection: committed at the end
        of the block and rolled back on an exception (or the enclosing write transaction). DeskError
        inside a read()."""
        return self._transaction(read_only=False)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------------

    def _alembic_config(self, conn: Connection):
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        return config

    def revision(self) -> str | None:
        """The migration the database is at (None for an empty database or release 0.1's)."""
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def upgrade(self) -> tuple[str | None, str]:
        """Apply every migration not applied yet, in one transaction; return (from, to) revisions.

        A release-0.1 SQLite file (tables but no migration stamp) is taken as the baseline and
        upgraded in place, keeping its tickets, accounts and votes.
        """
        from alembic import command
        from sqlalchemy import inspect

        with self.engine.connect() as conn:
            if self.backend == "postgresql":  # nodes upgrading at once take turns (SQLite: one file lock)
                conn.execute(text("SELECT pg_advisory_lock(hashtext('posdesk.desk.upgrade'))"))
                conn.commit()
            try:
                before = self.revision()
                config = self._alembic_config(conn)
                if before is None and inspect(conn).has_table("tickets"):
                    command.stamp(config, "0001")
                    conn.commit()
                command.upgrade(config, "head")
                conn.commit()
            finally:
                if self.backend == "postgresql":
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(hashtext('posdesk.desk.upgrade'))"))
                    conn.commit()
        return before, HEAD

    def ensure_current(self) -> None:
        """Upgrade an embedded database automatically; DeskError when a shared one needs
        `posdesk db upgrade` (run once, by whoever deploys, never by every node at start)."""
        if self.revision() == HEAD:
            return
        if self.embedded:
            self.upgrade()
            return
        raise DeskError("the desk database needs its migrations: run `posdesk db upgrade`")

    # --- shared settings ----------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """One shared setting, or default."""
        with self.read() as conn:
            value = conn.execute(select(desk_meta.c.value).where(desk_meta.c.key == key)).scalar()
        return default if value is None else value

    def set_meta(self, key: str, value: str) -> None:
        """Write one shared setting."""
        with self.write() as conn:
            insert_or_update(conn, desk_meta, {"key": key, "value": value}, ("key",), {"value": value})

    def serialise(self, conn: Connection, name: str) -> None:
        """Inside a write transaction: wait until no other transaction holds the lock `name`, and hold
        it to the end of this one (PostgreSQL's transaction-level advisory lock; SQLite's write
        transactions are serial already)."""
        if self.backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})

    def meta_once(self, key: str, value: str) -> str:
        """The shared setting `key`, set to `value` first if no node set it yet (the first writer wins)."""
        existing = self.get_meta(key)
        if existing is not None:
            return existing
        try:
            with self.write() as conn:
                conn.execute(insert(desk_meta).values(key=key, value=value))
        except IntegrityError:
            pass  # another node set it meanwhile
        return self.get_meta(key)


def insert_or_update(conn: Connection, table, values: dict, keys: tuple[str, ...], changes: dict) -> None:
    """INSERT `values` into `table`, or, when a row with the same `keys` exists, UPDATE it with
    `changes` (column -> value or SQL expression; `excluded(table).c.x` is the value that was to be
    inserted). One atomic statement on both backends (ON CONFLICT ... DO UPDATE)."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table).values(**values)
    conn.execute(statement.on_conflict_do_update(index_elements=list(keys), set_=changes))


def insert_or_ignore(conn: Connection, table, values: dict, keys: tuple[str, ...]) -> bool:
    """INSERT `values` unless a row with the same `keys` exists; True when it was inserted."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    # RETURNING, not rowcount: psycopg's rowcount for this statement is not the rows inserted.
    return conn.execute(statement.returning(*(table.c[k] for k in keys))).first() is not None
