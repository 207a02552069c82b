"""Security rules: CSRF on every form, cookies, hashed secrets, rate and size limits, sanitised
Markdown, the persisted secret key and the security headers."""

import re
import stat

import pytest
from sqlalchemy import select

from webapp import create_app
from webapp.db import get_desk
from webapp.desk.schema import metadata, users
from webapp.render import render_markdown


def test_every_form_post_without_a_csrf_token_gets_400(app, admin_client):
    values = {
        "ticket_id": "1",
        "slug": "refund-void-permission",
        "username": "boss",
        "token_id": "1",
        "template_id": "1",
        "webhook_id": "1",
        "delivery_id": "1",
        "policy_id": "1",
        "number": "1",
        "notice_id": "1",
    }
    # The article-open beacon is sent by cacheable pages, which carry no token (webapp.site_events).
    exempt = {"/events"}
    posts = [
        r
        for r in app.url_map.iter_rules()
        if "POST" in r.methods and not r.rule.startswith("/api/") and r.rule not in exempt
    ]
    assert len(posts) >= 12
    for rule in posts:
        url = rule.rule
        for name, value in values.items():
            url = re.sub(rf"<(?:\w+:)?{name}>", value, url)
        response = admin_client.post(url, data={"status": "resolved", "note": "x", "helpful": "yes"})
        assert response.status_code == 400, url
        assert "页面已过期" in response.get_data(as_text=True)


def test_session_cookie_is_httponly_and_samesite(client, csrf, agent_account):
    token = csrf(client, "/agent/login")
    username, password = agent_account
    response = client.post("/agent/login", data={"username": username, "password": password, "csrf_token": token})
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("posdesk_session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_and_tokens_are_stored_hashed(app, agent_account, api_headers):
    secret = api_headers["Authorization"].split()[1]
    with app.app_context(), get_desk().read() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.username == "lina")).scalar_one()
        dump = "\n".join(repr(tuple(row)) for table in metadata.sorted_tables for row in conn.execute(select(table)))
    assert agent_account[1] not in dump and stored.startswith(("scrypt:", "pbkdf2:"))
    assert secret not in dump


def test_security_headers(client):
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_ticket_form_is_rate_limited(make_app, csrf):
    app = make_app(TICKET_RATE_LIMIT="2 per minute")
    client = app.test_client()
    token = csrf(client, "/tickets/new")
    data = {"name": "王", "phone": "13812345678", "description": "火星天气怎么样呢", "csrf_token": token}
    assert client.post("/tickets/new", data=data).status_code == 302
    assert client.post("/tickets/new", data=data).status_code == 302
    limited = client.post("/tickets/new", data=data)
    assert limited.status_code == 429 and "操作太频繁" in limited.get_data(as_text=True)
    assert client.get("/tickets/new").status_code == 200  # reading the form is not limited


def test_login_is_rate_limited(make_app, csrf):
    app = make_app(LOGIN_RATE_LIMIT="3 per minute")
    client = app.test_client()
    token = csrf(client, "/agent/login")
    for _ in range(3):
        client.post("/agent/login", data={"username": "x", "password": "guess", "csrf_token": token})
    assert (
        client.post("/agent/login", data={"username": "x", "password": "guess", "csrf_token": token}).status_code == 429
    )


def test_request_size_is_limited(client, csrf):
    token = csrf(client, "/tickets/new")
    response = client.post("/tickets/new", data={"description": "字" * 40000, "csrf_token": token})
    assert response.status_code == 413
    assert "提交的内容太大" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "body, forbidden",
    [
        ("<script>alert(1)</script>", "<script>"),
        ('<img src=x onerror="alert(1)">', "<img"),
        ("[click](javascript:alert(1))", 'href="javascript'),
        ('<a href="/" onclick="x()">a</a>', "<a "),
        ("<iframe src='https://evil.example'></iframe>", "<iframe"),
    ],
)
def test_markdown_is_sanitised(body, forbidden):
    assert forbidden not in str(render_markdown(body))


def test_markdown_keeps_structure_and_points_links_at_the_right_desk():
    html = str(render_markdown("## 原因\n\n1. 第一步\n\n[撤销和退货](/articles/void-vs-refund) **重点**"))
    assert "<h2>原因</h2>" in html and "<ol>" in html and "<strong>重点</strong>" in html
    assert 'href="/articles/void-vs-refund"' in html
    assert 'href="/agent/articles/void-vs-refund"' in str(
        render_markdown("[x](/articles/void-vs-refund)", "/agent/articles/")
    )


def test_secret_key_is_generated_once_and_kept_private(make_app, tmp_path):
    # The embedded default keeps its key in the instance folder (a shared desk keeps it in the desk:
    # tests/test_desk_storage.py), whichever backend the other tests run on.
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'embedded.db'}")
    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.exists() and len(app.config["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert create_app({"TESTING": True}).config["SECRET_KEY"] == app.config["SECRET_KEY"]


def test_html_errors_are_pages(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    assert "页面不存在" in response.get_data(as_text=True)


def test_pages_and_answers_with_personal_data_are_never_stored_by_browsers(client, agent_client, api_headers):
    assert agent_client.get("/agent/").headers["Cache-Control"] == "no-store"
    assert client.get("/tickets/new").headers["Cache-Control"] == "no-store"
    created = client.post("/api/v1/tickets", json={"text": "退货提示没有权限"}, headers=api_headers)
    assert created.headers["Cache-Control"] == "no-store"
    assert client.get(created.headers["Location"], headers=api_headers).headers["Cache-Control"] == "no-store"
    assert "no-store" not in client.get("/articles/printer-issue").headers.get("Cache-Control", "")


def test_live_suggestions_send_the_typed_text_in_a_post_body(client):
    with client.get("/static/js/suggest.js") as script:
        source = script.get_data(as_text=True)
    assert 'method: "POST"' in source and "JSON.stringify" in source and "?limit" not in source
    response = client.post("/api/v1/search", json={"q": "退货提示没有权限", "limit": 5})
    assert response.status_code == 200
    assert response.get_json()["results"][0]["slug"] == "refund-void-permission"
    assert client.post("/api/v1/search", json={"q": "退货", "page": 2}).status_code == 400


def test_the_access_log_never_holds_card_phone_or_id_numbers():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from webapp.gunicorn_app import MaskingLogger

    logger = MaskingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/search?q=%E5%8D%A1%E5%8F%B76222%200212%203456%207890",
        "PATH_INFO": "/search",
        "QUERY_STRING": "q=6222+0212+3456+7890&phone=138-1234-5678",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": "http://127.0.0.1:8000/search?q=110101199003071234",
    }
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    atoms = logger.atoms(response, request, environ, SimpleNamespace(seconds=0, microseconds=1500))
    line = " ".join(str(v) for v in atoms.values())
    for number in ("6222", "0212 3456", "3456%207890", "1234-5678", "110101199003071234"):
        assert number not in line
    assert atoms["r"].startswith("GET /search?q=") and atoms["U"] == "/search"
    assert "%E5%8D%A1%E5%8F%B7***" in atoms["r"]  # the escapes before the number stay whole


def test_full_width_digits_typed_into_search_never_reach_the_access_log():
    from webapp.gunicorn_app import mask_digit_runs

    full_width = "６２２８４８００１２３４５６７１"
    encoded = "".join(f"%EF%BC%{0x90 + int(d):02X}" for d in "622848001234567")
    for line in (f"GET /search?q={full_width} HTTP/1.1", f"GET /search?q=%E5%8D%A1{encoded} HTTP/1.1"):
        masked = mask_digit_runs(line)
        assert "***" in masked and "%EF%BC%96" not in masked and "６２２" not in masked
    assert mask_digit_runs("GET /codes/58 HTTP/1.1") == "GET /codes/58 HTTP/1.1"
