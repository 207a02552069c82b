"""The desk's ticket search (number, phone, 商户号, 终端号, words) and merging duplicate tickets, with
where a merged ticket's merchant status link goes."""

import html
import re

import pytest
from conftest import text_of

from webapp.db import get_desk
from webapp.desk.duplicates import mark_duplicate, merged_into
from webapp.desk.ticket_search import find_tickets, parse_query
from webapp.desk.tickets import TicketError, get_ticket, history, set_status


def plain(response) -> str:
    """The page's text without tags (what a reader sees, in one line)."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", text_of(response))))


def found_numbers(response) -> list[str]:
    """The ticket numbers the search lists, in order."""
    return re.findall(r'class="result-title ticket-link"[^>]*>(PD\d+)<', text_of(response))


@pytest.fixture
def desk_of(app):
    with app.app_context():
        yield get_desk()


# --- what a query is ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "kind", "expected"),
    [
        ("PD000001", "number", 1),
        ("pd 12", "number", 12),
        ("1", "number", 1),
        ("138 0013 8000", "contact", "phone"),
        ("+86 138-0013-8000", "contact", "phone"),
        ("898 3101 5411 0001", "contact", "merchant_no"),
        ("1234-5678", "contact", "terminal_no"),
        ("刷卡提示没有权限", "text", None),
    ],
)
def test_a_query_is_read_as_a_number_a_contact_or_words(typed, kind, expected):
    query = parse_query(typed)
    assert query.kind == kind
    if kind == "number":
        assert query.ticket_id == expected
    elif kind == "contact":
        assert query.field == expected


# --- the search box on the desk ------------------------------------------------------------------


def test_every_desk_page_has_the_ticket_search_box(agent_client, file):
    ticket = file("退货没有权限")
    for url in ("/agent/", f"/agent/tickets/{ticket.id}", "/agent/search"):
        page = text_of(agent_client.get(url))
        assert 'action="/agent/find"' in page, url


def test_a_ticket_number_opens_the_ticket(agent_client, file):
    file("第一个工单，刷卡没反应")
    second = file("第二个工单，钱没有到账")
    for typed in ("PD000002", "pd000002", "2", " PD 000002 "):
        response = agent_client.get("/agent/find", query_string={"q": typed})
        assert response.status_code == 302, typed
        assert response.headers["Location"].endswith(f"/agent/tickets/{second.id}")


def test_a_number_that_is_no_ticket_says_so(agent_client, file):
    file("退货没有权限")
    page = plain(agent_client.get("/agent/find", query_string={"q": "PD000099"}))
    assert "没有工单 PD000099" in page


def test_a_phone_lists_that_merchants_tickets_though_lists_mask_it(agent_client, file):
    mine = [file("刷卡提示没有权限", phone="138-0013-8000"), file("钱一直没有到账", phone="13800138000")]
    file("别人的工单，机器冻结了", phone="13900139000")
    response = agent_client.get("/agent/find", query_string={"q": "138 0013 8000"})
    page = plain(response)
    assert response.status_code == 200
    assert "找到 2 个工单" in page
    assert found_numbers(response) == [t.number for t in reversed(mine)]
    assert "别人的工单" not in page
    assert "138****8000" in page  # what the list shows stays masked


def test_a_merchant_no_and_a_terminal_no_list_their_tickets(agent_client, file):
    shop = file("商户的工单，交易失败", merchant_no="898310154110001", terminal_no="12345678")
    file("另一家的工单", merchant_no="898310154119999", terminal_no="87654321")
    for typed, label in (("898310154110001", "商户号"), ("1234 5678", "终端号")):
        response = agent_client.get("/agent/find", query_string={"q": typed})
        page = plain(response)
        assert found_numbers(response) == [shop.number], typed
        assert f"匹配{label}" in page


def test_words_search_ticket_text_with_the_words_highlighted(agent_client, file):
    frozen = file("我们的商户被冻结了，钱也不能结算")
    file("打印机不出纸")
    response = agent_client.get("/agent/find", query_string={"q": "冻结"})
    page = text_of(response)
    assert found_numbers(response) == [frozen.number]
    assert re.search(r"<mark>被?冻结</mark>", page)  # the word as the merchant wrote it (被冻结 is 冻结)
    assert 'href="/agent/search?q=%E5%86%BB%E7%BB%93"' in page and "搜索知识库文章" in page


def test_ticket_text_is_escaped_before_it_is_highlighted(agent_client, file):
    file("<script>alert(1)</script> 商户冻结了")
    page = text_of(agent_client.get("/agent/find", query_string={"q": "冻结"}))
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page and "<mark>冻结</mark>" in page


def test_text_search_ranks_the_ticket_richer_in_the_rarer_words_first(app, file, desk_of):
    file("结算")
    both = file("冻结以后结算也停了，冻结多久")
    file("冻结了")
    for n in range(4):
        file(f"结算慢 第{n}次")
    found = find_tickets(desk_of, "冻结 结算")
    assert found.hits[0].ticket.id == both.id
    assert len(found.hits) == 7


def test_words_no_ticket_holds_find_nothing(agent_client, file):
    file("退货没有权限")
    page = plain(agent_client.get("/agent/find", query_string={"q": "打印机卡纸"}))
    assert "没有找到与“打印机卡纸”匹配的工单" in page


def test_the_number_a_merchant_quotes_opens_the_ticket_page(agent_client, file):
    ticket = file("退货没有权限")
    response = agent_client.get(f"/agent/tickets/{ticket.number}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/agent/tickets/{ticket.id}")
    assert agent_client.get(response.headers["Location"]).status_code == 200
    assert agent_client.get("/agent/tickets/PDxyz").status_code == 404


def test_the_ticket_search_requires_login(client, file):
    file("退货没有权限")
    response = client.get("/agent/find", query_string={"q": "1"})
    assert response.status_code == 302 and "/agent/login" in response.headers["Location"]


# --- duplicates ---------------------------------------------------------------------------------


def test_marking_a_duplicate_records_it_on_both_and_resolves_it(app, file, desk_of):
    survivor = file("商户冻结了，不能刷卡", phone="13800138000")
    duplicate = file("又提交一次：商户冻结了", phone="13800138000")
    merged = mark_duplicate(desk_of, duplicate.id, survivor.number, "lina")
    assert merged.duplicate_of == survivor.id and merged.status == "resolved"
    assert [e.new for e in history(desk_of, duplicate.id) if e.action == "merged_into"] == [survivor.number]
    assert [e.new for e in history(desk_of, survivor.id) if e.action == "merged_from"] == [duplicate.number]
    assert [t.id for t in merged_into(desk_of, survivor.id)] == [duplicate.id]
    assert get_ticket(desk_of, survivor.id).status == "new"


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("self", "不能把工单合并到它自己"),
        ("unknown", "没有找到工单"),
        ("closed", "已关闭"),
        ("cycle", "循环"),
        ("merged target", "请合并到"),
    ],
)
def test_a_merge_that_makes_no_sense_is_refused_with_a_chinese_message(app, file, desk_of, case, message):
    a, b, c = file("第一个工单"), file("第二个工单"), file("第三个工单")
    target = {"self": a.number, "unknown": "PD009999", "closed": b.number, "cycle": b.number}.get(case, c.number)
    if case == "closed":
        set_status(desk_of, b.id, "closed", "lina")
    if case == "cycle":
        mark_duplicate(desk_of, b.id, a.number, "lina")
    if case == "merged target":
        mark_duplicate(desk_of, c.id, b.number, "lina")
    with pytest.raises(TicketError, match=message):
        mark_duplicate(desk_of, a.id, target, "lina")
    assert get_ticket(desk_of, a.id).duplicate_of is None
    assert get_ticket(desk_of, a.id).status == "new"


def test_the_ticket_pages_show_the_merge(agent_client, csrf, file):
    survivor = file("商户冻结了，不能刷卡")
    duplicate = file("第二次反映：商户冻结，请尽快处理")
    token = csrf(agent_client, f"/agent/tickets/{duplicate.id}")
    response = agent_client.post(
        f"/agent/tickets/{duplicate.id}/duplicate", data={"target": survivor.number, "csrf_token": token}
    )
    assert response.status_code == 302
    page = plain(agent_client.get(f"/agent/tickets/{duplicate.id}"))
    assert f"已合并到 {survivor.number}" in page
    assert "已解决" in page
    page = plain(agent_client.get(f"/agent/tickets/{survivor.id}"))
    assert "已合并到本工单的工单（1）" in page
    assert duplicate.number in page and "第二次反映：商户冻结，请尽快处理" in page


def test_a_refused_merge_shows_why_on_the_ticket_page(agent_client, csrf, file):
    ticket = file("商户冻结了，不能刷卡")
    token = csrf(agent_client, f"/agent/tickets/{ticket.id}")
    response = agent_client.post(
        f"/agent/tickets/{ticket.id}/duplicate",
        data={"target": ticket.number, "csrf_token": token},
        follow_redirects=True,
    )
    assert "合并未完成：不能把工单合并到它自己" in plain(response)


def test_the_same_merchants_status_link_follows_to_the_surviving_ticket(client, file, desk_of):
    survivor = file("商户冻结了，不能刷卡", phone="138 0013 8000")
    duplicate = file("又提交一次：商户冻结了", phone="13800138000")
    mark_duplicate(desk_of, duplicate.id, survivor.number, "lina")
    response = client.get(f"/tickets/track/{duplicate.status_key}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tickets/track/{survivor.status_key}")
    assert "商户冻结了，不能刷卡" in plain(client.get(response.headers["Location"]))


def test_another_merchants_status_link_stays_on_its_own_ticket(client, file, desk_of):
    survivor = file("商户冻结了，不能刷卡", name="王五", phone="13900139000", merchant_no="898310154110001")
    duplicate = file("我们也冻结了", phone="13800138000")
    mark_duplicate(desk_of, duplicate.id, survivor.number, "lina")
    response = client.get(f"/tickets/track/{duplicate.status_key}")
    page = plain(response)
    assert response.status_code == 200
    assert "我们也冻结了" in page and "已合并" in page
    assert survivor.number not in page and "商户冻结了，不能刷卡" not in page
    assert survivor.status_key not in text_of(response)
    assert "1391" not in page and "8983" not in page


@pytest.mark.parametrize("typed", ["", "   ", "PD999999999999999999", "x" * 5000])
def test_odd_queries_show_the_search_page(agent_client, typed):
    response = agent_client.get("/agent/find", query_string={"q": typed})
    assert response.status_code == 200
    assert "查找工单" in plain(response) and found_numbers(response) == []
