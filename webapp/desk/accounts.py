"""Desk accounts and API tokens: agents, editors and admins with hashed passwords (a new password or a
disabled account ends the account's sessions, see `webapp.desk.sessions`), integration tokens stored
as hashes. Raw rows stay in here; callers get `User` and `ApiToken` values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache

from sqlalchemy import Connection, bindparam, delete, func, insert, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.desk.schema import api_tokens, desk_sessions, users
from webapp.desk.storage import Desk, insert_or_ignore

ROLES = ("agent", "editor", "admin")  # each can do all the one before it can, and more
PASSWORD_MIN_CHARS = 8
TOKEN_PREFIX = "pd_"
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,31}$")
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
TOKEN_USE_RESOLUTION_SECONDS = 60  # `last_used` is rewritten at most once a minute per token
# Werkzeug's method string for new password hashes: scrypt at its default cost (N=2**15, r=8, p=1,
# about 0.1 s and 32 MiB a hash, on purpose). A stored hash names its own method, so checking an
# older or cheaper hash still works. The test suite lowers the cost (tests/conftest.py).
PASSWORD_METHOD = "scrypt"


def _hash_password(password: str) -> str:
    """The stored form of a password (werkzeug's "method$salt$hash", with PASSWORD_METHOD)."""
    return generate_password_hash(password, method=PASSWORD_METHOD)


@cache
def _dummy_hash() -> str:
    """Checked when the user does not exist, so that a wrong name costs as long as a wrong password
    (made on first use: hashing costs a tenth of a second that commands without a login never need)."""
    return _hash_password("posdesk-dummy-password")


class AccountError(ValueError):
    """An account or token operation refused: `str(e)` in English (the CLI, logs), `message` in
    Chinese for the admin who asked on the web."""

    def __init__(self, text: str, message: str | None = None) -> None:
        super().__init__(text)
        self.message = message or text


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
    def can_edit_articles(self) -> bool:
        """True for editors and admins, who edit, publish and unpublish knowledge-base articles."""
        return self.role in ("editor", "admin")

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


def _user(row) -> User:
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
        raise AccountError(
            f"password must have at least {PASSWORD_MIN_CHARS} characters",
            f"密码至少需要 {PASSWORD_MIN_CHARS} 个字符。",
        )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}", "角色只能是客服、编辑或管理员。")


def _username(username: str) -> str:
    return (username or "").strip().lower()


def get_user(desk: Desk, user_id: int) -> User | None:
    """Return the user with this id, or None."""
    with desk.read() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).mappings().first()
    return _user(row) if row else None


def find_user(desk: Desk, username: str) -> User | None:
    """Return the user with this name, or None."""
    with desk.read() as conn:
        row = conn.execute(select(users).where(users.c.username == _username(username))).mappings().first()
    return _user(row) if row else None


def list_users(desk: Desk) -> list[User]:
    """Every account, admins first, then by name."""
    with desk.read() as conn:
        rows = conn.execute(select(users)).mappings().all()
    # Sorted here, not in SQL: a PostgreSQL collation may order '.', '_' and '-' in names differently.
    return sorted((_user(r) for r in rows), key=lambda u: (not u.is_admin, u.username))


def create_user(desk: Desk, username: str, password: str, role: str = "agent") -> User:
    """Create an account; AccountError for a taken or malformed name, a short password or a bad role."""
    username = _username(username)
    if not _USERNAME.match(username):
        raise AccountError(
            "username must be 2-32 characters: lower-case letters, digits, '.', '_' or '-'",
            "用户名须为 2-32 个字符，只能包含小写字母、数字、“.”、“_”或“-”，并以字母或数字开头。",
        )
    _check_role(role)
    _check_password(password)
    row = {
        "username": username,
        "password_hash": _hash_password(password),
        "role": role,
        "active": 1,
        "created": _now(),
    }
    with desk.write() as conn:
        # Not a check then an INSERT: on PostgreSQL a concurrent creator would make the INSERT fail
        # and abort the whole transaction; the unique index decides, atomically, on both backends.
        if not insert_or_ignore(conn, users, row, ("username",)):
            raise AccountError(f"user {username!r} already exists", f"用户名 {username} 已被占用。")
    return find_user(desk, username)


def _require_user(desk: Desk, username: str) -> User:
    user = find_user(desk, username)
    if user is None:
        raise AccountError(f"no user {username!r}", f"没有名为 {username} 的账号。")
    return user


def _count_active_admins(conn: Connection, lock: bool = False) -> int:
    query = select(users.c.id).where(users.c.role == "admin", users.c.active == 1)
    if lock:
        # In a write: lock the admins' rows (PostgreSQL; SQLite's writer holds the database already),
        # so that two admins demoted at once cannot both see the other still there.
        return len(conn.execute(query.with_for_update()).all())
    return conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()


def admin_exists(desk: Desk) -> bool:
    """True when at least one active admin account exists."""
    with desk.read() as conn:
        return _count_active_admins(conn) > 0


def set_password(desk: Desk, username: str, password: str) -> User:
    """Replace a user's password, ending every open session of theirs."""
    _check_password(password)
    password_hash = _hash_password(password)
    with desk.write() as conn:
        user = _require_user(desk, username)
        conn.execute(update(users).where(users.c.id == user.id).values(password_hash=password_hash))
        end_sessions(desk, user.id)
    return get_user(desk, user.id)


def set_role(desk: Desk, username: str, role: str) -> User:
    """Make a user an agent, an editor or an admin; the last active admin cannot be demoted."""
    _check_role(role)
    with desk.write() as conn:
        user = _require_user(desk, username)
        if user.is_admin and user.active and role != "admin" and _count_active_admins(conn, lock=True) == 1:
            raise AccountError("the last admin cannot be demoted", "不能取消最后一位管理员的管理员角色。")
        conn.execute(update(users).where(users.c.id == user.id).values(role=role))
    return get_user(desk, user.id)


def set_active(desk: Desk, username: str, active: bool) -> User:
    """Enable or disable an account (disabling ends its sessions); the last active admin stays enabled."""
    with desk.write() as conn:
        user = _require_user(desk, username)
        if user.is_admin and user.active and not active and _count_active_admins(conn, lock=True) == 1:
            raise AccountError("the last admin cannot be disabled", "不能停用最后一位管理员。")
        conn.execute(update(users).where(users.c.id == user.id).values(active=int(active)))
        if not active:
            end_sessions(desk, user.id)
    return get_user(desk, user.id)


def authenticate(desk: Desk, username: str, password: str) -> User | None:
    """Return the active user whose name and password match, else None."""
    user = find_user(desk, username)
    if user is None:
        check_password_hash(_dummy_hash(), password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user if user.active else None


def end_sessions(desk: Desk, user_id: int) -> None:
    """End every session of a user (a new password, a disabled account)."""
    with desk.write() as conn:
        conn.execute(delete(desk_sessions).where(desk_sessions.c.user_id == user_id))


def _token(row) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        prefix=row["prefix"],
        created=row["created"],
        created_by=row["created_by"],
        last_used=row["last_used"],
        revoked=row["revoked"],
    )


def _get_token(conn: Connection, token_id: int) -> ApiToken:
    return _token(conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().one())


def hash_secret(secret: str) -> str:
    """The stored form of a token's or a session's secret (256 random bits: a fast hash is enough,
    there is nothing to brute-force)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def list_tokens(desk: Desk) -> list[ApiToken]:
    """Every token, active ones first, newest first."""
    query = select(api_tokens).order_by(api_tokens.c.revoked.is_not(None), api_tokens.c.id.desc())
    with desk.read() as conn:
        return [_token(r) for r in conn.execute(query).mappings()]


def create_token(desk: Desk, name: str, created_by: str) -> tuple[ApiToken, str]:
    """Create a token for an integration; return it and the secret, which is shown this once."""
    name = (name or "").strip()
    if not _TOKEN_NAME.match(name):
        raise AccountError(
            "token name must be 1-40 characters: letters, digits, '.', '_' or '-'",
            "令牌名称须为 1-40 个字符，只能包含字母、数字、“.”、“_”或“-”，并以字母或数字开头。",
        )
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
    with desk.write() as conn:
        taken = select(api_tokens.c.id).where(api_tokens.c.name == name, api_tokens.c.revoked.is_(None))
        if conn.execute(taken).first() is not None:
            raise AccountError(
                f"an active token named {name!r} exists: revoke it first", f"已有名为 {name} 的有效令牌，请先吊销它。"
            )
        token_id = conn.execute(insert(api_tokens).values(**row)).inserted_primary_key[0]
        token = _get_token(conn, token_id)
    return token, secret


def _revoke(desk: Desk, column: str, value: object, missing: AccountError) -> ApiToken:
    with desk.write() as conn:
        query = select(api_tokens.c.id).where(api_tokens.c[column] == value, api_tokens.c.revoked.is_(None))
        token_id = conn.execute(query.limit(1).with_for_update()).scalar()
        if token_id is None:
            raise missing
        conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked=_now()))
        token = _get_token(conn, token_id)
    return token


def revoke_token(desk: Desk, name: str) -> ApiToken:
    """Revoke the active token with this name."""
    missing = AccountError(f"no active token named {name!r}", f"没有名为 {name} 的有效令牌。")
    return _revoke(desk, "name", (name or "").strip(), missing)


def revoke_token_by_id(desk: Desk, token_id: int) -> ApiToken:
    """Revoke a token by id (what the admin page posts)."""
    return _revoke(desk, "id", token_id, AccountError("no such active token", "没有这个有效令牌（可能已被吊销）。"))


def verify_token(desk: Desk, secret: str, note_use: Callable[[int, str], None] | None = None) -> ApiToken | None:
    """Return the active token whose secret this is (noting its use), else None. With note_use, the
    use is handed to it (to be written later, in a batch) instead of written here."""
    if not secret or not secret.startswith(TOKEN_PREFIX):
        return None
    query = select(api_tokens).where(api_tokens.c.token_hash == hash_secret(secret), api_tokens.c.revoked.is_(None))
    with desk.read() as conn:
        row = conn.execute(query).mappings().first()
    if row is None:
        return None
    token = _token(row)
    if token.last_used is None or _seconds_since(token.last_used) >= TOKEN_USE_RESOLUTION_SECONDS:
        # Not on every request: a write per API call would make every reader a writer.
        now = _now()
        if note_use is not None:
            note_use(token.id, now)
        else:
            record_token_uses(desk, {token.id: now})
        token = replace(token, last_used=now)
    return token


_STAMP_USE = (
    update(api_tokens)
    .where(
        api_tokens.c.id == bindparam("token_id"),
        or_(api_tokens.c.last_used.is_(None), api_tokens.c.last_used < bindparam("used_at")),
    )
    .values(last_used=bindparam("used_at"))
)


def record_token_uses(desk: Desk, uses: dict[int, str]) -> None:
    """Stamp tokens' last use ({token id: UTC timestamp}), never moving a stamp back in time."""
    if not uses:
        return
    with desk.write() as conn:
        conn.execute(_STAMP_USE, [{"token_id": token_id, "used_at": when} for token_id, when in uses.items()])
