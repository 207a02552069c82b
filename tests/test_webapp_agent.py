"""The agent desk: login, the queue, a ticket with its triage and actions, article search, admin."""

import re

import pytest
from conftest import text_of

from triage.prediction import OUT_OF_SCOPE
from webapp.db import get_desk
from webapp.desk.tickets import agent_labels, file_ticket, get_ticket, history


def test_every_desk_route_requires_login(app, file, client):
    ticket = file("退货没有权限")
    values = {
        "ticket_id": ticket.id,
        "slug": "refund-void-permission",
        "username": "lina",
        "token_id": 1,
        "template_id": 1,
        "webhook_id": 1,
        "delivery_id": 1,
        "attachment_id": 1,
        "policy_id": 1,
        "number": 1,
        "notice_id": 1,
        "run_id": 1,
        "version": "202612010000-abcdef12",
    }
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/agent") or rule.endpoint == "agent.login":
            continue
        url = rule.rule
        for name, value in values.items():
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        method = "get" if "GET" in rule.methods else "post"
        response = getattr(client, method)(url)
        if method == "post":
            assert response.status_code == 400  # no CSRF token: refused before anything else
            continue
        assert response.status_code == 302, url
        assert "/agent/login?next=" in response.headers["Location"]
        checked += 1
    assert checked >= 5


def test_posts_with_a_valid_token_still_require_login(app, file, client, csrf):
    ticket = file("退货没有权限")
    token = csrf(client, "/agent/login")
    response = client.post(f"/agent/tickets/{ticket.id}/status", data={"status": "resolved", "csrf_token": token})
    assert response.status_code == 302 and "/agent/login" in response.headers["Location"]
    with app.app_context():
        assert get_ticket(get_desk(), ticket.id).status == "new"


def test_login_rejects_a_wrong_password_and_accepts_the_right_one(app, client, csrf, agent_account):
    _, password = agent_account
    token = csrf(client, "/agent/login")
    wrong = client.post("/agent/login", data={"username": "lina", "password": "nope-nope", "csrf_token": token})
    assert wrong.status_code == 200 and "用户名或密码不正确" in text_of(wrong)
    unknown = client.post("/agent/login", data={"username": "ghost", "password": "nope-nope", "csrf_token": token})
    assert "用户名或密码不正确" in text_of(unknown)
    ok = client.post(
        "/agent/login", data={"username": "lina", "password": password, "csrf_token": token, "next": "/agent/search"}
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "/agent/search"
    assert client.get("/agent/").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/agent", "/articles/x"])
def test_login_never_redirects_off_the_desk(app, client, csrf, target, agent_account):
    _, password = agent_account
    data = {"username": "lina", "password": password, "csrf_token": csrf(client, "/agent/login"), "next": target}
    assert client.post("/agent/login", data=data).headers["Location"] == "/agent/"


def test_disabled_accounts_cannot_log_in(app, client, csrf):
    from webapp.db import get_desk
    from webapp.desk.accounts import create_user, set_active

    with app.app_context():
        create_user(get_desk(), "gone", "password-1")
        set_active(get_desk(), "gone", False)
    data = {"username": "gone", "password": "password-1", "csrf_token": csrf(client, "/agent/login")}
    assert "用户名或密码不正确" in text_of(client.post("/agent/login", data=data))


def test_logout(agent_client, csrf):
    token = csrf(agent_client, "/agent/")
    assert agent_client.post("/agent/logout", data={"csrf_token": token}).status_code == 302
    assert agent_client.get("/agent/").status_code == 302


def test_queue_lists_newest_first_with_personal_data_masked(app, file, agent_client):
    old = file("退货没有权限，身份证110101199003071234", name="王女士", phone="13812345678")
    new = file("钱没到账，手机 139 1234 5678")
    page = text_of(agent_client.get("/agent/?sort=newest"))
    assert page.index(new.number) < page.index(old.number)
    assert "110101199003071234" not in page and "110101********1234" in page
    assert "13812345678" not in page and "138****5678" in page
    assert "139 1234 5678" not in page and "139****5678" in page
    assert "共 2 个工单" in page


def test_queue_filters_and_pages(app, file, agent_client):
    frozen = file("商户被冻结了")
    vague = file("机器有问题")
    refund = file("退货没有权限")
    with app.app_context():
        from webapp.desk.tickets import set_status

        set_status(get_desk(), refund.id, "resolved", "lina")

    def numbers(query):
        return re.findall(
            r'class="ticket-link" href="/agent/tickets/\d+">(PD\d+)<',
            text_of(agent_client.get("/agent/", query_string=query)),
        )

    assert numbers({"category": "merchant-risk-status"}) == [frozen.number]
    assert numbers({"status": "resolved"}) == [refund.number]
    assert numbers({"review": "1"}) == [vague.number]
    assert set(numbers({"review": "0", "view": "all"})) == {frozen.number, refund.number}
    assert numbers({"from": "2000-01-01", "to": "2000-01-02"}) == []
    assert len(numbers({"from": "2000-01-01", "view": "all"})) == 3
    assert len(numbers({"status": "bogus", "from": "not-a-date", "view": "all"})) == 3

    app.config["TICKETS_PER_PAGE"] = 2
    first = text_of(agent_client.get("/agent/?view=all"))
    assert "第 1 / 2 页" in first and 'href="/agent/?page=2&amp;view=all"' in first
    assert numbers({"page": "2", "view": "all"}) == [frozen.number]


def test_ticket_page_shows_text_contact_and_triage(app, file, agent_client):
    file("以前也是退货没有权限的问题")
    ticket = file("退货提示没有权限，应答码58", name="王女士", phone="13812345678", merchant_no="898310048990001")
    page = text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert "退货提示没有权限，应答码58" in page
    assert "13812345678" in page and "898310048990001" in page  # the contact is shown in full on the ticket
    assert "交易功能未开通" in page and "90%" in page
    assert "操作流程不当" in page  # the alternative
    assert 'class="chip chip-sm">权限<' in page  # explanation term
    assert 'href="/codes/58"' in page
    assert "模型版本 fake-1" in page
    assert "/agent/articles/refund-void-permission" in page and "/agent/articles/agent-enable-permission" in page
    assert "相似的历史工单" in page and "PD000001" in page
    assert agent_client.get("/agent/tickets/999").status_code == 404


def test_ticket_text_is_escaped(app, file, agent_client):
    ticket = file('<script>alert("x")</script><img src=x onerror=alert(1)>')
    page = text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;" in page


def test_untriaged_ticket_page_says_so(app, agent_client):
    with app.app_context():
        ticket = file_ticket(get_desk(), "没有模型时的工单")
    page = text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert "尚未分诊" in page


def post_action(client, csrf, ticket_id: int, action: str, **data):
    token = csrf(client, f"/agent/tickets/{ticket_id}")
    return client.post(f"/agent/tickets/{ticket_id}/{action}", data={**data, "csrf_token": token})


def test_confirm_and_correct_category_with_who_and_when(app, file, agent_client, csrf):
    ticket = file("退货没有权限")
    assert post_action(agent_client, csrf, ticket.id, "category", category="txn-not-enabled").status_code == 302
    with app.app_context():
        confirmed = get_ticket(get_desk(), ticket.id)
    assert confirmed.category_by == "lina" and confirmed.category_at
    post_action(agent_client, csrf, ticket.id, "category", category="operation")
    page = text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert "分类已保存" in page
    assert "确认分类" in page and "更正分类" in page
    assert "由 lina 于" in page
    with app.app_context():
        actions = [(e.action, e.actor) for e in history(get_desk(), ticket.id)]
    assert actions[-2:] == [("category_confirmed", "lina"), ("category_corrected", "lina")]
    bad = post_action(agent_client, csrf, ticket.id, "category", category="nonsense")
    assert bad.status_code == 302
    assert "操作未完成" in text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))


def test_status_note_and_answer_are_recorded(app, file, agent_client, csrf):
    ticket = file("退货没有权限")
    post_action(agent_client, csrf, ticket.id, "status", status="pending")
    post_action(agent_client, csrf, ticket.id, "note", note="已电话联系商户，<b>待回电</b>")
    post_action(agent_client, csrf, ticket.id, "answer", slug="refund-void-permission")
    page = text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert "等待商户" in page
    assert "已电话联系商户，&lt;b&gt;待回电&lt;/b&gt;" in page
    assert "已标记答案" in page
    with app.app_context():
        after = get_ticket(get_desk(), ticket.id)
        actions = [e.action for e in history(get_desk(), ticket.id)]
    assert after.status == "pending" and after.answer_article == "refund-void-permission"
    assert actions[-3:] == ["status", "note", "answer"]
    token = csrf(agent_client, "/agent/")
    assert (
        agent_client.post("/agent/tickets/999/status", data={"status": "open", "csrf_token": token}).status_code == 404
    )


def test_agent_search_includes_internal_articles_with_highlights(agent_client):
    page = text_of(agent_client.get("/agent/search", query_string={"q": "开通交易权限受理流程"}))
    assert "/agent/articles/agent-enable-permission" in page
    assert "内部" in page and "<mark>" in page
    assert "没有找到" in text_of(agent_client.get("/agent/search", query_string={"q": "火星天气预报"}))
    assert "/agent/articles/agent-risk-review" in text_of(agent_client.get("/agent/search"))


def test_agent_reads_internal_articles(agent_client):
    page = text_of(agent_client.get("/agent/articles/agent-enable-permission"))
    assert "内部文章" in page
    assert agent_client.get("/agent/articles/no-such-article").status_code == 404
    public = text_of(agent_client.get("/agent/articles/refund-void-permission"))
    assert "商户反馈" in public and 'href="/agent/articles/void-vs-refund"' in public


def test_agent_changes_own_password(app, agent_client, csrf, agent_account):
    from webapp.db import get_desk
    from webapp.desk.accounts import authenticate

    _, password = agent_account

    token = csrf(agent_client, "/agent/password")
    wrong = agent_client.post(
        "/agent/password", data={"current": "wrong", "password": "new-password-1", "csrf_token": token}
    )
    assert "当前密码不正确" in text_of(wrong)
    ok = agent_client.post(
        "/agent/password", data={"current": password, "password": "new-password-1", "csrf_token": token}
    )
    assert ok.status_code == 302
    with app.app_context():
        assert authenticate(get_desk(), "lina", "new-password-1")
    assert agent_client.get("/agent/").status_code == 200  # this session goes on


def test_a_password_change_ends_other_sessions(app, agent_client):
    from webapp.db import get_desk
    from webapp.desk.accounts import set_password

    with app.app_context():
        set_password(get_desk(), "lina", "changed-elsewhere")
    assert agent_client.get("/agent/").status_code == 302


def test_agents_cannot_open_admin_pages(agent_client):
    assert agent_client.get("/agent/admin/users").status_code == 403
    assert agent_client.get("/agent/admin/tokens").status_code == 403
    assert "账号管理" not in text_of(agent_client.get("/agent/"))


def test_admin_manages_agents(app, admin_client, csrf):
    token = csrf(admin_client, "/agent/admin/users")
    created = admin_client.post(
        "/agent/admin/users",
        data={"username": "xiaoli", "password": "password-9", "role": "agent", "csrf_token": token},
    )
    assert created.status_code == 302
    page = text_of(admin_client.get("/agent/admin/users"))
    assert "已添加账号 xiaoli" in page
    duplicate = admin_client.post(
        "/agent/admin/users",
        data={"username": "xiaoli", "password": "password-9", "role": "agent", "csrf_token": token},
    )
    assert duplicate.status_code == 400 and "用户名 xiaoli 已被占用" in text_of(duplicate)
    short = admin_client.post("/agent/admin/users", data={"username": "x2", "password": "short", "csrf_token": token})
    assert short.status_code == 400

    admin_client.post("/agent/admin/users/xiaoli/role", data={"role": "admin", "csrf_token": token})
    admin_client.post("/agent/admin/users/xiaoli/password", data={"password": "password-10", "csrf_token": token})
    admin_client.post("/agent/admin/users/xiaoli/disable", data={"csrf_token": token})
    from webapp.db import get_desk
    from webapp.desk.accounts import authenticate, find_user

    with app.app_context():
        user = find_user(get_desk(), "xiaoli")
        assert user.role == "admin" and not user.active
        assert authenticate(get_desk(), "xiaoli", "password-10") is None  # disabled
    admin_client.post("/agent/admin/users/xiaoli/enable", data={"csrf_token": token})
    with app.app_context():
        assert authenticate(get_desk(), "xiaoli", "password-10")

    admin_client.post("/agent/admin/users/boss/disable", data={"csrf_token": token})
    assert "不能停用自己的账号" in text_of(admin_client.get("/agent/admin/users"))


def test_the_last_admin_keeps_the_role(app, admin_client, csrf):
    token = csrf(admin_client, "/agent/admin/users")
    admin_client.post("/agent/admin/users/boss/role", data={"role": "agent", "csrf_token": token})
    assert "不能取消最后一位管理员的管理员角色" in text_of(admin_client.get("/agent/admin/users"))


def test_admin_creates_and_revokes_api_tokens(app, admin_client, client, csrf):
    token = csrf(admin_client, "/agent/admin/tokens")
    page = text_of(admin_client.post("/agent/admin/tokens", data={"name": "callcenter", "csrf_token": token}))
    secret = re.search(r'id="new-token">(pd_[\w-]+)<', page).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.post("/api/v1/triage", json={"text": "退货"}, headers=headers).status_code == 200
    listing = text_of(admin_client.get("/agent/admin/tokens"))
    assert secret not in listing and secret[:8] in listing
    token_id = re.search(r'action="/agent/admin/tokens/(\d+)/revoke"', listing).group(1)
    admin_client.post(f"/agent/admin/tokens/{token_id}/revoke", data={"csrf_token": token})
    assert client.post("/api/v1/triage", json={"text": "退货"}, headers=headers).status_code == 401
    assert "已吊销" in text_of(admin_client.get("/agent/admin/tokens"))


def test_an_agent_can_mark_a_ticket_as_not_a_pos_problem(app, file, agent_client, csrf):
    ticket = file("我的信用卡账单怎么分期还")
    assert "不是POS问题/其他" in text_of(agent_client.get(f"/agent/tickets/{ticket.id}"))
    assert post_action(agent_client, csrf, ticket.id, "category", category=OUT_OF_SCOPE).status_code == 302
    with app.app_context():
        assert get_ticket(get_desk(), ticket.id).category == OUT_OF_SCOPE
        labels = agent_labels(get_desk())
    assert [(t.text, t.category) for t in labels] == [("我的信用卡账单怎么分期还", OUT_OF_SCOPE)]
