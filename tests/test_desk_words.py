"""Every message a person sees on the desk is Chinese: a crawl of every desk page (as an admin, with a
ticket, a token, a webhook and a reply template in place), and of the pages answering invalid forms,
finds no English sentence in the visible text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from webapp.db import get_desk
from webapp.desk.accounts import create_token
from webapp.desk.reply_templates import save_template
from webapp.desk.tickets import file_ticket, mark_answer
from webapp.desk.webhooks import add_webhook

# Three or more Latin words in a row read as an English sentence ("the URL is empty").
ENGLISH = re.compile(r"[A-Za-z][A-Za-z'’-]*(?:[ ,:;]+[A-Za-z][A-Za-z'’-]*){2,}")
# What may stay Latin on a Chinese page: product names, codes, headers people type.
ALLOWED = re.compile(r"Authorization: Bearer|Content-Type: application/json|Bearer|API|Webhook|PD\d{6}|HMAC[\w-]*")


class VisibleText(HTMLParser):
    """The text nodes a person sees: no tags, scripts, styles or templates, plus the attributes that
    are read out (placeholder, title, aria-label, alt). A textarea holds what people typed (an
    article's source, with its YAML keys and slugs), not the desk's words."""

    HIDDEN = {"script", "style", "template", "code", "pre", "textarea"}

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1
        for name, value in attrs:
            if name in ("placeholder", "title", "aria-label", "alt") and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.texts.append(data.strip())


def english_in(html: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """The English sentences in a page's visible text."""
    parser = VisibleText()
    parser.feed(html)
    found = []
    for text in parser.texts:
        for word in allowed:
            text = text.replace(word, " ")
        text = re.sub(r"https?://\S+", " ", ALLOWED.sub(" ", text))
        found += ENGLISH.findall(text)
    return found


@pytest.fixture
def arranged(app, admin_client, fake_triager):
    """A ticket (answered, with history), a token, a webhook and a reply template; the ids to fill in URLs."""
    with app.app_context():
        desk = get_desk()
        ticket = file_ticket(desk, "今天做退货的时候，终端提示该商户没有权限，应答码58", triager=fake_triager)
        mark_answer(desk, ticket.id, "refund-void-permission", "boss")
        token, _ = create_token(desk, "callcenter", "boss")
        webhook, _ = add_webhook(desk, "https://crm.example.com/hook", None, "boss")
        template = save_template(desk, "退货权限", "您好，请联系收单机构开通退货权限。", None, "boss")
    return {
        "ticket_id": ticket.id,
        "slug": "refund-void-permission",
        "username": "boss",
        "token_id": token.id,
        "template_id": template.id,
        "webhook_id": webhook.id,
        "delivery_id": 1,
        "attachment_id": 1,
        "number": f"PD{ticket.id:06d}",
    }


NAMES = ("boss", "lina", "callcenter", "crm", "refund-void-permission")


def test_every_desk_page_is_chinese(app, admin_client, arranged):
    visited = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/agent") or "GET" not in rule.methods:
            continue
        url = rule.rule
        for name, value in arranged.items():
            url = re.sub(rf"<(?:\w+:)?{name}>", str(value), url)
        if "<" in url:
            url = re.sub(r"<[^>]+>", "1", url)
        response = admin_client.get(url, follow_redirects=True)
        if response.mimetype != "text/html":
            continue
        visited.append(url)
        assert english_in(response.get_data(as_text=True), NAMES) == [], url
    assert len(visited) >= 10 and f"/agent/tickets/{arranged['ticket_id']}" in visited


@pytest.mark.parametrize(
    "url, data",
    [
        ("/agent/admin/users", {"username": "x", "password": "password-1", "role": "agent"}),
        ("/agent/admin/users", {"username": "Bad Name!", "password": "password-1", "role": "agent"}),
        ("/agent/admin/users", {"username": "wang", "password": "short", "role": "agent"}),
        ("/agent/admin/users", {"username": "boss", "password": "password-1", "role": "agent"}),
        ("/agent/admin/users", {"username": "wang", "password": "password-1", "role": "root"}),
        ("/agent/admin/users/boss/role", {"role": "agent"}),
        ("/agent/admin/users/boss/role", {"role": ""}),
        ("/agent/admin/users/ghost/enable", {}),
        ("/agent/admin/users/boss/disable", {}),
        ("/agent/admin/users/ghost/password", {"password": "password-1"}),
        ("/agent/admin/users/boss/password", {"password": "short"}),
        ("/agent/admin/tokens", {"name": "bad name"}),
        ("/agent/admin/tokens", {"name": ""}),
        ("/agent/admin/tokens", {"name": "callcenter"}),
        ("/agent/admin/webhooks", {"url": "ftp://crm.example.com", "secret": ""}),
        ("/agent/admin/webhooks", {"url": "https://user:pw@crm.example.com", "secret": ""}),
        ("/agent/admin/webhooks", {"url": "https://crm.example.com/x", "secret": "short"}),
        ("/agent/admin/webhooks", {"url": "", "secret": ""}),
        ("/agent/admin/templates", {"name": "", "body": ""}),
        ("/agent/admin/templates", {"name": "x" * 500, "body": "x"}),
        ("/agent/password", {"current": "wrong-password", "password": "short", "confirm": "other"}),
        ("/agent/tickets/{ticket_id}/status", {"status": "lost"}),
        ("/agent/tickets/{ticket_id}/category", {"category": "no-such-category"}),
        ("/agent/tickets/{ticket_id}/note", {"note": ""}),
        ("/agent/tickets/{ticket_id}/answer", {"slug": "no-such-article"}),
        ("/agent/tickets/{ticket_id}/reply", {"body": ""}),
    ],
)
def test_invalid_forms_are_answered_in_chinese(app, admin_client, csrf, arranged, url, data):
    url = url.format(**arranged)
    response = admin_client.post(url, data={**data, "csrf_token": csrf(admin_client, "/agent/admin/users")})
    if response.status_code in (301, 302, 303):
        response = admin_client.get(response.headers["Location"])
    html = response.get_data(as_text=True)
    assert english_in(html, NAMES) == [], url
    assert re.search(r"未|不|请|没有|须|无效|至少|错误|已被占用|有误|过期", html), url


def test_the_check_finds_english():
    page = "<p>未能添加：the URL is empty</p><script>var a = 'one two three';</script><code>a b c d</code>"
    assert english_in(page) == ["the URL is empty"]
    assert english_in("<p>调用时加入 Authorization: Bearer 令牌，API 返回 PD000001</p>") == []


# --- polish: the explanation, similar tickets, history, labels --------------------------------------


def test_the_explanation_shows_only_telling_terms(triager):
    from kb.text import domain_terms, lexicon

    stop, domain = lexicon().stopwords, domain_terms()
    texts = [
        "请问一下今天做退货的时候终端提示该商户没有权限，应答码58，1 2 3 次都不行",
        "昨天的钱到现在还没到账，是不是结算出了问题啊",
        "刷卡的时候一直提示交易超时 了 吗 呢",
    ]
    for prediction in triager.classify_many(texts, explain=True):
        assert prediction.explanation, prediction
        for term in prediction.explanation:
            if term.startswith("应答码 "):
                continue
            for word in term.split():
                assert word not in stop and not word.isdigit() and (len(word) > 1 or word in domain), term


def test_similar_tickets_of_the_same_category_come_first(desk):
    from webapp.desk.tickets import file_ticket, get_ticket, set_category, similar_tickets

    target = file_ticket(desk, "退货的时候终端提示没有权限，商户号是新开的")
    worded_alike = file_ticket(desk, "退货的时候终端提示没有权限，商户号是新开的吗")
    same_category = file_ticket(desk, "退货提示没有权限")
    for text in ("打印机不出纸", "结算款没到账", "密码键盘坏了", "签到失败", "小票打印不清楚", "终端开不了机"):
        file_ticket(desk, text)
    set_category(desk, target.id, "txn-not-enabled", "lina")
    set_category(desk, worded_alike.id, "operation", "lina")
    set_category(desk, same_category.id, "txn-not-enabled", "lina")
    similar = [t.id for t in similar_tickets(desk, get_ticket(desk, target.id))]
    assert similar[:2] == [same_category.id, worded_alike.id]  # worded more alike, but another category


class NearlySure:
    """A triager sure of one category, with a second alternative that rounds to 0%."""

    version = "sure-1"

    def __init__(self, fake) -> None:
        self.fake = fake

    def classify(self, text):
        from dataclasses import replace

        from triage.prediction import Alternative

        p = self.fake.classify(text)
        alternatives = (Alternative(p.category, 0.99), Alternative("operation", 0.006), Alternative("limits", 0.004))
        return replace(p, confidence=0.99, alternatives=alternatives)

    def classify_many(self, texts, explain: bool = False):
        return [self.classify(t) for t in texts]


def test_the_ticket_page_shows_titles_labels_and_no_zero_alternatives(app, admin_client, fake_triager):
    from kb.store import get_article
    from webapp.db import get_kb

    with app.app_context():
        desk = get_desk()
        ticket = file_ticket(desk, "退货提示没有权限", triager=NearlySure(fake_triager))
        mark_answer(desk, ticket.id, "refund-void-permission", "boss")
        title = get_article(get_kb(), "refund-void-permission", "agent").title
    page = admin_client.get(f"/agent/tickets/{ticket.id}").get_data(as_text=True)
    history = page[page.index('id="history"') :]
    assert f'refund-void-permission">{title}</a>' in history
    assert re.search(r'<label[^>]*for="status"[^>]*>状态</label>', page)
    alternatives = page[page.index("其他可能") : page.index("其他可能") + 600]
    assert "1%" in alternatives and "0%" not in alternatives
