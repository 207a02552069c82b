"""The merchant pages: browsing, reading, voting, searching and filing a ticket."""

import re
from pathlib import Path

from conftest import ticket_form

from kb.store import load_categories
from webapp.desk.feedback import vote_summary
from webapp.desk.listing import TicketQuery, list_page
from webapp.desk.tickets import get_ticket


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_home_has_search_categories_most_read_and_help(client):
    page = text_of(client.get("/"))
    assert 'action="/search"' in page
    assert page.count('class="category-card"') == len(load_categories()) == 14
    assert "交易功能未开通" in page and re.search(r"\d+ 篇文章", page)
    assert "大家都在看" in page
    assert 'href="/tickets/new"' in page
    assert "【内部】" not in page


def test_category_page_lists_its_public_articles_and_codes(client):
    page = text_of(client.get("/categories/txn-not-enabled"))
    assert "/articles/refund-void-permission" in page
    assert "agent-enable-permission" not in page
    assert 'href="/codes/58"' in page
    assert client.get("/categories/no-such-thing").status_code == 404


def test_article_is_rendered_with_codes_related_and_vote_form(client):
    page = text_of(client.get("/articles/refund-void-permission"))
    assert "<h2>症状</h2>" in page and "<h2>处理步骤</h2>" in page
    assert 'href="/codes/58"' in page
    assert 'class="link-list"' in page and "/articles/void-vs-refund" in page
    assert "这篇文章有帮助吗？" in page
    assert client.get("/articles/no-such-article").status_code == 404


def test_internal_articles_are_invisible_to_merchants(client):
    assert client.get("/articles/agent-enable-permission").status_code == 404
    assert "agent-enable-permission" not in text_of(client.get("/search?q=开通交易权限受理流程"))
    assert "agent-" not in text_of(client.get("/categories/txn-not-enabled"))
    assert "agent-" not in text_of(client.get("/codes/58"))


def test_code_page_shows_meaning_who_acts_and_articles(client):
    page = text_of(client.get("/codes/58"))
    assert "不允许终端进行的交易" in page or "58" in page
    assert "由谁处理" in page and "终端显示" in page
    assert "/articles/" in page
    redirect = client.get("/codes/a0")
    assert redirect.status_code == 301 and redirect.headers["Location"].endswith("/codes/A0")
    assert client.get("/codes/ZZ").status_code == 404


def test_search_highlights_matches(client):
    page = text_of(client.get("/search", query_string={"q": "退货提示没有权限"}))
    assert "/articles/refund-void-permission" in page
    assert "<mark>" in page


def test_search_without_results_suggests_categories_and_a_ticket(client):
    page = text_of(client.get("/search", query_string={"q": "火星天气预报"}))
    assert "没有找到" in page
    assert "/categories/txn-not-enabled" in page
    assert 'href="/tickets/new"' in page


def test_search_query_is_escaped(client):
    page = text_of(client.get("/search", query_string={"q": "<script>alert(1)</script>"}))
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_most_read_follows_views(app, client):
    from webapp.backlog import worker

    for _ in range(3):
        client.get("/articles/printer-issue")
    assert worker(app).flush_writes() == 3  # what the background worker does every few seconds
    page = text_of(client.get("/"))
    popular = page[page.index("大家都在看") :]
    assert popular.index("/articles/printer-issue") < popular.index("</ol>")
    assert re.search(r'<li><a href="/articles/printer-issue"', popular)


def test_vote_once_per_visitor(app, client, csrf):
    token = csrf(client, "/articles/printer-issue/feedback")
    first = client.post(
        "/articles/printer-issue/vote", data={"helpful": "yes", "comment": "很清楚", "csrf_token": token}
    )
    assert first.status_code == 302 and "posdesk_visitor=" in first.headers["Set-Cookie"]
    assert "HttpOnly" in first.headers["Set-Cookie"]
    assert "感谢您的反馈" in text_of(client.get(first.headers["Location"]))
    again = client.post("/articles/printer-issue/vote", data={"helpful": "no", "csrf_token": token})
    assert again.status_code == 302
    with app.app_context():
        from webapp.db import get_desk

        summary = vote_summary(get_desk(), "printer-issue")
    assert (summary.helpful, summary.unhelpful) == (1, 0)

    other = app.test_client()
    token = csrf(other, "/articles/printer-issue/feedback")
    other.post("/articles/printer-issue/vote", data={"helpful": "no", "csrf_token": token})
    with app.app_context():
        summary = vote_summary(get_desk(), "printer-issue")
    assert (summary.helpful, summary.unhelpful) == (1, 1)


def test_vote_needs_a_choice_and_a_public_article(client, csrf):
    token = csrf(client, "/articles/printer-issue/feedback")
    assert client.post("/articles/printer-issue/vote", data={"csrf_token": token}).status_code == 400
    assert (
        client.post("/articles/agent-enable-permission/vote", data={"helpful": "yes", "csrf_token": token}).status_code
        == 404
    )


def test_ticket_form_first_shows_articles_then_files(app, client, csrf):
    token = csrf(client, "/tickets/new")
    first = client.post("/tickets/new", data=ticket_form(token))
    page = text_of(first)
    assert first.status_code == 200
    assert "先看看这些文章" in page and "/articles/refund-void-permission" in page
    assert 'name="reviewed" type="hidden" value="1"' in page
    assert "仍然提交工单" in page
    with app.app_context():
        from webapp.db import get_desk

        assert list_page(get_desk(), TicketQuery(), "newest").total == 0

    second = client.post("/tickets/new", data=ticket_form(token, reviewed="1"))
    assert second.status_code == 302 and second.headers["Location"].endswith("/tickets/filed")
    filed = text_of(client.get("/tickets/filed"))
    assert "工单已提交" in filed
    number = re.search(r'id="ticket-number">(PD\d{6})<', filed).group(1)
    assert "/articles/refund-void-permission" in filed
    with app.app_context():
        ticket = get_ticket(get_desk(), int(number[2:]))
    assert ticket.category == "txn-not-enabled" and ticket.triage_status == "done"
    assert (ticket.name, ticket.phone, ticket.merchant_no, ticket.terminal_no) == (
        "王女士",
        "13812345678",
        "898310048990001",
        "10086001",
    )


def test_ticket_without_matching_articles_is_filed_at_once(client, csrf):
    token = csrf(client, "/tickets/new")
    response = client.post("/tickets/new", data=ticket_form(token, description="火星上的天气怎么样呢朋友"))
    assert response.status_code == 302


def test_ticket_form_validates_in_chinese(app, client, csrf):
    token = csrf(client, "/tickets/new")
    response = client.post("/tickets/new", data=ticket_form(token, name="", phone="abc", description="短"))
    page = text_of(response)
    assert response.status_code == 400
    assert "请填写联系人姓名" in page and "请填写有效的手机号或座机号" in page and "问题描述需要" in page
    too_long = client.post("/tickets/new", data=ticket_form(token, description="字" * 2001, reviewed="1"))
    assert "问题描述需要 5 到 2000 个字" in text_of(too_long)


def test_filed_ticket_masks_card_numbers(app, client, csrf):
    token = csrf(client, "/tickets/new")
    client.post("/tickets/new", data=ticket_form(token, description="卡号 4111 1111 1111 1111 刷卡失败", reviewed="1"))
    with app.app_context():
        from webapp.db import get_desk

        stored = list_page(get_desk(), TicketQuery(), "newest").tickets[0].text
    assert stored == "卡号 411111******1111 刷卡失败"


def test_filed_page_without_a_ticket_goes_to_the_form(client):
    response = client.get("/tickets/filed")
    assert response.status_code == 302 and response.headers["Location"].endswith("/tickets/new")


def test_without_a_model_the_ticket_waits_untriaged(app, client, csrf):
    (Path(app.config["MODEL_DIR"]) / "model.json").unlink()
    token = csrf(client, "/tickets/new")
    assert client.post("/tickets/new", data=ticket_form(token, reviewed="1")).status_code == 302
    assert "工单已提交" in text_of(client.get("/tickets/filed"))
    with app.app_context():
        from webapp.db import get_desk

        ticket = list_page(get_desk(), TicketQuery(), "newest").tickets[0]
    assert ticket.triage_status == "pending"


def test_ticket_page_script_and_assets_are_local(client):
    page = text_of(client.get("/tickets/new"))
    assert re.search(r'src="/static/js/suggest\.[0-9a-f]{12}\.js"', page)
    assert 'data-suggest-url="/tickets/suggestions"' in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    with client.get("/static/js/suggest.js") as script:
        assert script.status_code == 200
    with client.get("/static/css/posdesk.css") as css:
        assert css.status_code == 200 and b"@import" not in css.data and b"url(http" not in css.data


def test_codes_index_lists_every_code_with_its_page(client):
    from kb.codes import load_codes

    page = text_of(client.get("/codes/"))
    for code in load_codes():
        assert f'href="/codes/{code}"' in page
    assert "商户在终端上处理" in page and "持卡人联系发卡行" in page


def test_a_code_in_the_query_puts_its_card_above_the_articles(client):
    page = text_of(client.get("/search?q=应答码58"))
    card, results = page.index('class="card code-card code-hit" href="/codes/58"'), page.index('class="results"')
    assert card < results and "不允许终端进行的交易" in page[card:results]
    assert "code-hit" not in text_of(client.get("/search?q=退货显示没有权限"))
