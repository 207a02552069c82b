"""Priority and due times (rules on triage, the policy table, business hours, overdue marks) and bulk
actions from the queue."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from webapp.desk import sla
from webapp.desk.priority import amounts, set_priority
from webapp.desk.schema import audit_log, tickets
from webapp.desk.tickets import file_ticket, get_ticket, history, triage_pending

SETTLEMENT = "昨天的货款到账了一半，剩下的钱没有到账"  # the fake model: settlement
NETWORK = "终端一直显示连接失败，交易做不了"  # the fake model: network-host, normal


def _file(desk, triager, text):
    ticket = file_ticket(desk, text, name="王女士", phone="13812345678")
    triage_pending(desk, triager)
    return get_ticket(desk, ticket.id)


def _minutes_between(start: str, end: str) -> float:
    parse = sla._parse
    return (parse(end) - parse(start)).total_seconds() / 60


def _make_overdue(desk, ticket_id, first=True, resolution=True):
    past = "2020-01-01T00:00:00Z"
    values = {}
    if first:
        values["first_response_due"] = past
    if resolution:
        values["resolution_due"] = past
    with desk.write() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(**values))


def _row(page: str, ticket_id: int) -> str:
    """The queue row of one ticket."""
    return next(row for row in page.split("</tr>") if f'href="/agent/tickets/{ticket_id}"' in row)


# --- the rules ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("刷了5万还没到账", [50000]),
        ("一笔50000元的交易", [50000]),
        ("金额¥12,000被退回", [12000]),
        ("金额￥12,000.50被退回", [12000.5]),
        ("大概1.5万块钱", [15000]),
        ("3千元手续费", [3000]),
        ("商户号898310048990001，终端号10086001，应答码58", []),
    ],
)
def test_amounts_are_read_with_their_units_and_bare_numbers_are_not_money(text, expected):
    assert amounts(text) == expected


def test_a_settlement_ticket_starts_high_with_its_due_times(desk, fake_triager):
    ticket = _file(desk, fake_triager, SETTLEMENT)
    assert ticket.category == "settlement"
    assert ticket.priority == "high"
    assert _minutes_between(ticket.created, ticket.first_response_due) == 120
    assert _minutes_between(ticket.created, ticket.resolution_due) == 24 * 60
    raised = [e for e in history(desk, ticket.id) if e.action == "priority"]
    assert [(e.actor, e.old, e.new) for e in raised] == [("posdesk", "normal", "high")]


def test_an_amount_above_the_threshold_starts_high_and_a_small_one_does_not(desk, fake_triager):
    big = _file(desk, fake_triager, NETWORK + "，客户刷了¥12,000没成功")
    small = _file(desk, fake_triager, NETWORK + "，客户刷了500元没成功")
    assert (big.category, big.priority) == ("network-host", "high")
    assert (small.category, small.priority) == ("network-host", "normal")
    assert _minutes_between(small.created, small.resolution_due) == 3 * 24 * 60


def test_the_threshold_is_a_setting(make_app, fake_triager):
    from webapp.db import get_desk

    desk = get_desk(make_app(PRIORITY_AMOUNT_THRESHOLD=100000))
    assert _file(desk, fake_triager, NETWORK + "，刷了5万没成功").priority == "normal"
    assert _file(desk, fake_triager, NETWORK + "，刷了20万没成功").priority == "high"


def test_triage_never_lowers_or_overrides_a_priority_an_agent_set(desk, fake_triager):
    ticket = file_ticket(desk, SETTLEMENT)
    set_priority(desk, ticket.id, "low", "lina")
    urgent = file_ticket(desk, SETTLEMENT)
    set_priority(desk, urgent.id, "urgent", "lina")
    triage_pending(desk, fake_triager)
    assert get_ticket(desk, ticket.id).priority == "low"
    assert get_ticket(desk, urgent.id).priority == "urgent"
    assert get_ticket(desk, urgent.id).category == "settlement"


# --- the policy and business hours ---------------------------------------------------------------------


def test_due_times_come_from_the_category_row_then_the_default_row_then_the_built_in_ones(desk, fake_triager):
    sla.set_policy(desk, None, "normal", 60, 600, "boss")
    sla.set_policy(desk, "settlement", "high", 15, 90, "boss")
    sla.set_policy(desk, None, "normal", 45, 500, "boss")  # replaces the default row
    settled = _file(desk, fake_triager, SETTLEMENT)
    normal = _file(desk, fake_triager, NETWORK)
    assert _minutes_between(settled.created, settled.first_response_due) == 15
    assert _minutes_between(settled.created, settled.resolution_due) == 90
    assert _minutes_between(normal.created, normal.first_response_due) == 45
    assert _minutes_between(normal.created, normal.resolution_due) == 500
    assert len(sla.list_policies(desk)) == 2
    set_priority(desk, normal.id, "urgent", "lina")  # no row for urgent: the built-in 30 min / 4 h
    urgent = get_ticket(desk, normal.id)
    assert _minutes_between(urgent.created, urgent.first_response_due) == 30
    assert _minutes_between(urgent.created, urgent.resolution_due) == 240


def test_a_policy_refuses_bad_values(desk):
    with pytest.raises(sla.PolicyError):
        sla.set_policy(desk, None, "normal", 0, 60, "boss")
    with pytest.raises(sla.PolicyError):
        sla.set_policy(desk, None, "normal", 120, 60, "boss")
    with pytest.raises(sla.PolicyError):
        sla.set_policy(desk, "no-such-category", "normal", 60, 120, "boss", known={"settlement"})
    assert sla.list_policies(desk) == []


def _china(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=sla.CHINA_TIME)


def test_business_hours_count_only_working_minutes():
    hours = sla.parse_business_hours("09:00-18:00")
    friday_late = _china(2026, 12, 4, 17, 0)
    assert sla.add_minutes(friday_late, 120, hours) == _china(2026, 12, 7, 10, 0)  # Monday
    saturday = _china(2026, 12, 5, 11, 0)
    assert sla.add_minutes(saturday, 30, hours) == _china(2026, 12, 7, 9, 30)
    early = _china(2026, 12, 1, 7, 0)
    assert sla.add_minutes(early, 9 * 60 + 60, hours) == _china(2026, 12, 2, 10, 0)  # a full day and an hour
    assert sla.add_minutes(friday_late, 120, None) == _china(2026, 12, 4, 19, 0)  # unset: 24×7


@pytest.mark.parametrize("value", ["9-18", "18:00-09:00", "25:00-26:00", "09:00"])
def test_bad_business_hours_are_refused(value):
    with pytest.raises(ValueError):
        sla.parse_business_hours(value)


def test_business_hours_apply_to_the_due_times_of_an_app(make_app, fake_triager):
    from webapp.db import get_desk

    desk = get_desk(make_app(BUSINESS_HOURS="09:00-18:00"))
    ticket = _file(desk, fake_triager, NETWORK)
    due = sla._parse(ticket.first_response_due).astimezone(sla.CHINA_TIME)
    assert due.weekday() < 5 and dt.time(9) <= due.time() <= dt.time(18)


# --- overdue, first response and the agent's priority --------------------------------------------------


def test_an_overdue_ticket_is_marked_in_the_queue_and_on_its_page(app_desk, agent_client, fake_triager):
    late = _file(app_desk, fake_triager, NETWORK)
    on_time = _file(app_desk, fake_triager, NETWORK + "，第二台")
    _make_overdue(app_desk, late.id)
    queue = agent_client.get("/agent/?view=all").get_data(as_text=True)
    late_row, on_time_row = (_row(queue, t.id) for t in (late, on_time))
    assert "已超时" in late_row
    assert "已超时" not in on_time_row
    page = agent_client.get(f"/agent/tickets/{late.id}").get_data(as_text=True)
    assert "badge-overdue" in page and "首次响应截止" in page
    assert "badge-overdue" not in agent_client.get(f"/agent/tickets/{on_time.id}").get_data(as_text=True)


def test_a_first_public_reply_meets_the_first_response_and_resolving_ends_overdue(app_desk, fake_triager):
    from webapp.desk.replies import add_agent_reply
    from webapp.desk.tickets import set_status

    ticket = _file(app_desk, fake_triager, NETWORK)
    _make_overdue(app_desk, ticket.id, first=True, resolution=False)
    assert sla.overdue(get_ticket(app_desk, ticket.id)) == "first_response"
    add_agent_reply(app_desk, ticket.id, "请重启终端后再试", "lina")
    first = get_ticket(app_desk, ticket.id).first_responded_at
    assert first and sla.overdue(get_ticket(app_desk, ticket.id)) is None
    add_agent_reply(app_desk, ticket.id, "还有问题请回复", "lina")
    assert get_ticket(app_desk, ticket.id).first_responded_at == first
    _make_overdue(app_desk, ticket.id)
    assert sla.overdue(get_ticket(app_desk, ticket.id)) == "resolution"
    set_status(app_desk, ticket.id, "resolved", "lina")
    assert sla.overdue(get_ticket(app_desk, ticket.id)) is None


def test_an_agent_sets_the_priority_on_the_ticket_page(app_desk, agent_client, csrf, fake_triager):
    ticket = _file(app_desk, fake_triager, NETWORK)
    token = csrf(agent_client, f"/agent/tickets/{ticket.id}")
    response = agent_client.post(
        f"/agent/tickets/{ticket.id}/priority", data={"priority": "urgent", "csrf_token": token}, follow_redirects=True
    )
    page = response.get_data(as_text=True)
    assert "优先级已更新" in page and "修改优先级" in page
    changed = get_ticket(app_desk, ticket.id)
    assert changed.priority == "urgent"
    assert _minutes_between(changed.created, changed.first_response_due) == 30
    refused = agent_client.post(f"/agent/tickets/{ticket.id}/priority", data={"priority": "low"})
    assert refused.status_code == 400 and get_ticket(app_desk, ticket.id).priority == "urgent"  # no CSRF token


# --- the admin page ------------------------------------------------------------------------------------


def test_an_admin_edits_the_policy_with_chinese_messages(app, app_desk, admin_client, agent_client, csrf):
    assert agent_client.get("/agent/admin/sla").status_code == 403
    token = csrf(admin_client, "/agent/admin/sla")
    form = {"category": "settlement", "priority": "high", "first_response_minutes": "20", "csrf_token": token}
    saved = admin_client.post("/agent/admin/sla", data={**form, "resolution_minutes": "120"}, follow_redirects=True)
    assert "时限已保存" in saved.get_data(as_text=True)
    [row] = sla.list_policies(app_desk)
    assert (row.category, row.priority, row.first_response_minutes, row.resolution_minutes) == (
        "settlement",
        "high",
        20,
        120,
    )
    assert row.updated_by == "boss"
    short = admin_client.post("/agent/admin/sla", data={**form, "resolution_minutes": "10"})
    assert short.status_code == 400 and "解决时限不能短于首次响应时限" in short.get_data(as_text=True)
    words = admin_client.post("/agent/admin/sla", data={**form, "resolution_minutes": "两小时"})
    assert words.status_code == 400 and "请填写整数分钟数" in words.get_data(as_text=True)
    deleted = admin_client.post(f"/agent/admin/sla/{row.id}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "已删除" in deleted.get_data(as_text=True) and sla.list_policies(app_desk) == []


# --- bulk actions --------------------------------------------------------------------------------------


def test_bulk_changes_tickets_with_one_history_entry_each(app_desk, agent_client, csrf, fake_triager):
    first = _file(app_desk, fake_triager, NETWORK)
    second = _file(app_desk, fake_triager, NETWORK + "，第二台")
    untouched = _file(app_desk, fake_triager, NETWORK + "，第三台")
    before = {t.id: len(history(app_desk, t.id)) for t in (first, second, untouched)}
    token = csrf(agent_client, "/agent/")
    data = {
        "ticket": [str(first.id), str(second.id)],
        "assignee": "lina",
        "status": "resolved",
        "category": "_keep",
        "priority": "urgent",
        "csrf_token": token,
        "next": "/agent/?view=all",
    }
    response = agent_client.post("/agent/bulk", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/agent/?view=all")
    page = agent_client.get("/agent/?view=all").get_data(as_text=True)
    assert "已批量更新 2 个工单" in page
    for ticket in (first, second):
        changed = get_ticket(app_desk, ticket.id)
        assert (changed.assignee, changed.status, changed.priority) == ("lina", "resolved", "urgent")
        assert changed.category == "network-host"
        entries = history(app_desk, ticket.id)
        assert len(entries) == before[ticket.id] + 1
        assert entries[-1].action == "bulk" and entries[-1].actor == "lina"
        assert json.loads(entries[-1].new)["status"] == ["new", "resolved"]
        assert _minutes_between(changed.created, changed.first_response_due) == 30
    assert len(history(app_desk, untouched.id)) == before[untouched.id]
    ticket_page = agent_client.get(f"/agent/tickets/{first.id}").get_data(as_text=True)
    assert "批量修改" in ticket_page and "状态：新建 → 已解决" in ticket_page
    with app_desk.read() as conn:
        audit = conn.execute(select(audit_log).where(audit_log.c.action == "ticket.bulk")).all()
    assert len(audit) == 1 and audit[0].actor == "lina"


def test_bulk_refuses_without_csrf_and_without_a_selection(app_desk, agent_client, csrf, fake_triager):
    ticket = _file(app_desk, fake_triager, NETWORK)
    refused = agent_client.post("/agent/bulk", data={"ticket": [str(ticket.id)], "status": "closed"})
    assert refused.status_code in (302, 400)
    assert get_ticket(app_desk, ticket.id).status == "new"
    token = csrf(agent_client, "/agent/")
    keep = {"assignee": "_keep", "status": "_keep", "category": "_keep", "priority": "_keep", "csrf_token": token}
    empty = agent_client.post("/agent/bulk", data={**keep, "status": "closed"}, follow_redirects=True)
    assert "请先勾选工单" in empty.get_data(as_text=True)
    nothing = agent_client.post("/agent/bulk", data={**keep, "ticket": [str(ticket.id)]}, follow_redirects=True)
    assert "请至少选择一项" in nothing.get_data(as_text=True)
    ghost = agent_client.post(
        "/agent/bulk", data={**keep, "ticket": [str(ticket.id)], "assignee": "ghost"}, follow_redirects=True
    )
    assert "批量操作未完成" in ghost.get_data(as_text=True)
    assert get_ticket(app_desk, ticket.id).assignee is None


def test_a_new_category_brings_its_policys_due_times(desk):
    from webapp.desk.tickets import set_category

    ticket = file_ticket(desk, "机器有问题")
    sla.set_policy(desk, "settlement", "normal", 10, 60, "boss")
    before = get_ticket(desk, ticket.id)
    set_category(desk, ticket.id, "settlement", "lina")
    after = get_ticket(desk, ticket.id)
    created = dt.datetime.fromisoformat(after.created.replace("Z", "+00:00"))
    assert after.resolution_due == (created + dt.timedelta(minutes=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert after.resolution_due != before.resolution_due
