"""The JSON API: tickets, triage, search, articles and categories, with tokens and the error shape."""

import json
import os
import re
from pathlib import Path

import pytest

from kb.store import load_categories
from webapp import backlog
from webapp.db import get_desk
from webapp.desk.listing import TicketQuery, list_page

TICKET = {
    "text": "退货提示没有权限，应答码58",
    "name": "王女士",
    "phone": "13812345678",
    "merchant_no": "898310048990001",
}


def assert_error(response, status: int, fragment: str = ""):
    """Every error: that status and exactly {"ok": false, "error": "<English>", "status": N, "message":
    "<Chinese>"}."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"ok", "error", "status", "message"}
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert re.search(r"[\u4e00-\u9fff]", body["message"]), body["message"]
    assert fragment in body["error"]


def test_create_ticket_returns_201_with_triage(client, api_headers):
    response = client.post("/api/v1/tickets", json=TICKET, headers=api_headers)
    assert response.status_code == 201
    body = response.get_json()
    ticket = body["ticket"]
    assert body["ok"] is True
    assert ticket["number"] == f"PD{ticket['id']:06d}" and ticket["source"] == "api"
    assert ticket["triage_status"] == "done"
    assert ticket["triage"]["category"] == "txn-not-enabled"
    assert ticket["triage"]["codes"] == ["58"]
    assert ticket["contact"]["merchant_no"] == "898310048990001"
    assert response.headers["Location"] == f"/api/v1/tickets/{ticket['id']}"
    again = client.get(response.headers["Location"], headers=api_headers)
    assert again.status_code == 200 and again.get_json()["ticket"] == ticket


def test_ticket_text_is_masked_before_storing(client, api_headers):
    created = client.post("/api/v1/tickets", json={"text": "卡号4111-1111-1111-1111 刷不了"}, headers=api_headers)
    assert created.get_json()["ticket"]["text"] == "卡号411111******1111 刷不了"


def test_without_a_model_tickets_are_pending_then_triaged(app, client, api_headers):
    sidecar = Path(app.config["MODEL_DIR"]) / "model.json"
    sidecar.unlink()
    created = client.post("/api/v1/tickets", json=TICKET, headers=api_headers).get_json()["ticket"]
    assert created["triage"] is None and created["triage_status"] == "pending"
    assert_error(client.post("/api/v1/triage", json={"text": "退货"}, headers=api_headers), 503, "no triage model")

    sidecar.write_text("{}", encoding="utf-8")
    # No request triages the backlog: the background worker (or `posdesk triage pending`) does.
    meanwhile = client.get(f"/api/v1/tickets/{created['id']}", headers=api_headers).get_json()["ticket"]
    assert meanwhile["triage_status"] == "pending"
    assert backlog.worker(app).run_once() == 1
    later = client.get(f"/api/v1/tickets/{created['id']}", headers=api_headers).get_json()["ticket"]
    assert later["triage_status"] == "done" and later["category"] == "txn-not-enabled"


def test_model_is_reloaded_when_its_files_change(app, client, api_headers, fake_triager):
    assert (
        client.post("/api/v1/triage", json={"text": "x"}, headers=api_headers).get_json()["triage"]["model_version"]
        == "fake-1"
    )
    fake_triager.version = "fake-2"  # what the loader returns next
    sidecar = Path(app.config["MODEL_DIR"]) / "model.json"
    sidecar.write_text('{"retrained": true}', encoding="utf-8")
    stat = sidecar.stat()
    os.utime(sidecar, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert (
        client.post("/api/v1/triage", json={"text": "x"}, headers=api_headers).get_json()["triage"]["model_version"]
        == "fake-2"
    )


def test_triage_classifies_without_storing(app, client, api_headers):
    response = client.post("/api/v1/triage", json={"text": "商户被冻结了"}, headers=api_headers)
    assert response.status_code == 200
    triage = response.get_json()["triage"]
    assert triage["category"] == "merchant-risk-status"
    assert {"confidence", "alternatives", "codes", "articles", "needs_review", "explanation", "model_version"} <= set(
        triage
    )
    assert list_page(get_desk(app), TicketQuery(), "newest").total == 0


@pytest.mark.parametrize(
    "method, url",
    [("post", "/api/v1/tickets"), ("get", "/api/v1/tickets/1"), ("post", "/api/v1/triage")],
)
def test_ticket_and_triage_endpoints_need_a_token(client, method, url):
    response = getattr(client, method)(url, json=TICKET)
    assert_error(response, 401, "API token")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header, fragment",
    [("Bearer pd_not-a-real-token", "invalid"), ("Basic dXNlcjpwYXNz", "Bearer"), ("Bearer ", "Bearer")],
)
def test_bad_tokens_get_401(client, header, fragment):
    assert_error(client.get("/api/v1/search?q=退货", headers={"Authorization": header}), 401, fragment)


def test_revoked_token_gets_401(app, client, api_headers):
    from webapp.db import get_desk
    from webapp.desk.accounts import revoke_token

    assert client.get("/api/v1/tickets/1", headers=api_headers).status_code == 404
    with app.app_context():
        revoke_token(get_desk(), "tests")
    assert_error(client.get("/api/v1/tickets/1", headers=api_headers), 401, "revoked")


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "text is required"),
        ({"text": ""}, "text is empty"),
        ({"text": "   "}, "text is empty"),
        ({"text": 42}, "text must be a string"),
        ({"text": ["退货"]}, "text must be a string"),
        ({"text": "字" * 2001}, "longer than 2000 characters"),
        ({"text": "退货", "phone": 13812345678}, "phone must be a string"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_ticket_input_gets_400_and_stores_nothing(app, client, api_headers, body, fragment):
    assert_error(client.post("/api/v1/tickets", json=body, headers=api_headers), 400, fragment)
    assert list_page(get_desk(app), TicketQuery(), "newest").total == 0


def test_malformed_json_gets_400(client, api_headers):
    response = client.post(
        "/api/v1/triage", data="{not json", headers={**api_headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400, "JSON object")
    assert_error(client.post("/api/v1/triage", data="text=退货", headers=api_headers), 400, "JSON object")


def test_text_at_the_limit_is_accepted(client, api_headers):
    assert client.post("/api/v1/triage", json={"text": "字" * 2000}, headers=api_headers).status_code == 200


def test_too_large_body_gets_413(client, api_headers):
    assert_error(client.post("/api/v1/tickets", json={"text": "字" * 40000}, headers=api_headers), 413, "larger than")


def test_unknown_ticket_route_and_method(client, api_headers):
    assert_error(client.get("/api/v1/tickets/999", headers=api_headers), 404, "no ticket 999")
    assert_error(client.get("/api/v1/nothing-here"), 404)
    assert_error(client.delete("/api/v1/tickets/1", headers=api_headers), 405)


def test_rate_limit_gets_429(make_app):
    client = make_app(API_RATE_LIMIT="3 per minute").test_client()
    for _ in range(3):
        assert client.get("/api/v1/search?q=退货").status_code == 200
    assert_error(client.get("/api/v1/search?q=退货"), 429, "rate limit")


def test_public_search_returns_merchant_articles_with_highlights(client):
    body = client.get("/api/v1/search", query_string={"q": "退货提示没有权限", "limit": 5}).get_json()
    assert body["ok"] and body["audience"] == "merchant"
    assert body["results"][0]["slug"] == "refund-void-permission"
    assert body["results"][0]["url"] == "/articles/refund-void-permission"
    assert any("<mark>" in r["snippet"] for r in body["results"])
    assert all(r["audience"] == "merchant" for r in body["results"])
    assert len(body["results"]) <= 5


def test_agent_search_needs_a_token_and_includes_internal_articles(client, api_headers):
    assert_error(client.get("/api/v1/search", query_string={"q": "开通权限受理流程", "audience": "agent"}), 401)
    body = client.get(
        "/api/v1/search", query_string={"q": "开通权限受理流程", "audience": "agent"}, headers=api_headers
    ).get_json()
    internal = [r for r in body["results"] if r["slug"] == "agent-enable-permission"]
    assert internal and internal[0]["url"] is None


@pytest.mark.parametrize(
    "query, fragment",
    [
        ({}, "q is required"),
        ({"q": " "}, "q is required"),
        ({"q": "退货", "audience": "boss"}, "audience"),
        ({"q": "退货", "limit": "0"}, "limit"),
        ({"q": "退货", "limit": "abc"}, "limit"),
        ({"q": "退货", "limit": "51"}, "limit"),
    ],
)
def test_bad_search_input_gets_400(client, query, fragment):
    assert_error(client.get("/api/v1/search", query_string=query), 400, fragment)


def test_off_topic_search_is_empty(client):
    assert client.get("/api/v1/search", query_string={"q": "火星天气预报"}).get_json()["results"] == []


def test_articles_public_and_internal(client, api_headers):
    public = client.get("/api/v1/articles/refund-void-permission").get_json()["article"]
    assert public["audience"] == "merchant" and "58" in public["codes"]
    assert "<h2>症状</h2>" in public["html"] and public["body"].startswith("## 症状")
    assert_error(client.get("/api/v1/articles/agent-enable-permission"), 404)
    internal = client.get("/api/v1/articles/agent-enable-permission", headers=api_headers).get_json()["article"]
    assert internal["audience"] == "agent" and internal["url"] is None
    assert_error(client.get("/api/v1/articles/no-such-article", headers=api_headers), 404)


def test_categories_count_visible_articles(client, api_headers):
    merchant = client.get("/api/v1/categories").get_json()["categories"]
    assert [c["slug"] for c in merchant] == [c.slug for c in load_categories()]
    assert_error(client.get("/api/v1/categories?audience=agent"), 401)
    agent = client.get("/api/v1/categories?audience=agent", headers=api_headers).get_json()["categories"]
    counts = {c["slug"]: c["article_count"] for c in merchant}
    assert all(c["article_count"] >= counts[c["slug"]] for c in agent)
    assert sum(c["article_count"] for c in agent) > sum(counts.values())


def test_api_needs_no_csrf_token(client, api_headers):
    assert client.post("/api/v1/triage", json={"text": "退货"}, headers=api_headers).status_code == 200


def test_error_messages_are_json_even_for_html_clients(client):
    response = client.get("/api/v1/articles/nope", headers={"Accept": "text/html"})
    assert_error(response, 404)
    assert json.loads(response.data)["error"] == "no article 'nope'"


def test_with_the_real_model(make_app, model_dir):
    """The default loader (triage.model.load_model) on a model trained from the committed corpus."""
    from webapp.db import get_desk
    from webapp.desk.accounts import create_token

    app = make_app(MODEL_DIR=str(model_dir), TRIAGER_LOADER=None)
    with app.app_context():
        _, secret = create_token(get_desk(), "real", "pytest")
    client = app.test_client()
    response = client.post(
        "/api/v1/tickets", json={"text": "退货的时候提示该商户没有权限"}, headers={"Authorization": f"Bearer {secret}"}
    )
    ticket = response.get_json()["ticket"]
    assert response.status_code == 201 and ticket["triage_status"] == "done"
    assert ticket["triage"]["category"] == "txn-not-enabled"
    assert ticket["triage"]["model_version"]
