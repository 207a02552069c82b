"""Logging in to the desk: sessions kept on the server (the cookie names a row, so logging out ends
even a copied cookie) and failed logins backed off per account and address, so that guessing gets
slow while the real user, elsewhere, can still log in."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace

import sqlite_utils

from kb.db import write
from webapp.accounts import User, authenticate, get_user, hash_secret

BACKOFF_MAX_SECONDS = 15 * 60
# Failed logins to one account from all addresses in an hour past which addresses that never logged
# in to it successfully wait a minute per try; the account's known addresses never wait for others.
ACCOUNT_FAILURES_PER_HOUR = 50
UNKNOWN_ADDRESS_WAIT_SECONDS = 60


class LoginThrottled(Exception):
    """Too many failed logins to this account from this address: try again in `wait` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"too many failed logins: try again in {wait} seconds")
        self.wait = wait


def _now(offset_seconds: float = 0) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_since(stamp: str) -> float:
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the login_failures table if it does not exist yet (desk_sessions belongs to accounts)."""
    db["login_failures"].create(
        {"username": str, "address": str, "failures": int, "last_failed": str, "last_success": str},
        pk=("username", "address"),
        if_not_exists=True,
    )


def _login_key(username: str) -> str:
    return (username or "").strip().lower()[:64]


def login_wait(db: sqlite_utils.Database, username: str, address: str, free_failures: int) -> int:
    """Seconds before this address may try this account's password again (0: now).

    After `free_failures` failures from one address the wait doubles with each further one (up to 15
    minutes); other addresses are not slowed by them, so the real user is never locked out from
    elsewhere. Under a spread-out attack (many failures from many addresses) only addresses that never
    logged in to the account wait.
    """
    key = _login_key(username)
    row = db.execute(
        "SELECT failures, last_failed, last_success FROM login_failures WHERE username = ? AND address = ?",
        [key, address],
    ).fetchone()
    failures, last_failed, last_success = row or (0, None, None)
    wait = 0.0
    if failures >= free_failures and last_failed:
        backoff = min(2 ** (failures - free_failures), BACKOFF_MAX_SECONDS)
        wait = backoff - _seconds_since(last_failed)
    if not last_success:
        recent = db.execute(
            "SELECT coalesce(sum(failures), 0), max(last_failed) FROM login_failures "
            "WHERE username = ? AND last_failed > ?",
            [key, _now(-3600)],
        ).fetchone()
        if recent[0] >= ACCOUNT_FAILURES_PER_HOUR:
            wait = max(wait, UNKNOWN_ADDRESS_WAIT_SECONDS - _seconds_since(recent[1]))
    return max(0, int(wait + 0.999))


def log_in(db: sqlite_utils.Database, username: str, password: str, address: str, free_failures: int) -> User | None:
    """Check a login from an address: a new session's user, or None for a wrong name or password;
    LoginThrottled while this account and address must wait (see `login_wait`)."""
    wait = login_wait(db, username, address, free_failures)
    if wait:
        raise LoginThrottled(wait)
    user = authenticate(db, username, password)
    key, now = _login_key(username), _now()
    with write(db):
        if user is None:
            db.execute(
                """INSERT INTO login_failures (username, address, failures, last_failed) VALUES (?, ?, 1, ?)
                   ON CONFLICT (username, address)
                   DO UPDATE SET failures = failures + 1, last_failed = excluded.last_failed""",
                [key, address, now],
            )
            return None
        db.execute(
            """INSERT INTO login_failures (username, address, failures, last_success) VALUES (?, ?, 0, ?)
               ON CONFLICT (username, address) DO UPDATE SET failures = 0, last_success = excluded.last_success""",
            [key, address, now],
        )
        return start_session(db, user)


def start_session(db: sqlite_utils.Database, user: User) -> User:
    """Open a server-side session for the user; the returned User's `get_id()` is its secret."""
    secret = secrets.token_urlsafe(32)
    with write(db):
        db["desk_sessions"].insert({"session_hash": hash_secret(secret), "user_id": user.id, "created": _now()})
    return replace(user, session_id=secret)


def end_session(db: sqlite_utils.Database, session_id: str) -> None:
    """End one session (logging out): its cookie no longer logs anyone in, even a copy of it."""
    with write(db):
        db.execute("DELETE FROM desk_sessions WHERE session_hash = ?", [hash_secret(session_id or "")])


def load_session_user(db: sqlite_utils.Database, session_id: str, max_age_hours: float = 12) -> User | None:
    """Return the active user of a live session (from `User.get_id`), else None."""
    if not session_id:
        return None
    row = db.execute(
        "SELECT user_id, created FROM desk_sessions WHERE session_hash = ?", [hash_secret(session_id)]
    ).fetchone()
    if row is None or _seconds_since(row[1]) > max_age_hours * 3600:
        return None
    user = get_user(db, row[0])
    if user is None or not user.active:
        return None
    return replace(user, session_id=session_id)
