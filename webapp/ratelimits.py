"""Rate limits that hold across processes: a SQLite storage for the `limits` library (the default,
a file in the instance folder shared by every gunicorn worker), and who a limit counts.

`limits` stores counters in memory (one set per worker process, so four workers let four times the
limit through), Redis, Memcached or MongoDB; none of them keeps a counter in a file. Set
RATELIMIT_STORAGE_URI (or POSDESK_RATELIMIT_STORAGE_URI) to `redis://…` or `memcached://…` to use
those instead, with their client library installed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from pathlib import Path

from flask import request
from flask_limiter.util import get_remote_address
from limits.storage import Storage
from werkzeug.exceptions import HTTPException

from webapp.auth import request_token

SCHEME = "sqlite"
FILE_NAME = "ratelimits.db"
_PURGE_EVERY = 1000


def default_storage_uri(instance: Path) -> str:
    """The storage URI of the counters file in this instance folder."""
    return f"{SCHEME}:///{Path(instance).resolve() / FILE_NAME}"


class SQLiteStorage(Storage):
    """Fixed-window counters in a SQLite file, one atomic upsert per hit: every process and thread
    that opens the same file shares the counters (the `sqlite:///path` storage URI)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options) -> None:
        location = (uri or "").split("://", 1)[-1]
        # sqlite:////abs/path.db is absolute, sqlite:///relative.db relative to the working directory.
        self.path = location[1:] if location.startswith("/") else location
        if not self.path:
            raise ValueError(f"a {SCHEME} storage URI names a file: {SCHEME}:////path/to/{FILE_NAME}")
        self._local = threading.local()
        self._hits = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def storage(self) -> str:
        """Where the counters are (what Flask-Limiter's `limiter config` command shows)."""
        return self.path

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """What a failing storage raises (Flask-Limiter may swallow these when configured to)."""
        return sqlite3.Error

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")  # counters need not survive a power cut
            conn.execute(
                "CREATE TABLE IF NOT EXISTS counters "
                "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"
            )
            self._local.conn = conn
        return conn

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add amount to the key's counter, starting a new window of expiry seconds when the last one ended."""
        now = time.time()
        row = (
            self._conn()
            .execute(
                """INSERT INTO counters (key, count, expires) VALUES (:key, :amount, :now + :expiry)
                   ON CONFLICT (key) DO UPDATE SET
                       count = CASE WHEN expires <= :now THEN :amount ELSE count + :amount END,
                       expires = CASE WHEN expires <= :now THEN :now + :expiry ELSE expires END
                   RETURNING count""",
                {"key": key, "amount": amount, "now": now, "expiry": expiry},
            )
            .fetchone()
        )
        self._hits += 1
        if self._hits % _PURGE_EVERY == 0:
            self._conn().execute("DELETE FROM counters WHERE expires <= ?", [now])
        return row[0]

    def get(self, key: str) -> int:
        """The key's count in the current window (0 when it has ended)."""
        row = self._conn().execute("SELECT count FROM counters WHERE key = ? AND expires > ?", [key, time.time()])
        found = row.fetchone()
        return found[0] if found else 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (now when there is none)."""
        now = time.time()
        found = (
            self._conn().execute("SELECT expires FROM counters WHERE key = ? AND expires > ?", [key, now]).fetchone()
        )
        return found[0] if found else now

    def check(self) -> bool:
        """True when the file can be read."""
        try:
            self._conn().execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Forget every counter; return how many there were."""
        return self._conn().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        """Forget one key's counter."""
        self._conn().execute("DELETE FROM counters WHERE key = ?", [key])


def api_rate_key() -> str:
    """Who an API limit counts: the token when the request carries a valid one (an integration behind
    a shared address gets its own allowance), else the address."""
    try:
        token = request_token()
    except HTTPException:
        token = None  # an invalid token is refused by the view; its attempts count against the address
    if token is not None:
        return f"token:{token.id}"
    return f"address:{get_remote_address()}"


def vote_rate_key() -> str:
    """Who a per-article vote limit counts: the address, on this article."""
    slug = (request.view_args or {}).get("slug", "")
    return f"{get_remote_address()}:{hashlib.sha256(slug.encode()).hexdigest()[:16]}"
