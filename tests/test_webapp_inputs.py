"""Bad input anywhere is a 4xx with a message in the person's language, and nothing is stored: the
one ticket schema shared by the form and the API, contact fields checked by kind, and the inputs that
used to crash the app (huge ids, odd digits, lone surrogates, deep JSON, oversized and undecodable
bodies)."""

import io
import json
import re

import pytest
from conftest import ticket_form

from webapp.db import get_desk
from webapp.desk.listing import TicketQuery, list_page
from webapp.desk.tickets import file_ticket

CARD = "4111111111111111"


def text_of(response) -> str:
    return response.get_data(as_text=True)


def ticket_count(app) -> int:
    with app.app_context():
        return list_page(get_desk(), TicketQuery(), "newest").total


def api_error(response, status: int) -> dict:
    assert response.status_code == status, text_of(response)
    body = response.get_json()
    assert body["ok"] is False and body["status"] == status and re.search(r"[\u4e00-\u9fff]", body["message"])
    return body


def form(csrf_token: str, **overrides) -> dict:
    """The ticket form, with a description no article matches: filed on the first submit."""
    return ticket_form(csrf_token, **{"description": "火星上的天气怎么样呢朋友", **overrides})


# --- one schema for the form and the API ---------------------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("phone", CARD, "像是银行卡号"),
        ("phone", "4111 1111 1111 1111", "像是银行卡号"),
        ("phone", "12345", "请填写有效的手机号或座机号"),
        ("name", f"王 {CARD}", "姓名里请不要填写"),
        ("name", "王女士13812345678", "姓名里请不要填写"),
        ("merchant_no", "4111111111111111", "商户号填的像是银行卡号"),
        ("terminal_no", "4111111111111111", "终端号填的像是银行卡号"),
        ("description", "    短    ", "问题描述需要 5 到 2000 个字"),
    ],
)
def test_contact_fields_are_checked_by_kind_on_the_form_and_the_api(
    app, client, csrf, api_headers, field, value, message
):
    page = client.post("/tickets/new", data=form(csrf(client, "/tickets/new"), **{field: value}))
    assert page.status_code == 400 and message in text_of(page)
    api_field = "text" if field == "description" else field
    body = {"text": "退货提示没有权限", **{api_field: value}}
    error = api_error(client.post("/api/v1/tickets", json=body, headers=api_headers), 400)
    assert message in error["message"] and api_field in error["error"]
    assert ticket_count(app) == 0


@pytest.mark.parametrize(
    "phone", ["13812345678", "+86 138 1234 5678", "138-1234-5678", "010-12345678", "(0755) 8888 1234", "4008123123"]
)
def test_real_phone_numbers_are_accepted(client, api_headers, phone):
    response = client.post("/api/v1/tickets", json={"text": "退货提示没有权限", "phone": phone}, headers=api_headers)
    assert response.status_code == 201, text_of(response)
    assert response.get_json()["ticket"]["contact"]["phone"] == phone  # a mobile is not masked as a card


def test_fields_are_trimmed_before_the_limits_on_both_paths(app, client, csrf, api_headers):
    padded = " " * 10 + "字" * 2000 + " " * 10
    assert client.post("/tickets/new", data=form(csrf(client, "/tickets/new"), description=padded)).status_code == 302
    created = client.post("/api/v1/tickets", json={"text": padded, "name": "  王女士  "}, headers=api_headers)
    assert created.status_code == 201
    assert created.get_json()["ticket"]["contact"]["name"] == "王女士"
    assert ticket_count(app) == 2


def test_the_api_takes_contact_as_it_returns_it(client, api_headers):
    contact = {"name": "王女士", "phone": "13812345678", "merchant_no": "898310048990001", "terminal_no": "10086001"}
    created = client.post("/api/v1/tickets", json={"text": "退货提示没有权限", "contact": contact}, headers=api_headers)
    assert created.status_code == 201
    ticket = created.get_json()["ticket"]
    assert ticket["contact"] == {**contact, "email": ""}
    again = client.post(
        "/api/v1/tickets", json={"text": ticket["text"], "contact": ticket["contact"]}, headers=api_headers
    )
    assert again.status_code == 201 and again.get_json()["ticket"]["contact"] == {**contact, "email": ""}


@pytest.mark.parametrize(
    "body, named",
    [
        ({"text": "退货提示没有权限", "priority": "high", "Name": "x"}, "'Name', 'priority'"),
        ({"text": "退货提示没有权限", "contact": {"wechat": "a@b.c"}}, "'wechat'"),
        ({"text": "退货提示没有权限", "id": 1, "number": "PD000001"}, "'id', 'number'"),
    ],
)
def test_unknown_fields_are_refused_by_name(app, client, api_headers, body, named):
    error = api_error(client.post("/api/v1/tickets", json=body, headers=api_headers), 400)
    assert "unknown fields" in error["error"] and named in error["error"] and "不认识的字段" in error["message"]
    assert ticket_count(app) == 0


def test_a_contact_field_given_twice_differently_is_refused(client, api_headers):
    body = {"text": "退货提示没有权限", "phone": "13812345678", "contact": {"phone": "13912345678"}}
    assert "given twice" in api_error(client.post("/api/v1/tickets", json=body, headers=api_headers), 400)["error"]


# --- an Idempotency-Key makes a retry safe -------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_same_ticket(app, client, api_headers):
    headers = {**api_headers, "Idempotency-Key": "order-7781-attempt"}
    body = {"text": "退货提示没有权限", "phone": "13812345678"}
    first = client.post("/api/v1/tickets", json=body, headers=headers)
    retry = client.post("/api/v1/tickets", json=body, headers=headers)
    assert (first.status_code, retry.status_code) == (201, 200)
    assert retry.get_json()["ticket"]["id"] == first.get_json()["ticket"]["id"]
    other = client.post("/api/v1/tickets", json={**body, "text": "钱没有到账怎么办"}, headers=headers)
    assert "different request" in api_error(other, 422)["error"]
    bad_key = client.post("/api/v1/tickets", json=body, headers={**api_headers, "Idempotency-Key": "空格 不行"})
    assert "Idempotency-Key" in api_error(bad_key, 400)["error"]
    assert ticket_count(app) == 1


# --- inputs that used to crash the app -----------------------------------------------------------


def test_a_ticket_id_past_sqlite_integers_is_a_404(client, api_headers, agent_client):
    error = api_error(client.get("/api/v1/tickets/9223372036854775808", headers=api_headers), 404)
    assert error["error"] == "not found"
    assert agent_client.get("/agent/tickets/9223372036854775808").status_code == 404
    assert api_error(client.get("/api/v1/tickets/9223372036854775807", headers=api_headers), 404)


@pytest.mark.parametrize("limit", ["²", "١٠", "1e1", "-1", "10000"])
def test_a_limit_that_is_not_ascii_digits_is_a_400(client, limit):
    error = api_error(client.get("/api/v1/search", query_string={"q": "退货", "limit": limit}), 400)
    assert "limit" in error["error"]


def test_a_lone_surrogate_in_json_is_a_400(app, client, api_headers):
    raw = '{"text": "退货没有权限\\ud800"}'
    headers = {**api_headers, "Content-Type": "application/json"}
    error = api_error(client.post("/api/v1/tickets", data=raw, headers=headers), 400)
    assert "not valid Unicode" in error["error"]
    api_error(client.post("/api/v1/triage", data=raw, headers=headers), 400)
    assert api_error(client.post("/api/v1/tickets", data='{"\\udc00": 1}', headers=headers), 400)
    assert ticket_count(app) == 0


def test_deeply_nested_json_is_a_400(client, api_headers):
    raw = "[" * 5000 + "]" * 5000
    headers = {**api_headers, "Content-Type": "application/json"}
    assert "nested too deeply" in api_error(client.post("/api/v1/tickets", data=raw, headers=headers), 400)["error"]
    assert api_error(client.post("/api/v1/search", data='{"q": ' + raw + "}", headers=headers), 400)


def test_json_that_is_not_utf8_is_a_400(client, api_headers):
    headers = {**api_headers, "Content-Type": "application/json"}
    error = api_error(client.post("/api/v1/tickets", data=b'{"text": "\xff\xfe\xfd"}', headers=headers), 400)
    assert "UTF-8" in error["error"]


@pytest.mark.parametrize("query", ["page=9223372036854775807", "page=-5", "to=9999-12-31", "from=0001-01-01"])
def test_queue_parameters_out_of_range_show_the_queue(app, agent_client, query):
    with app.app_context():
        file_ticket(get_desk(), "退货提示没有权限")
    response = agent_client.get(f"/agent/?{query}")
    assert response.status_code == 200 and "共 1 个工单" in text_of(response)


def test_an_agent_post_over_the_body_limit_is_a_413_page(app, agent_client, csrf):
    with app.app_context():
        ticket = file_ticket(get_desk(), "退货提示没有权限")
    token = csrf(agent_client, f"/agent/tickets/{ticket.id}")
    big = {"note": "字" * 40000, "csrf_token": token}
    for url in (f"/agent/tickets/{ticket.id}/note", "/agent/logout", "/agent/password", "/agent/admin/users"):
        response = agent_client.post(url, data=big)
        assert response.status_code == 413, url
        assert "提交的内容太大" in text_of(response)


def test_a_chunked_body_over_the_limit_is_a_413(client, api_headers):
    body = json.dumps({"text": "字" * 40000}).encode()
    response = client.post(
        "/api/v1/tickets",
        input_stream=io.BytesIO(body),
        headers={**api_headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert api_error(response, 413)["error"].startswith("request body larger than")


def _multipart(fields: dict[str, bytes], boundary: str = "posdesk-test-boundary") -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields.items()
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_a_form_that_is_not_utf8_is_a_400_and_nothing_is_stored(app, client, csrf, encoding):
    token = csrf(client, "/tickets/new")
    if encoding == "urlencoded":
        body = f"csrf_token={token}&name=%E7%8E%8B&phone=13812345678&description=%FF%FE%FD%FF%FE%FD&reviewed=1"
        content_type = "application/x-www-form-urlencoded"
    else:
        fields = {"csrf_token": token.encode(), "name": "王".encode(), "phone": b"13812345678"}
        body = _multipart({**fields, "description": b"\xff\xfe\xfd\xff\xfe\xfd", "reviewed": b"1"})
        content_type = "multipart/form-data; boundary=posdesk-test-boundary"
    response = client.post("/tickets/new", data=body, content_type=content_type)
    assert response.status_code == 400 and "无法识别的字符" in text_of(response)
    assert ticket_count(app) == 0
