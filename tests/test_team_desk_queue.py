"""Ownership and views (issue 12): assignees in the history, the queue's views with counts and
bookmarkable filters, a merchant's other tickets, and the API's list, PATCH and notes."""

from __future__ import annotations

import re

import pytest
from conftest import text_of
from openapi_schema_validator import OAS30Validator
from sqlalchemy import update

from webapp.db import get_desk
from webapp.desk.accounts import create_user, set_active
from webapp.desk.audit import entries
from webapp.desk.ownership import assign, merchant_history
from webapp.desk.schema import tickets
from webapp.desk.tickets import TicketError, get_ticket, history, set_status


@pytest.fixture
def team(app, agent_account):
    """Besides `lina`: an active agent `wei` and a disabled one `gone`."""
    desk = get_desk(app)
    create_user(desk, "wei", "wei-pass-123", "agent")
    create_user(desk, "gone", "gone-pass-123", "agent")
    set_active(desk, "gone", False)
    return desk


def _overdue(desk, ticket_id: int) -> None:
    with desk.write() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(resolution_due="2000-01-01T00:00:00Z"))


def _numbers(client, query) -> list[str]:
    page = text_of(client.get("/agent/", query_string=query))
    return re.findall(r'class="ticket-link" href="/agent/tickets/\d+">(PD\d+)<', page)


# --- ownership ------------------------------------------------------------------------------------


def test_assign_reassign_and_unassign_are_each_in_the_history(app, file, team):
    ticket = file("退货没有权限")
    assert assign(team, ticket.id, "lina", "lina").assignee == "lina"
    assert assign(team, ticket.id, "WEI", "lina").assignee == "wei"
    assert assign(team, ticket.id, None, "wei").assignee is None
    assert assign(team, ticket.id, None, "wei").assignee is None  # no change, no entry
    changes = [(e.actor, e.old, e.new) for e in history(team, ticket.id) if e.action == "assignee"]
    assert changes == [("lina", None, "lina"), ("lina", "lina", "wei"), ("wei", "wei", None)]


@pytest.mark.parametrize("who", ["gone", "nobody", "x\x00y", "王"])
def test_only_an_active_account_can_be_assigned(app, file, team, who):
    ticket = file("退货没有权限")
    with pytest.raises(TicketError):
        assign(team, ticket.id, who, "lina")
    assert not [e for e in history(team, ticket.id) if e.action == "assignee"]


def test_an_agent_assigns_to_self_reassigns_and_unassigns_on_the_ticket_page(app, file, team, agent_client, csrf):
    ticket = file("退货没有权限")
    url = f"/agent/tickets/{ticket.id}"
    page = text_of(agent_client.get(url))
    assert "未分配" in page and "指派给我" in page
    token = csrf(agent_client, url)
    post = f"{url}/assignee"
    assert agent_client.post(post, data={"assignee": "lina", "csrf_token": token}).status_code == 302
    page = text_of(agent_client.get(url))
    assert re.search(r'id="assignee">lina<', page) and "指派给我" not in page
    assert "指派处理人" in page and "无 → lina" in page
    agent_client.post(post, data={"assignee": "wei", "csrf_token": token})
    agent_client.post(post, data={"assignee": "gone", "csrf_token": token})  # disabled: refused
    assert "操作未完成" in text_of(agent_client.get(url))
    assert get_ticket(team, ticket.id).assignee == "wei"  # still wei
    agent_client.post(post, data={"assignee": "", "csrf_token": token})
    page = text_of(agent_client.get(url))
    assert 'id="assignee"><span class="muted">未分配' in page and "wei → 无" in page


def test_merchant_history_finds_the_same_merchant_terminal_or_phone(app, file, team, agent_client):
    first = file("退货没有权限", merchant_no="898310048990001", phone="13812345678")
    same_terminal = file("钱没到账", terminal_no="10086001")
    same_phone = file("商户被冻结了", phone="13812345678")
    other = file("机器有问题", merchant_no="898310048990002", phone="13900000000")
    current = file("又没有权限了", merchant_no="898310048990001", terminal_no="10086001")
    found = [t.id for t in merchant_history(team, current)]
    assert found == [same_terminal.id, first.id]
    assert [t.id for t in merchant_history(team, first)] == [current.id, same_phone.id]
    assert merchant_history(team, file("没有联系方式")) == []
    page = text_of(agent_client.get(f"/agent/tickets/{current.id}"))
    section = page[page.index('id="merchant-history"') :]
    section = section[: section.index("</section>")]
    assert first.number in section and same_terminal.number in section
    assert other.number not in section and same_phone.number not in section


# --- the queue's views ----------------------------------------------------------------------------


@pytest.fixture
def desk_queue(app, file, team):
    """Tickets for every view: lina's, an unassigned one, one needing review, one waiting for the
    merchant, an overdue one, a resolved one (oldest first)."""
    made = {
        "mine": file("退货没有权限"),
        "unassigned": file("钱没到账"),
        "review": file("机器有问题"),  # the fake model is unsure: needs review
        "waiting": file("商户被冻结了"),
        "overdue": file("又是钱没到账"),
        "resolved": file("退货还是没有权限"),
    }
    assign(team, made["mine"].id, "lina", "lina")
    for key in ("review", "waiting", "overdue", "resolved"):
        assign(team, made[key].id, "wei", "wei")
    set_status(team, made["waiting"].id, "pending", "wei")
    set_status(team, made["resolved"].id, "resolved", "wei")
    _overdue(team, made["overdue"].id)
    _overdue(team, made["resolved"].id)  # resolved: never overdue
    return {k: t.number for k, t in made.items()}


def test_each_view_lists_its_tickets_and_every_count_shows(agent_client, desk_queue):
    n = desk_queue
    expected = {
        "mine": [n["mine"]],
        "unassigned": [n["unassigned"]],
        "review": [n["review"]],
        "waiting": [n["waiting"]],
        "overdue": [n["overdue"]],
    }
    for view, numbers in expected.items():
        assert _numbers(agent_client, {"view": view}) == numbers, view
    assert set(_numbers(agent_client, {"view": "all"})) == set(n.values())
    page = text_of(agent_client.get("/agent/"))
    counts = dict(re.findall(r'>(\w+) <span class="count">(\d+)</span>', page))
    assert counts == {"我的工单": "1", "未分配": "1", "待复核": "1", "等待商户": "1", "已超时": "1", "全部": "6"} | {
        "全部未解决": "5"
    }


def test_the_default_view_is_unresolved_with_review_and_overdue_first_then_oldest(agent_client, desk_queue):
    n = desk_queue
    assert _numbers(agent_client, {}) == [n["review"], n["overdue"], n["mine"], n["unassigned"], n["waiting"]]
    assert 'aria-current="page">全部未解决' in text_of(agent_client.get("/agent/"))


def test_filters_combine_live_in_the_url_and_views_keep_them(app, agent_client, desk_queue):
    n = desk_queue
    assert _numbers(agent_client, {"assignee": "wei", "view": "open", "sort": "oldest"}) == [
        n["review"],
        n["waiting"],
        n["overdue"],
    ]
    assert _numbers(agent_client, {"assignee": "wei", "category": "settlement"}) == [n["overdue"]]
    assert _numbers(agent_client, {"assignee": "none"}) == [n["unassigned"]]
    assert _numbers(agent_client, {"status": "resolved"}) == [n["resolved"]]  # a status shows it, view aside
    assert _numbers(agent_client, {"source": "api"}) == []
    assert _numbers(agent_client, {"scope": "out"}) == []
    assert len(_numbers(agent_client, {"scope": "in"})) == 5
    page = text_of(agent_client.get("/agent/?assignee=wei&priority=high"))
    assert 'href="/agent/?assignee=wei&amp;priority=high&amp;view=overdue"' in page  # the view tab keeps the filters
    counts = dict(
        re.findall(r'>(\w+) <span class="count">(\d+)</span>', text_of(agent_client.get("/agent/?assignee=wei")))
    )
    assert counts["我的工单"] == "0" and counts["全部未解决"] == "3" and counts["全部"] == "4"


def test_paging_past_the_end_shows_the_last_page(app, agent_client, desk_queue):
    app.config["TICKETS_PER_PAGE"] = 2
    last = text_of(agent_client.get("/agent/?view=all&page=999"))
    assert "第 3 / 3 页" in last
    assert len(re.findall(r'class="ticket-link"', last)) == 2


# --- the API --------------------------------------------------------------------------------------


def _spec(client):
    return client.get("/api/openapi.json").get_json()


def _conforms(spec, name, instance):
    OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]}).validate(instance)


def test_api_lists_unassigned_new_tickets_and_patch_assigns_one(app, client, api_headers, file, team):
    spec = _spec(client)
    first, second = file("退货没有权限"), file("钱没到账")
    assign(team, second.id, "wei", "wei")
    third = file("商户被冻结了")
    set_status(team, third.id, "open", "wei")
    answer = client.get("/api/v1/tickets?status=new&assignee=none", headers=api_headers)
    assert answer.status_code == 200
    _conforms(spec, "TicketList", answer.get_json())
    assert [t["id"] for t in answer.get_json()["tickets"]] == [first.id]

    patched = client.patch(f"/api/v1/tickets/{first.id}", json={"assignee": "lina"}, headers=api_headers)
    assert patched.status_code == 200
    _conforms(spec, "TicketResponse", patched.get_json())
    assert patched.get_json()["ticket"]["assignee"] == "lina"
    assert client.get("/api/v1/tickets?status=new&assignee=none", headers=api_headers).get_json()["tickets"] == []
    lina = client.get("/api/v1/tickets?assignee=lina", headers=api_headers).get_json()["tickets"]
    assert [t["id"] for t in lina] == [first.id]
    events = [(e.actor, e.old, e.new) for e in history(team, first.id) if e.action == "assignee"]
    assert events == [("api:tests", None, "lina")]
    logged = entries(team, action="ticket.update").entries
    assert [(e.actor, e.target, e.detail) for e in logged] == [
        ("api:tests", f"ticket:{first.id}", {"changes": {"assignee": [None, "lina"]}})
    ]


def test_patch_changes_status_category_and_priority_in_one_go(app, client, api_headers, file, team):
    ticket = file("机器有问题")
    body = {"status": "open", "category": "settlement", "priority": "urgent", "team": "结算组"}
    answer = client.patch(f"/api/v1/tickets/{ticket.id}", json=body, headers=api_headers).get_json()["ticket"]
    assert (answer["status"], answer["category"], answer["priority"], answer["team"]) == (
        "open",
        "settlement",
        "urgent",
        "结算组",
    )
    assert answer["category_confirmed_by"] == "api:tests" and answer["needs_review"] is False
    actions = {e.action for e in history(team, ticket.id) if e.actor == "api:tests"}
    assert {"status", "category_corrected", "priority", "team"} <= actions


def test_patch_names_every_bad_field_and_changes_nothing(app, client, api_headers, file, team):
    ticket = file("退货没有权限")
    url = f"/api/v1/tickets/{ticket.id}"
    body = {"status": "done", "category": "nope", "assignee": "gone", "priority": "asap"}
    answer = client.patch(url, json=body, headers=api_headers)
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert all(name in error for name in ("status", "category", "assignee", "priority"))
    mixed = client.patch(url, json={"status": "open", "assignee": "nobody"}, headers=api_headers)
    assert mixed.status_code == 400 and "assignee" in mixed.get_json()["error"]
    assert client.get(url, headers=api_headers).get_json()["ticket"]["status"] == "new"  # nothing applied
    assert (
        "unknown fields: 'owner'" in client.patch(url, json={"owner": "lina"}, headers=api_headers).get_json()["error"]
    )
    assert client.patch(url, json={}, headers=api_headers).status_code == 400
    assert client.patch("/api/v1/tickets/999", json={"status": "open"}, headers=api_headers).status_code == 404
    assert client.patch(url, json={"status": "open"}).status_code == 401
    assert entries(team, action="ticket.update").total == 0


def test_api_adds_internal_notes(app, client, api_headers, file, team):
    spec = _spec(client)
    ticket = file("退货没有权限")
    url = f"/api/v1/tickets/{ticket.id}/notes"
    answer = client.post(url, json={"note": "已联系商户，卡号 6222020200112233445"}, headers=api_headers)
    assert answer.status_code == 201
    _conforms(spec, "NoteResponse", answer.get_json())
    assert "6222020200112233445" not in answer.get_json()["note"]["text"]
    notes = [(e.actor, e.new) for e in history(team, ticket.id) if e.action == "note"]
    assert notes == [("api:tests", answer.get_json()["note"]["text"])]
    for bad in ({"note": ""}, {"note": 5}, {"text": "x"}, {"note": "x" * 2001}):
        assert client.post(url, json=bad, headers=api_headers).status_code == 400
    assert client.post("/api/v1/tickets/999/notes", json={"note": "x"}, headers=api_headers).status_code == 404


def test_api_pages_by_cursor_or_page_newest_or_oldest(app, client, api_headers, file):
    filed = [file(f"第{i}次退货没有权限").id for i in range(5)]
    seen, cursor = [], None
    while True:
        query = {"limit": "2", "order": "oldest"} | ({"cursor": cursor} if cursor else {})
        answer = client.get("/api/v1/tickets", query_string=query, headers=api_headers).get_json()
        seen += [t["id"] for t in answer["tickets"]]
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    assert seen == filed
    newest = client.get("/api/v1/tickets?limit=2&page=2", headers=api_headers).get_json()
    assert [t["id"] for t in newest["tickets"]] == filed[::-1][2:4] and newest["pages"] == 3
    past = client.get("/api/v1/tickets?limit=2&page=99", headers=api_headers).get_json()
    assert past["page"] == 3 and [t["id"] for t in past["tickets"]] == [filed[0]] and past["next_cursor"] is None


@pytest.mark.parametrize(
    "query, bad",
    [
        ("status=done", "status"),
        ("assignee=%00", "assignee"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
        ("cursor=abc", "cursor"),
        ("cursor=9223372036854775808", "cursor"),
        ("page=1&cursor=3", "page"),
        ("order=random", "order"),
        ("from=2026-13-01", "from"),
        ("view=mine", "view"),
        ("priority=asap&scope=both", "priority, scope"),
    ],
)
def test_api_list_names_bad_parameters(client, api_headers, query, bad):
    answer = client.get(f"/api/v1/tickets?{query}", headers=api_headers)
    assert answer.status_code == 400
    assert answer.get_json()["error"] == f"bad query parameters: {bad}"


def test_api_list_needs_a_token(client):
    assert client.get("/api/v1/tickets").status_code == 401
