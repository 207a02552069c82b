"""Desk sessions live on the server: logging out, a new password and a disabled account end them, a
copied cookie included; failed logins back off per account and address without locking the real user
out from elsewhere."""

import pytest
from conftest import AGENT_PASSWORD, csrf_token_from
from sqlalchemy import func, select

from webapp.db import get_desk
from webapp.desk import accounts, sessions
from webapp.desk.schema import desk_sessions

DESK = "/agent/"


def logged_in(client) -> bool:
    return client.get(DESK).status_code == 200


def copy_of(app, client):
    """Another browser holding a copy of this client's session cookie (a stolen cookie)."""
    thief = app.test_client()
    thief.set_cookie("posdesk_session", client.get_cookie("posdesk_session").value)
    return thief


def login(client, password=AGENT_PASSWORD, address="127.0.0.1"):
    token = csrf_token_from(client, "/agent/login")
    return client.post(
        "/agent/login",
        data={"username": "lina", "password": password, "csrf_token": token},
        environ_overrides={"REMOTE_ADDR": address},
    )


def test_logging_out_ends_the_session_for_a_copied_cookie_too(app, agent_client):
    thief = copy_of(app, agent_client)
    assert logged_in(thief)
    token = csrf_token_from(agent_client, DESK)
    assert agent_client.post("/agent/logout", data={"csrf_token": token}).status_code == 302
    assert not logged_in(agent_client)
    assert not logged_in(thief)


def test_disabling_an_account_ends_its_sessions(app, agent_client):
    with app.app_context():
        accounts.set_active(get_desk(), "lina", False)
        accounts.set_active(get_desk(), "lina", True)  # enabling again does not bring old sessions back
    assert not logged_in(agent_client)


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(app, agent_client):
    other = app.test_client()
    assert login(other).status_code == 302
    token = csrf_token_from(agent_client, "/agent/password")
    changed = agent_client.post(
        "/agent/password", data={"current": AGENT_PASSWORD, "password": "brand-new-pass", "csrf_token": token}
    )
    assert changed.status_code == 302
    assert logged_in(agent_client)
    assert not logged_in(other)
    with app.app_context(), get_desk().read() as conn:
        assert conn.execute(select(func.count()).select_from(desk_sessions)).scalar_one() == 1


def test_a_session_ends_after_its_lifetime(make_app):
    app = make_app(DESK_SESSION_HOURS=-1)
    with app.app_context():
        accounts.create_user(get_desk(), "lina", AGENT_PASSWORD)
    client = app.test_client()
    assert login(client).status_code == 302
    assert not logged_in(client)


@pytest.fixture
def backoff_app(make_app):
    app = make_app(LOGIN_FREE_FAILURES=2, LOGIN_RATE_LIMIT="100 per minute")
    with app.app_context():
        accounts.create_user(get_desk(), "lina", AGENT_PASSWORD)
    return app


def test_failed_logins_back_off_for_that_address_only(backoff_app, monkeypatch):
    # The first backoff is one second: a slow machine must not let it run out between two requests.
    monkeypatch.setattr(sessions, "_seconds_since", lambda stamp: 0.0)
    attacker = backoff_app.test_client()
    for _ in range(2):  # the free failures
        assert login(attacker, "wrong-guess", address="127.0.0.2").status_code == 200
    throttled = login(attacker, AGENT_PASSWORD, address="127.0.0.2")
    assert throttled.status_code == 429 and "登录失败次数太多" in throttled.get_data(as_text=True)
    assert not logged_in(attacker)
    assert login(backoff_app.test_client(), address="127.0.0.3").status_code == 302  # the real user, elsewhere


def test_a_spread_out_attack_slows_new_addresses_but_not_known_ones(backoff_app, monkeypatch):
    monkeypatch.setattr(sessions, "ACCOUNT_FAILURES_PER_HOUR", 4)
    real_user = backoff_app.test_client()
    assert login(real_user, address="127.0.0.9").status_code == 302
    for n in range(4):
        login(backoff_app.test_client(), "wrong-guess", address=f"127.0.1.{n}")
    assert login(backoff_app.test_client(), address="127.0.2.1").status_code == 429
    assert login(backoff_app.test_client(), address="127.0.0.9").status_code == 302


def test_a_success_clears_the_failures_of_that_address(backoff_app):
    client = backoff_app.test_client()
    login(client, "wrong-guess")
    assert login(client).status_code == 302
    with backoff_app.app_context():
        assert sessions.login_wait(get_desk(), "lina", "127.0.0.1", 2) == 0
