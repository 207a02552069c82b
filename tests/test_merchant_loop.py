"""The merchant loop: following a ticket through its private status link or by number and phone,
public replies both ways (never the internal notes), solving and rating, reply templates, and the API."""

from __future__ import annotations

import io
import json
import re
from urllib.parse import urlsplit

import pytest
from conftest import ticket_form
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from sqlalchemy import select, update

from webapp.db import get_desk
from webapp.desk.reply_templates import fill
from webapp.desk.schema import tickets, webhook_events
from webapp.desk.tickets import add_note, get_ticket
from webapp.reply_articles import first_step

PHONE = "13812345678"
TICKET = {
    "text": "今天退货提示该商户没有权限，应答码58",
    "name": "王女士",
    "phone": PHONE,
    "merchant_no": "898310048990001",
}


def page(response) -> str:
    return response.get_data(as_text=True)


def file_by_api(client, api_headers, **fields) -> dict:
    response = client.post("/api/v1/tickets", json={**TICKET, **fields}, headers=api_headers)
    assert response.status_code == 201, page(response)
    return response.get_json()["ticket"]


def path_of(ticket: dict) -> str:
    return urlsplit(ticket["status_url"]).path


def token_of(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def status_of(app, ticket_id: int) -> str:
    return get_ticket(get_desk(app), ticket_id).status


# --- following a ticket ---------------------------------------------------------------------------------


def test_api_filing_gives_a_private_status_link_whose_page_shows_the_ticket(client, api_headers):
    ticket = file_by_api(client, api_headers, email="wang@example.com")
    assert ticket["status_url"].startswith("http://localhost/tickets/track/")
    key = path_of(ticket).rsplit("/", 1)[1]
    assert len(key) >= 22  # at least 128 random bits, base64url

    response = client.get(path_of(ticket))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "noindex" in response.headers["X-Robots-Tag"]
    html = page(response)
    assert ticket["number"] in html and "今天退货提示该商户没有权限" in html
    assert "已受理" in html
    assert "138****5678" in html and PHONE not in html  # contact details masked
    assert "8983*******0001" in html and "w***@example.com" in html
    # Nothing of the triage: no category, no confidence, no model.
    assert "txn-not-enabled" not in html and "fake-1" not in html and "90%" not in html


def test_a_wrong_or_malformed_key_is_a_404(client, api_headers):
    ticket = file_by_api(client, api_headers)
    key = path_of(ticket).rsplit("/", 1)[1]
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert client.get(f"/tickets/track/{wrong}").status_code == 404
    assert client.get("/tickets/track/short").status_code == 404


def test_the_form_filing_shows_the_number_status_link_and_hotline(make_app, csrf):
    app = make_app(SUPPORT_HOTLINE="400-000-0000")
    client = app.test_client()
    token = csrf(client, "/tickets/new")
    filed = client.post("/tickets/new", data=ticket_form(token, reviewed="1", email="wang@example.com"))
    assert filed.status_code == 302
    html = page(client.get("/tickets/filed"))
    ticket = get_ticket(get_desk(app), 1)
    assert ticket.email == "wang@example.com"
    link = f"http://localhost/tickets/track/{ticket.status_key}"
    assert f'href="{link}"' in html and f'value="{link}"' in html  # a link and copyable text
    assert "400-000-0000" in html and ticket.number in html


def test_the_hotline_shows_only_when_configured(client, csrf):
    client.post("/tickets/new", data=ticket_form(csrf(client, "/tickets/new"), reviewed="1"))
    assert "客服热线" not in page(client.get("/tickets/filed"))


def test_a_bad_email_is_refused_by_form_and_api_alike(client, csrf, api_headers):
    response = client.post("/tickets/new", data=ticket_form(csrf(client, "/tickets/new"), email="not-an-address"))
    assert response.status_code == 400 and "请填写有效的电子邮箱" in page(response)
    refused = client.post("/api/v1/tickets", json={**TICKET, "email": "not-an-address"}, headers=api_headers)
    assert refused.status_code == 400 and "email" in refused.get_json()["error"]


def test_lookup_by_number_and_phone_finds_the_ticket(client, api_headers, csrf):
    ticket = file_by_api(client, api_headers)
    token = csrf(client, "/tickets/status")
    for number, phone in ((ticket["number"], PHONE), ("pd 1", "138-1234-5678"), ("1", "+86 138 1234 5678")):
        response = client.post("/tickets/status", data={"number": number, "phone": phone, "csrf_token": token})
        assert response.status_code == 302 and response.headers["Location"] == path_of(ticket)


def test_lookup_fails_identically_for_a_wrong_number_and_a_wrong_phone(client, api_headers, csrf):
    ticket = file_by_api(client, api_headers)
    file_by_api(client, api_headers, phone="13900001111")  # ticket 2 exists, with another phone
    token = csrf(client, "/tickets/status")
    answers = []
    for number, phone in (("PD000002", PHONE), ("PD000099", PHONE), (ticket["number"], "13900001111")):
        response = client.post("/tickets/status", data={"number": number, "phone": phone, "csrf_token": token})
        # The form's CSRF token is signed with the current second: two answers a second apart differ there.
        answer = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]*', r"\1", page(response))
        answers.append((response.status_code, answer.replace(number, "NUMBER")))
    assert answers[0][0] == 404 and "没有找到匹配的工单" in answers[0][1]
    assert answers[0] == answers[1] == answers[2]
    assert PHONE not in answers[0][1]  # the phone typed is never echoed


def test_lookup_needs_a_csrf_token(client, api_headers):
    file_by_api(client, api_headers)
    client.get("/tickets/status")
    assert client.post("/tickets/status", data={"number": "PD000001", "phone": PHONE}).status_code == 400


def test_lookup_is_rate_limited(make_app, csrf):
    app = make_app(TICKET_LOOKUP_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf(client, "/tickets/status")
    codes = [
        client.post("/tickets/status", data={"number": f"PD{n:06d}", "phone": PHONE, "csrf_token": token}).status_code
        for n in range(1, 6)
    ]
    assert codes == [404, 404, 404, 429, 429]


def test_internal_notes_and_other_tickets_never_reach_the_status_page(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    other = file_by_api(client, api_headers, text="另一家店的结算款没有到账，请帮忙查询")
    add_note(get_desk(app), ticket["id"], "内部：疑似套现，先别回复", "lina")
    html = page(client.get(path_of(ticket)))
    assert "疑似套现" not in html and "内部备注" not in html
    assert "结算款没有到账" not in html and other["number"] not in html


# --- replies ---------------------------------------------------------------------------------------------


def test_a_reply_posted_through_the_api_appears_on_the_status_page(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    body = {"body": "请先在管理菜单里签到后重试。", "article": "refund-void-permission"}
    created = client.post(f"/api/v1/tickets/{ticket['id']}/replies", json=body, headers=api_headers)
    assert created.status_code == 201
    reply = created.get_json()["reply"]
    assert reply["author_kind"] == "agent" and reply["display_name"] == "客服"

    html = page(client.get(path_of(ticket)))
    assert "请先在管理菜单里签到后重试。" in html and "客服" in html
    assert "退货或撤销时提示" in html or "/articles/refund-void-permission" in html
    assert "第一步：先确认这笔该做撤销还是退货" in html  # the article's first step, links as text
    assert "处理中" in html  # a reply to a new ticket takes it to open
    again = client.get(f"/api/v1/tickets/{ticket['id']}", headers=api_headers).get_json()["ticket"]
    assert [r["body"] for r in again["replies"]] == ["请先在管理菜单里签到后重试。"]
    assert status_of(app, ticket["id"]) == "open"


def test_api_replies_are_checked(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = f"/api/v1/tickets/{ticket['id']}/replies"
    assert client.post(url, json={"body": "x"}).status_code == 401
    for body in ({"body": ""}, {"body": "好", "article": "agent-enable-permission"}, {"body": "好", "cc": 1}):
        response = client.post(url, json=body, headers=api_headers)
        assert response.status_code == 400, body
    assert client.post("/api/v1/tickets/99/replies", json={"body": "好"}, headers=api_headers).status_code == 404
    with app.app_context():
        from webapp.desk.tickets import set_status

        set_status(get_desk(), ticket["id"], "closed", "lina")
    assert client.post(url, json={"body": "好"}, headers=api_headers).status_code == 409


def test_an_api_reply_asking_for_information_sets_pending(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    body = {"body": "请上传签购单照片", "asks_info": True}
    assert client.post(f"/api/v1/tickets/{ticket['id']}/replies", json=body, headers=api_headers).status_code == 201
    assert status_of(app, ticket["id"]) == "pending"
    assert "等待您补充" in page(client.get(path_of(ticket)))


def test_agent_public_replies_and_internal_notes_look_different(app, agent_client, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = f"/agent/tickets/{ticket['id']}"
    token = token_of(page(agent_client.get(url)))
    agent_client.post(f"{url}/note", data={"note": "仅内部：核对风控", "csrf_token": token})
    sent = agent_client.post(
        f"{url}/reply", data={"body": "已为您申请开通退货", "article": "refund-void-permission", "csrf_token": token}
    )
    assert sent.status_code == 302
    html = page(agent_client.get(url))
    conversation = html[html.index('id="replies"') : html.index('id="history"')]
    assert "已为您申请开通退货" in conversation and "客服 lina" in conversation and "公开回复" in conversation
    assert "仅内部：核对风控" not in conversation
    history = html[html.index('id="history"') :]
    assert re.search(r'class="note"><span class="badge badge-internal">仅客服可见</span> 仅内部：核对风控', history)
    status_page = page(client.get(path_of(ticket)))
    assert "客服 lina" in status_page and "已为您申请开通退货" in status_page and "核对风控" not in status_page


def test_an_agent_reply_asking_for_information_sets_pending(app, agent_client, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = f"/agent/tickets/{ticket['id']}"
    token = token_of(page(agent_client.get(url)))
    agent_client.post(f"{url}/reply", data={"body": "请提供终端号", "asks_info": "y", "csrf_token": token})
    assert status_of(app, ticket["id"]) == "pending"


def test_an_internal_article_cannot_go_into_a_public_reply(app, agent_client, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = f"/agent/tickets/{ticket['id']}"
    token = token_of(page(agent_client.get(url)))
    data = {"body": "见内部流程", "article": "agent-enable-permission", "csrf_token": token}
    agent_client.post(f"{url}/reply", data=data)
    assert "见内部流程" not in page(client.get(path_of(ticket)))


def _set_updated(app, ticket_id: int, stamp: str) -> None:
    with get_desk(app).write() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket_id).values(updated=stamp))


def test_a_merchant_reply_reopens_the_ticket_and_moves_updated(app, client, agent_client, api_headers):
    ticket = file_by_api(client, api_headers)
    client.post(
        f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "请补充", "asks_info": True}, headers=api_headers
    )
    assert status_of(app, ticket["id"]) == "pending"
    _set_updated(app, ticket["id"], "2020-01-01T00:00:00Z")

    token = token_of(page(client.get(path_of(ticket))))
    sent = client.post(f"{path_of(ticket)}/reply", data={"body": "终端号是 10086001", "csrf_token": token})
    assert sent.status_code == 302 and sent.headers["Location"] == path_of(ticket)
    stored = get_ticket(get_desk(app), ticket["id"])
    assert stored.status == "open" and stored.updated > "2020-01-01T00:00:00Z"
    assert "您的回复已发送" in page(client.get(path_of(ticket)))
    assert "终端号是 10086001" in page(agent_client.get(f"/agent/tickets/{ticket['id']}"))
    queue = page(agent_client.get("/agent/"))
    assert "商户已回复" in queue  # the queue shows the ticket as waiting for the desk again
    with get_desk(app).read() as conn:
        events = conn.execute(select(webhook_events.c.type, webhook_events.c.payload)).all()
    merchant_events = [json.loads(p) for t, p in events if t == "ticket.reply.merchant"]
    assert merchant_events[0]["data"]["reply"]["body"] == "终端号是 10086001"
    assert merchant_events[0]["data"]["ticket"]["number"] == ticket["number"]
    assert "ticket.reply.public" in {t for t, _ in events}


def test_a_merchant_reply_can_carry_photos(app, client, api_headers):
    from PIL import Image

    ticket = file_by_api(client, api_headers)
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(image, "PNG")
    token = token_of(page(client.get(path_of(ticket))))
    data = {"body": "签购单照片", "csrf_token": token, "photos": (io.BytesIO(image.getvalue()), "slip.png")}
    sent = client.post(f"{path_of(ticket)}/reply", data=data, content_type="multipart/form-data")
    assert sent.status_code == 302
    html = page(client.get(path_of(ticket)))
    thumb = re.search(rf'<img src="({re.escape(path_of(ticket))}/attachments/\d+/thumb)"', html)
    assert thumb
    served = client.get(thumb.group(1))
    served.close()
    assert served.status_code == 200 and served.mimetype == "image/jpeg"


def test_a_refused_photo_keeps_the_merchants_reply_text(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    token = token_of(page(client.get(path_of(ticket))))
    fake = (io.BytesIO(b"<html><script>alert(1)</script></html>"), "x.jpg")
    data = {"body": "这是我刚才打的字", "csrf_token": token, "photos": fake}
    refused = client.post(f"{path_of(ticket)}/reply", data=data, content_type="multipart/form-data")
    html = page(refused)
    assert refused.status_code == 400
    assert "只能上传" in html and "这是我刚才打的字</textarea>" in html
    assert "这是我刚才打的字" not in page(client.get(path_of(ticket)))  # nothing stored


def test_a_closed_ticket_takes_no_merchant_reply(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    with app.app_context():
        from webapp.desk.tickets import set_status

        set_status(get_desk(), ticket["id"], "closed", "lina")
    html = page(client.get(path_of(ticket)))
    assert 'id="reply-form"' not in html and "工单已关闭" in html
    client.post(f"{path_of(ticket)}/reply", data={"body": "还在吗", "csrf_token": token_of(html)})
    assert "还在吗" not in page(client.get(path_of(ticket)))


def test_the_merchant_solves_and_rates_once(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = path_of(ticket)
    token = token_of(page(client.get(url)))
    early = client.post(f"{url}/rating", data={"rating": "5", "csrf_token": token})
    assert early.status_code == 302 and get_ticket(get_desk(app), ticket["id"]).rating is None

    client.post(f"{url}/solved", data={"csrf_token": token})
    assert status_of(app, ticket["id"]) == "resolved"
    html = page(client.get(url))
    assert "已解决" in html and 'id="rating-form"' in html

    client.post(f"{url}/rating", data={"rating": "4", "comment": "很快", "csrf_token": token})
    second = client.post(f"{url}/rating", data={"rating": "1", "comment": "改主意了", "csrf_token": token})
    assert second.status_code == 302
    stored = get_ticket(get_desk(app), ticket["id"])
    assert (stored.rating, stored.rating_comment) == (4, "很快")
    html = page(client.get(url))
    assert "您已经评价过" in html and "4 分" in html and 'id="rating-form"' not in html
    rating = client.get(f"/api/v1/tickets/{ticket['id']}", headers=api_headers).get_json()["ticket"]["rating"]
    assert rating["score"] == 4 and rating["comment"] == "很快" and rating["at"]


def test_ratings_outside_one_to_five_are_refused(app, client, api_headers):
    ticket = file_by_api(client, api_headers)
    url = path_of(ticket)
    token = token_of(page(client.get(url)))
    client.post(f"{url}/solved", data={"csrf_token": token})
    client.post(f"{url}/rating", data={"rating": "6", "csrf_token": token})
    assert get_ticket(get_desk(app), ticket["id"]).rating is None


# --- reply templates -------------------------------------------------------------------------------------


def test_only_admins_manage_templates(agent_client, client):
    assert agent_client.get("/agent/admin/templates").status_code == 403
    assert client.get("/agent/admin/templates").status_code == 302


def test_templates_crud_and_placeholders_filled_for_the_ticket(app, admin_client, client, api_headers):
    ticket = file_by_api(client, api_headers)
    token = token_of(page(admin_client.get("/agent/admin/templates")))
    body = "您好，工单 {工单号}（商户号 {商户号}）请看：{文章链接} {其他}"
    created = admin_client.post(
        "/agent/admin/templates",
        data={"name": "退货权限", "category": "txn-not-enabled", "body": body, "csrf_token": token},
    )
    assert created.status_code == 302
    assert "退货权限" in page(admin_client.get("/agent/admin/templates"))
    edited = admin_client.post(
        "/agent/admin/templates/1", data={"name": "退货权限开通", "category": "", "body": body, "csrf_token": token}
    )
    assert edited.status_code == 302 and "退货权限开通" in page(admin_client.get("/agent/admin/templates"))
    assert (
        admin_client.post(
            "/agent/admin/templates", data={"name": "坏", "category": "no-such", "body": "x", "csrf_token": token}
        ).status_code
        == 400
    )

    url = f"/agent/tickets/{ticket['id']}"
    html = page(admin_client.get(url))
    assert "退货权限开通" in html  # offered on the ticket page
    filled = page(admin_client.get(f"{url}?template=1&article=refund-void-permission"))
    expected = (
        f"您好，工单 {ticket['number']}（商户号 898310048990001）请看："
        "http://localhost/articles/refund-void-permission {其他}"
    )
    assert expected in filled

    assert admin_client.post("/agent/admin/templates/1/delete", data={"csrf_token": token}).status_code == 302
    assert "退货权限开通" not in page(admin_client.get("/agent/admin/templates"))
    assert admin_client.post("/agent/admin/templates/1/delete", data={"csrf_token": token}).status_code == 404


@pytest.mark.parametrize(
    "body, values, filled",
    [
        ("工单 {工单号}", {"工单号": "PD000001"}, "工单 PD000001"),
        ("链接 {文章链接}。", {}, "链接 。"),  # a missing value becomes empty
        ("{商户号}", {"商户号": "{工单号}", "工单号": "PD1"}, "{工单号}"),  # values are never expanded again
        ("{未知} {{工单号}}", {"工单号": "PD1"}, "{未知} {PD1}"),
    ],
)
def test_placeholders_are_filled_once(body, values, filled):
    assert fill(body, values) == filled


def test_the_first_step_is_the_first_item_of_the_steps_section():
    body = (
        "## 症状\n\n1. 不是这个\n\n## 处理步骤\n\n先看这里：\n\n1. **签到**后见[参数下载](/articles/x)。\n2. 第二步\n"
    )
    assert first_step(body) == "签到后见参数下载。"
    assert first_step("## 原因\n\n1. 没有步骤") == ""


# --- the OpenAPI document --------------------------------------------------------------------------------


def test_the_openapi_document_describes_replies_and_status_links(client, api_headers):
    spec = client.get("/api/openapi.json").get_json()
    validate(spec)
    assert "post" in spec["paths"]["/api/v1/tickets/{ticket_id}/replies"]

    def conforms(name: str, instance) -> None:
        OAS30Validator({"$ref": f"#/components/schemas/{name}", "components": spec["components"]}).validate(instance)

    ticket = file_by_api(client, api_headers, email="wang@example.com")
    reply = client.post(f"/api/v1/tickets/{ticket['id']}/replies", json={"body": "好的"}, headers=api_headers)
    conforms("ReplyResponse", reply.get_json())
    conforms("TicketResponse", client.get(f"/api/v1/tickets/{ticket['id']}", headers=api_headers).get_json())
