"""Logging in to the desk: sessions kept on the server (the cookie names a row, so logging out ends
even a copied cookie) and failed logins backed off per account and address, so that guessing gets
slow while the real user, elsewhere, can still log in."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace

from sqlalchemy import delete, func, insert, select

from webapp.desk.accounts import User, authenticate, get_user, hash_secret
from webapp.desk.schema import desk_sessions, login_failures
from webapp.desk.storage import Desk, insert_or_update

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


def _login_key(username: str) -> str:
    return (username or "").strip().lower()[:64]


def login_wait(desk: Desk, username: str, address: str, free_failures: int) -> int:
    """Seconds before this address may try this account's password again (0: now).

    After `free_failures` failures from one address the wait doubles with each further one (up to 15
    minutes); other addresses are not slowed by them, so the real user is never locked out from
    elsewhere. Under a spread-out attack (many failures from many addresses) only addresses that never
    logged in to the account wait.
    """
    key = _login_key(username)
    mine = select(login_failures.c.failures, login_failures.c.last_failed, login_failures.c.last_success).where(
        login_failures.c.username == key, login_failures.c.address == address
    )
    recent = select(
        func.coalesce(func.sum(login_failures.c.failures), 0), func.max(login_failures.c.last_failed)
    ).where(login_failures.c.username == key, login_failures.c.last_failed > _now(-3600))
    with desk.read() as conn:
        row = conn.execute(mine).first()
        failures, last_failed, last_success = row or (0, None, None)
        wait = 0.0
        if (failures or 0) >= free_failures and last_failed:
            backoff = min(2 ** (failures - free_failures), BACKOFF_MAX_SECONDS)
            wait = backoff - _seconds_since(last_failed)
        if not last_success:
            total, latest = conn.execute(recent).one()
            # sum() of integers is a Decimal on PostgreSQL: int() for the comparison and the message.
            if int(total) >= ACCOUNT_FAILURES_PER_HOUR:
                wait = max(wait, UNKNOWN_ADDRESS_WAIT_SECONDS - _seconds_since(latest))
    return max(0, int(wait + 0.999))


def log_in(desk: Desk, username: str, password: str, address: str, free_failures: int) -> User | None:
    """Check a login from an address: a new session's user, or None for a wrong name or password;
    LoginThrottled while this account and address must wait (see `login_wait`)."""
    wait = login_wait(desk, username, address, free_failures)
    if wait:
        raise LoginThrottled(wait)
    user = authenticate(desk, username, password)
    key, now = _login_key(username), _now()
    with desk.write() as conn:
        if user is None:
            insert_or_update(
                conn,
                login_failures,
                {"username": key, "address": address, "failures": 1, "last_failed": now},
                ("username", "address"),
                {"failures": login_failures.c.failures + 1, "last_failed": now},
            )
            return None
        insert_or_update(
            conn,
            login_failures,
            {"username": key, "address": address, "failures": 0, "last_success": now},
            ("username", "address"),
            {"failures": 0, "last_success": now},
        )
        return start_session(desk, user)


def start_session(desk: Desk, user: User) -> User:
    """Open a server-side session for the user; the returned User's `get_id()` is its secret."""
    secret = secrets.token_urlsafe(32)
    with desk.write() as conn:
        conn.execute(insert(desk_sessions).values(session_hash=hash_secret(secret), user_id=user.id, created=_now()))
    return replace(user, session_id=secret)


def end_session(desk: Desk, session_id: str) -> None:
    """End one session (logging out): its cookie no longer logs anyone in, even a copy of it."""
    with desk.write() as conn:
        conn.execute(delete(desk_sessions).where(desk_sessions.c.session_hash == hash_secret(session_id or "")))


def load_session_user(desk: Desk, session_id: str, max_age_hours: float = 12) -> User | None:
    """Return the active user of a live session (from `User.get_id`), else None."""
    if not session_id:
        return None
    query = select(desk_sessions.c.user_id, desk_sessions.c.created).where(
        desk_sessions.c.session_hash == hash_secret(session_id)
    )
    with desk.read() as conn:
        row = conn.execute(query).first()
        if row is None or _seconds_since(row.created) > max_age_hours * 3600:
            return None
        user = get_user(desk, row.user_id)
    if user is None or not user.active:
        return None
    return replace(user, session_id=session_id)
