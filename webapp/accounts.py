"""Desk accounts and API tokens: agents and admins with hashed passwords (a new password or a
disabled account ends the account's sessions, see `webapp.sessions`), integration tokens stored as
hashes. Raw rows stay in here; callers get `User` and `ApiToken` values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

import sqlite_utils
from werkzeug.security import check_password_hash, generate_password_hash

from kb.db import write

ROLES = ("agent", "admin")
PASSWORD_MIN_CHARS = 8
TOKEN_PREFIX = "pd_"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
TOKEN_USE_RESOLUTION_SECONDS = 60  # `last_used` is rewritten at most once a minute per token


@cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so that a wrong name costs as long as a wrong password
    (made on first use: hashing costs a tenth of a second that commands without a login never need)."""
    return generate_password_hash("posdesk-dummy-password")


class AccountError(ValueError):
    """An account or token operation refused, with a message fit for the admin who asked."""


@dataclass(frozen=True)
class User:
    """A desk account; also what flask-login holds as `current_user`."""

    id: int
    username: str
    role: str
    active: bool
    created: str
    password_hash: str = field(repr=False)
    session_id: str = field(default="", repr=False)

    @property
    def is_admin(self) -> bool:
        """True for admins, who manage agents and API tokens."""
        return self.role == "admin"

    @property
    def is_authenticated(self) -> bool:
        """flask-login: a loaded user is an authenticated one."""
        return True

    @property
    def is_active(self) -> bool:
        """flask-login: disabled accounts cannot log in."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """flask-login: never anonymous."""
        return False

    def get_id(self) -> str:
        """flask-login: the id kept in the session cookie, the secret of a server-side session row."""
        return self.session_id


@dataclass(frozen=True)
class ApiToken:
    """An integration's API token (the secret itself is never stored)."""

    id: int
    name: str
    prefix: str
    created: str
    created_by: str
    last_used: str | None
    revoked: str | None

    @property
    def active(self) -> bool:
        """True until the token is revoked."""
        return self.revoked is None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds_since(stamp: str) -> float:
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()


def ensure_schema(db: sqlite_utils.Database) -> None:
    """Create the users and api_tokens tables if they do not exist yet."""
    db["users"].create(
        {"id": int, "username": str, "password_hash": str, "role": str, "active": int, "created": str},
        pk="id",
        if_not_exists=True,
    )
    db["users"].create_index(["username"], unique=True, if_not_exists=True)
    db["api_tokens"].create(
        {
            "id": int,
            "name": str,
            "token_hash": str,
            "prefix": str,
            "created": str,
            "created_by": str,
            "last_used": str,
            "revoked": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["api_tokens"].create_index(["token_hash"], unique=True, if_not_exists=True)
    db["desk_sessions"].create(
        {"session_hash": str, "user_id": int, "created": str},
        pk="session_hash",
        foreign_keys=[("user_id", "users", "id")],
        if_not_exists=True,
    )
    db["desk_sessions"].create_index(["user_id"], if_not_exists=True)


def _user(row: dict) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        active=bool(row["active"]),
        created=row["created"],
        password_hash=row["password_hash"],
    )


def _check_password(password: str) -> None:
    if len(password or "") < PASSWORD_MIN_CHARS:
        raise AccountError(f"password must have at least {PASSWORD_MIN_CHARS} characters")


def get_user(db: sqlite_utils.Database, user_id: int) -> User | None:
    """Return the user with this id, or None."""
    rows = list(db.query("SELECT * FROM users WHERE id = ?", [user_id]))
    return _user(rows[0]) if rows else None


def find_user(db: sqlite_utils.Database, username: str) -> User | None:
    """Return the user with this name, or None."""
    rows = list(db.query("SELECT * FROM users WHERE username = ?", [(username or "").strip().lower()]))
    return _user(rows[0]) if rows else None


def list_users(db: sqlite_utils.Database) -> list[User]:
    """Every account, admins first, then by name."""
    return [_user(r) for r in db.query("SELECT * FROM users ORDER BY role = 'admin' DESC, username")]


def create_user(db: sqlite_utils.Database, username: str, password: str, role: str = "agent") -> User:
    """Create an account; AccountError for a taken or malformed name, a short password or a bad role."""
    username = (username or "").strip().lower()
    if not _USERNAME.match(username):
        raise AccountError("username must be 2-32 characters: lower-case letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    _check_password(password)
    row = {
        "username": username,
        "password_hash": generate_password_hash(password),
        "role": role,
        "active": 1,
        "created": _now(),
    }
    with write(db):
        if find_user(db, username):
            raise AccountError(f"user {username!r} already exists")
        user_id = db["users"].insert(row).last_pk
    return get_user(db, user_id)


def _require_user(db: sqlite_utils.Database, username: str) -> User:
    user = find_user(db, username)
    if user is None:
        raise AccountError(f"no user {username!r}")
    return user


def _count_active_admins(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active = 1").fetchone()[0]


def admin_exists(db: sqlite_utils.Database) -> bool:
    """True when at least one active admin account exists."""
    return _count_active_admins(db) > 0


def set_password(db: sqlite_utils.Database, username: str, password: str) -> User:
    """Replace a user's password, ending every open session of theirs."""
    _check_password(password)
    password_hash = generate_password_hash(password)
    with write(db):
        user = _require_user(db, username)
        db["users"].update(user.id, {"password_hash": password_hash})
        end_sessions(db, user.id)
    return get_user(db, user.id)


def set_role(db: sqlite_utils.Database, username: str, role: str) -> User:
    """Make a user an agent or an admin; the last active admin cannot be demoted."""
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    with write(db):
        user = _require_user(db, username)
        if user.is_admin and user.active and role != "admin" and _count_active_admins(db) == 1:
            raise AccountError("the last admin cannot be demoted")
        db["users"].update(user.id, {"role": role})
    return get_user(db, user.id)


def set_active(db: sqlite_utils.Database, username: str, active: bool) -> User:
    """Enable or disable an account (disabling ends its sessions); the last active admin stays enabled."""
    with write(db):
        user = _require_user(db, username)
        if user.is_admin and user.active and not active and _count_active_admins(db) == 1:
            raise AccountError("the last admin cannot be disabled")
        db["users"].update(user.id, {"active": int(active)})
        if not active:
            end_sessions(db, user.id)
    return get_user(db, user.id)


def authenticate(db: sqlite_utils.Database, username: str, password: str) -> User | None:
    """Return the active user whose name and password match, else None."""
    user = find_user(db, username)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user if user.active else None


def end_sessions(db: sqlite_utils.Database, user_id: int) -> None:
    """End every session of a user (a new password, a disabled account)."""
    with write(db):
        db.execute("DELETE FROM desk_sessions WHERE user_id = ?", [user_id])


def _token(row: dict) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created=row["created"],
        created_by=row["created_by"],
        last_used=row["last_used"],
        revoked=row["revoked"],
    )


def hash_secret(secret: str) -> str:
    """The stored form of a token's or a session's secret (256 random bits: a fast hash is enough,
    there is nothing to brute-force)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def list_tokens(db: sqlite_utils.Database) -> list[ApiToken]:
    """Every token, active ones first, newest first."""
    return [_token(r) for r in db.query("SELECT * FROM api_tokens ORDER BY revoked IS NOT NULL, id DESC")]


def create_token(db: sqlite_utils.Database, name: str, created_by: str) -> tuple[ApiToken, str]:
    """Create a token for an integration; return it and the secret, which is shown this once."""
    name = (name or "").strip()
    if not _TOKEN_NAME.match(name):
        raise AccountError("token name must be 1-40 characters: letters, digits, '.', '_' or '-'")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = {
        "name": name,
        "token_hash": hash_secret(secret),
        "prefix": secret[:8],
        "created": _now(),
        "created_by": created_by,
        "last_used": None,
        "revoked": None,
    }
    with write(db):
        if db.execute("SELECT 1 FROM api_tokens WHERE name = ? AND revoked IS NULL", [name]).fetchone():
            raise AccountError(f"an active token named {name!r} exists: revoke it first")
        token_id = db["api_tokens"].insert(row).last_pk
    return _token(db["api_tokens"].get(token_id)), secret


def _revoke(db: sqlite_utils.Database, column: str, value: object, missing: str) -> ApiToken:
    with write(db):
        rows = list(db.query(f"SELECT id FROM api_tokens WHERE {column} = ? AND revoked IS NULL", [value]))
        if not rows:
            raise AccountError(missing)
        db["api_tokens"].update(rows[0]["id"], {"revoked": _now()})
    return _token(db["api_tokens"].get(rows[0]["id"]))


def revoke_token(db: sqlite_utils.Database, name: str) -> ApiToken:
    """Revoke the active token with this name."""
    return _revoke(db, "name", (name or "").strip(), f"no active token named {name!r}")


def revoke_token_by_id(db: sqlite_utils.Database, token_id: int) -> ApiToken:
    """Revoke a token by id (what the admin page posts)."""
    return _revoke(db, "id", token_id, "no such active token")


def verify_token(
    db: sqlite_utils.Database, secret: str, note_use: Callable[[int, str], None] | None = None
) -> ApiToken | None:
    """Return the active token whose secret this is (noting its use), else None. With note_use, the
    use is handed to it (to be written later, in a batch) instead of written here."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    rows = list(db.query("SELECT * FROM api_tokens WHERE token_hash = ? AND revoked IS NULL", [hash_secret(secret)]))
    if not rows:
        return None
    token = _token(rows[0])
    if token.last_used is None or _seconds_since(token.last_used) >= TOKEN_USE_RESOLUTION_SECONDS:
        # Not on every request: a write per API call would make every reader a writer.
        now = _now()
        if note_use is not None:
            note_use(token.id, now)
        else:
            record_token_uses(db, {token.id: now})
        token = replace(token, last_used=now)
    return token


def record_token_uses(db: sqlite_utils.Database, uses: dict[int, str]) -> None:
    """Stamp tokens' last use ({token id: UTC timestamp}), never moving a stamp back in time."""
    if not uses:
        return
    with write(db):
        db.conn.executemany(
            "UPDATE api_tokens SET last_used = ? WHERE id = ? AND (last_used IS NULL OR last_used < ?)",
            [(when, token_id, when) for token_id, when in uses.items()],
        )
