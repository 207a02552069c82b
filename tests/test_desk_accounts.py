"""Accounts, API tokens and logins in the desk, on the backend under test: names are one account
whatever their case, the last admin stays, tokens are stored hashed and stamped without going back in
time, sessions end with a new password or a disabled account, failed logins back off."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from webapp.desk import accounts, sessions
from webapp.desk.accounts import AccountError
from webapp.desk.schema import api_tokens, login_failures


def test_accounts_are_created_once_per_name_whatever_its_case(desk):
    user = accounts.create_user(desk, " Lina ", "password-1")
    assert (user.username, user.role, user.active, user.is_admin) == ("lina", "agent", True, False)
    assert accounts.get_user(desk, user.id) == user == accounts.find_user(desk, "LINA")
    with pytest.raises(AccountError, match="user 'lina' already exists"):
        accounts.create_user(desk, "lina", "password-2")
    with desk.write():  # a refusal inside a larger write leaves that transaction usable (PostgreSQL)
        with pytest.raises(AccountError):
            accounts.create_user(desk, "LINA", "password-2")
        accounts.create_user(desk, "wang", "password-2", "admin")
    assert [u.username for u in accounts.list_users(desk)] == ["wang", "lina"]
    assert accounts.find_user(desk, "nobody") is None and accounts.get_user(desk, 999) is None


@pytest.mark.parametrize(
    "username, password, role, message",
    [
        ("x", "password-1", "agent", "username must be 2-32 characters"),
        ("bad name", "password-1", "agent", "username must be"),
        ("lina", "short", "agent", "at least 8 characters"),
        ("lina", "password-1", "boss", "role must be one of agent, editor, admin"),
    ],
)
def test_malformed_accounts_are_refused(desk, username, password, role, message):
    with pytest.raises(AccountError, match=message):
        accounts.create_user(desk, username, password, role)
    assert accounts.list_users(desk) == []


def test_the_last_admin_cannot_be_demoted_or_disabled(desk):
    assert not accounts.admin_exists(desk)
    accounts.create_user(desk, "boss", "password-1", "admin")
    assert accounts.admin_exists(desk)
    with pytest.raises(AccountError, match="the last admin cannot be demoted"):
        accounts.set_role(desk, "boss", "agent")
    with pytest.raises(AccountError, match="the last admin cannot be disabled"):
        accounts.set_active(desk, "boss", False)
    accounts.create_user(desk, "wang", "password-1", "admin")
    assert accounts.set_role(desk, "boss", "agent").role == "agent"
    with pytest.raises(AccountError, match="no user 'ghost'"):
        accounts.set_active(desk, "ghost", False)
    with pytest.raises(AccountError, match="role must be"):
        accounts.set_role(desk, "wang", "root")


def test_authentication_and_sessions(desk):
    user = accounts.create_user(desk, "lina", "password-1")
    assert accounts.authenticate(desk, "Lina", "password-1") == user
    assert accounts.authenticate(desk, "lina", "wrong-pass") is None
    assert accounts.authenticate(desk, "nobody", "password-1") is None
    first, second = sessions.start_session(desk, user), sessions.start_session(desk, user)
    assert first.get_id() != second.get_id()
    assert sessions.load_session_user(desk, first.get_id()) == first
    assert sessions.load_session_user(desk, first.get_id(), max_age_hours=-1) is None
    assert sessions.load_session_user(desk, "") is None and sessions.load_session_user(desk, "forged") is None
    sessions.end_session(desk, first.get_id())
    assert sessions.load_session_user(desk, first.get_id()) is None
    assert sessions.load_session_user(desk, second.get_id()) == second
    accounts.set_password(desk, "lina", "password-2")  # ends every session
    assert sessions.load_session_user(desk, second.get_id()) is None
    third = sessions.start_session(desk, accounts.find_user(desk, "lina"))
    accounts.set_active(desk, "lina", False)
    assert sessions.load_session_user(desk, third.get_id()) is None
    assert accounts.authenticate(desk, "lina", "password-2") is None  # disabled


def test_failed_logins_back_off_per_address(desk, monkeypatch):
    # Stamps are whole seconds and the first backoff is one: the clock stands still while it is read.
    elapsed = 0.0
    monkeypatch.setattr(sessions, "_seconds_since", lambda stamp: elapsed)
    accounts.create_user(desk, "lina", "password-1")
    for _ in range(2):
        assert sessions.log_in(desk, "lina", "wrong-guess", "10.0.0.1", 2) is None
    assert sessions.login_wait(desk, "LINA", "10.0.0.1", 2) == 1
    with pytest.raises(sessions.LoginThrottled, match="try again in 1 seconds"):
        sessions.log_in(desk, "lina", "password-1", "10.0.0.1", 2)
    elapsed = 1.0
    assert sessions.login_wait(desk, "lina", "10.0.0.1", 2) == 0
    elapsed = 0.0
    assert sessions.login_wait(desk, "lina", "10.0.0.2", 2) == 0
    user = sessions.log_in(desk, "lina", "password-1", "10.0.0.2", 2)
    assert user.username == "lina" and sessions.load_session_user(desk, user.get_id()) == user
    with desk.read() as conn:
        rows = conn.execute(select(login_failures).order_by(login_failures.c.address)).mappings().all()
    assert [(r["address"], r["failures"], bool(r["last_success"])) for r in rows] == [
        ("10.0.0.1", 2, False),
        ("10.0.0.2", 0, True),
    ]
    # A spread-out attack: addresses that never logged in wait; the known one does not.
    monkeypatch.setattr(sessions, "ACCOUNT_FAILURES_PER_HOUR", 4)
    for n in range(2):
        sessions.log_in(desk, "lina", "wrong-guess", f"10.0.1.{n}", 5)
    assert sessions.login_wait(desk, "lina", "10.0.2.1", 5) == sessions.UNKNOWN_ADDRESS_WAIT_SECONDS
    assert sessions.login_wait(desk, "lina", "10.0.0.2", 5) == 0


def test_tokens_are_hashed_named_once_and_revoked(desk):
    token, secret = accounts.create_token(desk, " callcenter ", "boss")
    assert secret.startswith(accounts.TOKEN_PREFIX) and token.prefix == secret[:8] and token.active
    assert (token.name, token.created_by, token.last_used) == ("callcenter", "boss", None)
    with desk.read() as conn:
        assert conn.execute(select(api_tokens.c.token_hash)).scalar_one() == accounts.hash_secret(secret)
    with pytest.raises(AccountError, match="an active token named 'callcenter' exists"):
        accounts.create_token(desk, "callcenter", "boss")
    with pytest.raises(AccountError, match="token name must be"):
        accounts.create_token(desk, "bad name", "boss")
    assert accounts.create_token(desk, "CallCenter", "boss")[0].name == "CallCenter"  # names are case-sensitive
    assert accounts.verify_token(desk, "not-a-token") is None
    assert accounts.verify_token(desk, accounts.TOKEN_PREFIX + "guess") is None
    revoked = accounts.revoke_token(desk, "callcenter")
    assert revoked.id == token.id and not revoked.active
    assert accounts.verify_token(desk, secret) is None
    with pytest.raises(AccountError, match="no active token named 'callcenter'"):
        accounts.revoke_token(desk, "callcenter")
    with pytest.raises(AccountError, match="no such active token"):
        accounts.revoke_token_by_id(desk, token.id)
    again, _ = accounts.create_token(desk, "callcenter", "boss")  # the name is free again
    assert [(t.name, t.active) for t in accounts.list_tokens(desk)] == [
        ("callcenter", True),
        ("CallCenter", True),
        ("callcenter", False),
    ]
    assert accounts.revoke_token_by_id(desk, again.id).revoked


def test_token_use_is_stamped_at_most_once_a_minute_and_never_back_in_time(desk):
    token, secret = accounts.create_token(desk, "api", "boss")
    noted = {}
    used = accounts.verify_token(desk, secret, lambda token_id, when: noted.update({token_id: when}))
    assert used.last_used and noted == {token.id: used.last_used}
    assert accounts.list_tokens(desk)[0].last_used is None  # handed over, not written
    stamped = accounts.verify_token(desk, secret)  # written here
    assert accounts.list_tokens(desk)[0].last_used == stamped.last_used
    assert accounts.verify_token(desk, secret, lambda *a: pytest.fail("stamped twice in a minute")).id == token.id
    accounts.record_token_uses(desk, {token.id: "2000-01-01T00:00:00Z"})
    assert accounts.list_tokens(desk)[0].last_used == stamped.last_used
    accounts.record_token_uses(desk, {token.id: "2999-01-01T00:00:00Z", 12345: "2999-01-01T00:00:00Z"})
    assert accounts.list_tokens(desk)[0].last_used == "2999-01-01T00:00:00Z"
    accounts.record_token_uses(desk, {})
    with desk.write() as conn:
        conn.execute(update(api_tokens).values(last_used="2000-01-01T00:00:00Z"))
    assert accounts.verify_token(desk, secret, lambda *a: None).last_used > "2000-01-01T00:00:00Z"
