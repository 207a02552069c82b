"""The audit log: logins, account, token and webhook changes are recorded with who, what, when and
from where (web and CLI); admins read and filter it, newest first; nothing in the app edits it."""

from __future__ import annotations

import re

import pytest

from webapp.cli import cli
from webapp.db import get_desk
from webapp.desk import audit
from webapp.desk.accounts import AccountError, create_user


def text_of(response) -> str:
    return response.get_data(as_text=True)


def logged(app, **filters) -> list[tuple[str, str, str | None]]:
    """(actor, action, target) of the entries matching the filters, oldest first."""
    with app.app_context():
        page = audit.entries(get_desk(), **filters)
    return [(e.actor, e.action, e.target) for e in reversed(page.entries)]


def test_record_joins_the_callers_transaction(desk):
    audit.record(desk, "boss", "user.create", "user:lina", {"role": "agent"}, "10.0.0.7")
    with pytest.raises(AccountError), desk.write():
        audit.record(desk, "boss", "user.create", "user:wang")
        raise AccountError("refused after the entry was written")
    [entry] = audit.entries(desk).entries
    assert (entry.actor, entry.action, entry.target, entry.address) == ("boss", "user.create", "user:lina", "10.0.0.7")
    assert entry.detail == {"role": "agent"} and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.at)


def test_entries_filter_and_page_newest_first(desk):
    for n in range(7):
        audit.record(desk, "boss" if n % 2 else "lina", "user.role" if n < 5 else "token.create", f"user:u{n}")
    page = audit.entries(desk, per_page=3)
    assert (page.total, page.pages, [e.target for e in page.entries]) == (7, 3, ["user:u6", "user:u5", "user:u4"])
    assert [e.target for e in audit.entries(desk, page=3, per_page=3).entries] == ["user:u0"]
    assert [e.target for e in audit.entries(desk, actor="boss", action="user.role").entries] == ["user:u3", "user:u1"]
    assert audit.entries(desk, action="token.").total == 2
    today = audit.entries(desk).entries[0].at[:10]
    assert audit.entries(desk, since=today, until=today).total == 7
    assert audit.entries(desk, until="2000-01-01").total == 0
    assert audit.actions(desk) == ["token.create", "user.role"]


def test_logins_are_recorded_with_the_name_tried_and_the_address(app, client, csrf, agent_account):
    username, password = agent_account
    token = csrf(client, "/agent/login")
    client.post("/agent/login", data={"username": "ghost", "password": "nope-nope", "csrf_token": token})
    client.post("/agent/login", data={"username": username, "password": password, "csrf_token": token})
    assert logged(app) == [("anonymous", "login.failure", "user:ghost"), ("lina", "login.success", "user:lina")]
    with app.app_context():
        entries = audit.entries(get_desk()).entries
    assert {e.address for e in entries} == {"127.0.0.1"}
    assert entries[1].detail == {"reason": "password"}


def test_admin_account_token_and_webhook_changes_are_recorded(app, admin_client, csrf):
    token = csrf(admin_client, "/agent/admin/users")
    post = admin_client.post
    account = {"username": "xiaoli", "password": "password-9", "role": "agent"}
    post("/agent/admin/users", data={**account, "csrf_token": token})
    post("/agent/admin/users/xiaoli/role", data={"role": "admin", "csrf_token": token})
    post("/agent/admin/users/xiaoli/password", data={"password": "password-10", "csrf_token": token})
    post("/agent/admin/users/xiaoli/disable", data={"csrf_token": token})
    post("/agent/admin/users/xiaoli/enable", data={"csrf_token": token})
    post("/agent/admin/users/xiaoli/role", data={"role": "agent", "csrf_token": token})
    post("/agent/admin/users/ghost/enable", data={"csrf_token": token})  # refused: nothing recorded
    page = text_of(post("/agent/admin/tokens", data={"name": "callcenter", "csrf_token": token}))
    token_id = re.search(r'action="/agent/admin/tokens/(\d+)/revoke"', page).group(1)
    post(f"/agent/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    post("/agent/admin/webhooks", data={"url": "https://crm.example.com/hook", "secret": "", "csrf_token": token})
    assert logged(app, action="user.") + logged(app, action="token.") + logged(app, action="webhook.") == [
        ("boss", "user.create", "user:xiaoli"),
        ("boss", "user.role", "user:xiaoli"),
        ("boss", "user.password", "user:xiaoli"),
        ("boss", "user.deactivate", "user:xiaoli"),
        ("boss", "user.activate", "user:xiaoli"),
        ("boss", "user.role", "user:xiaoli"),
        ("boss", "token.create", "token:callcenter"),
        ("boss", "token.revoke", "token:callcenter"),
        ("boss", "webhook.create", "webhook:1"),
    ]
    with app.app_context():
        secret_free = " ".join(str(e.detail) for e in audit.entries(get_desk()).entries)
    assert "password-10" not in secret_free and "pd_" in secret_free  # token prefixes only, never secrets


def test_a_refused_change_records_nothing(app, admin_client, csrf):
    token = csrf(admin_client, "/agent/admin/users")
    admin_client.post("/agent/admin/users/boss/role", data={"role": "agent", "csrf_token": token})
    admin_client.post("/agent/admin/users/ghost/enable", data={"csrf_token": token})
    assert logged(app, action="user.") == []


def test_cli_changes_are_recorded_as_cli(app, runner):
    runner.invoke(cli, ["user", "add", "lina", "--password", "secret-123"])
    runner.invoke(cli, ["user", "passwd", "lina", "--password", "secret-456"])
    runner.invoke(cli, ["token", "create", "crm"])
    runner.invoke(cli, ["token", "revoke", "crm"])
    runner.invoke(cli, ["token", "revoke", "crm"])  # refused: nothing recorded
    assert logged(app) == [
        ("cli", "user.create", "user:lina"),
        ("cli", "user.password", "user:lina"),
        ("cli", "token.create", "token:crm"),
        ("cli", "token.revoke", "token:crm"),
    ]


def test_admins_read_and_filter_the_log_in_chinese(app, admin_client, agent_client):
    with app.app_context():
        desk = get_desk()
        for n in range(60):
            audit.record(desk, "cli", "token.create", f"token:t{n}")
        audit.record(desk, "boss", "user.create", "user:wang", {"role": "agent"}, "10.1.2.3")
    page = text_of(admin_client.get("/agent/admin/audit"))
    assert "审计日志" in page and "新建账号" in page and "10.1.2.3" in page and "user:wang" in page
    assert page.index("user:wang") < page.index("token:t59") < page.index("token:t20")
    assert "token:t0<" not in page and "第 1 / 2 页" in page  # 50 a page: the oldest on page 2
    assert "token:t0<" in text_of(admin_client.get("/agent/admin/audit?page=2"))
    filtered = text_of(admin_client.get("/agent/admin/audit?actor=boss&action=user.create"))
    assert "user:wang" in filtered and "token:t" not in filtered
    assert "user:wang" not in text_of(admin_client.get("/agent/admin/audit?since=2999-01-01"))
    assert "user:wang" in text_of(admin_client.get("/agent/admin/audit?since=nonsense&page=-3"))
    assert agent_client.get("/agent/admin/audit").status_code == 403


def test_no_route_edits_the_log(app):
    for rule in app.url_map.iter_rules():
        if "audit" in rule.rule:
            assert rule.methods <= {"GET", "HEAD", "OPTIONS"}, rule.rule


def test_only_the_audit_module_writes_the_table():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "webapp"
    writers = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*.py")
        if "migrations" not in p.parts and re.search(r"(insert|update|delete)\(audit_log", p.read_text("utf-8"))
    ]
    assert writers == ["desk/audit.py"]
    assert not re.search(r"(update|delete)\(audit_log", (root / "desk" / "audit.py").read_text("utf-8"))


def test_an_account_error_speaks_both_languages(desk):
    create_user(desk, "boss", "password-1", "admin")
    with pytest.raises(AccountError) as refused:
        create_user(desk, "boss", "password-1", "admin")
    assert str(refused.value) == "user 'boss' already exists" and refused.value.message == "用户名 boss 已被占用。"


def test_desk_side_ticket_changes_and_sla_edits_are_audited_in_chinese(app, admin_client, csrf):
    from webapp.desk.tickets import file_ticket

    ticket = file_ticket(get_desk(app), "退货提示没有权限")
    token = csrf(admin_client, f"/agent/tickets/{ticket.id}")
    admin_client.post(f"/agent/tickets/{ticket.id}/assignee", data={"assignee": "boss", "csrf_token": token})
    token = csrf(admin_client, "/agent/admin/sla")
    admin_client.post(
        "/agent/admin/sla",
        data={
            "category": "",
            "priority": "urgent",
            "first_response_minutes": "1",
            "resolution_minutes": "2",
            "csrf_token": token,
        },
    )
    page = admin_client.get("/agent/admin/audit").get_data(as_text=True)
    assert "修改工单" in page and f"ticket:{ticket.id}" in page and "assignee=boss" in page
    assert "修改时限规则" in page and ">sla.update<" not in page  # the label, not the key (option values keep it)
    assert "{'" not in page  # details are never a Python repr
