"""End to end in a real browser (Debian's Chromium driven by Playwright) against a real server.

A merchant searches, reads an article, votes, files a ticket and sees its number and suggestions;
an agent logs in, opens that ticket and corrects its category. Screenshots of the main pages are
taken at desktop and phone widths; set POSDESK_SCREENSHOTS to a folder (docs/screenshots) to keep them.
"""

import os
import re
import threading
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def app(make_app, triager):
    """In the browser, the desk runs the real trained model, as merchants and agents meet it."""
    return make_app(TRIAGER_LOADER=lambda model_dir: triager)


@pytest.fixture
def live_server(app):
    """The app served over HTTP on 127.0.0.1 by a real (threaded) WSGI server."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args, **kwargs):
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture
def page_at(browser):
    """page_at(viewport, javascript=True): a page in a fresh browser context (its own cookies)."""
    contexts = []

    def open_page(viewport=DESKTOP, javascript=True):
        context = browser.new_context(viewport=viewport, java_script_enabled=javascript, locale="zh-CN")
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def test_merchant_files_a_ticket_and_an_agent_corrects_it(live_server, page_at, agent_account):
    from playwright.sync_api import expect

    merchant = page_at()
    merchant.goto(live_server + "/")
    merchant.fill(".hero-search input[name=q]", "退货提示没有权限")
    merchant.press(".hero-search input[name=q]", "Enter")
    expect(merchant.locator(".result").first).to_be_visible()
    expect(merchant.locator(".snippet mark").first).to_be_visible()

    merchant.locator(".result-title", has_text="退货或撤销提示无权限").click()
    expect(merchant.locator("h1")).to_have_text("退货或撤销提示无权限：如何开通")
    expect(merchant.locator(".prose h2").first).to_have_text("症状")
    vote = merchant.frame_locator("iframe.feedback-frame")  # the per-visitor part of a cacheable page
    vote.locator("#comment").fill("步骤很清楚")
    vote.get_by_role("button", name="有帮助", exact=True).click()
    expect(vote.locator(".feedback-done")).to_be_visible()

    merchant.goto(live_server + "/tickets/new")
    merchant.fill("input[name=name]", "王女士")
    merchant.fill("input[name=phone]", "13812345678")
    merchant.fill("input[name=merchant_no]", "898310048990001")
    merchant.fill("textarea[name=description]", "今天做退货，终端提示该商户没有权限，应答码58")
    panel = merchant.locator("#suggest-panel")
    expect(panel).to_be_visible()  # live suggestions while typing
    expect(panel.locator('a[href="/articles/refund-void-permission"]')).to_be_visible()
    merchant.get_by_role("button", name="提交工单").click()
    expect(merchant.locator("h1")).to_have_text("工单已提交")
    number = merchant.locator("#ticket-number").inner_text()
    assert re.fullmatch(r"PD\d{6}", number)
    expect(merchant.locator(".link-list a").first).to_be_visible()

    agent = page_at()
    agent.goto(live_server + "/agent/")
    expect(agent).to_have_url(re.compile(r"/agent/login"))
    username, password = agent_account
    agent.fill("input[name=username]", username)
    agent.fill("input[name=password]", password)
    agent.get_by_role("button", name="登录").click()
    agent.get_by_role("link", name=number).click()
    expect(agent.locator("h1")).to_contain_text(number)
    expect(agent.locator("#ticket-text")).to_contain_text("应答码58")
    expect(agent.locator(".prediction-cat")).to_have_text("交易功能未开通")
    agent.select_option("#category", label="操作流程不当")
    agent.get_by_role("button", name="确认 / 更正分类").click()
    expect(agent.locator(".flash-success")).to_have_text("分类已保存。")
    expect(agent.locator("#history")).to_contain_text("更正分类")
    expect(agent.locator("#history")).to_contain_text("交易功能未开通 → 操作流程不当")
    expect(agent.locator(".category-form")).to_contain_text(f"由 {username} 于")


def test_without_javascript_the_form_shows_articles_before_filing(live_server, page_at):
    from playwright.sync_api import expect

    page = page_at(javascript=False)
    page.goto(live_server + "/tickets/new")
    page.fill("input[name=name]", "李先生")
    page.fill("input[name=phone]", "13912345678")
    page.fill("textarea[name=description]", "POS机提示商户被冻结，刷不了卡")
    page.get_by_role("button", name="提交工单").click()
    expect(page.locator("#deflect-title")).to_have_text("先看看这些文章")
    expect(page.locator("textarea[name=description]")).to_have_value("POS机提示商户被冻结，刷不了卡")
    page.get_by_role("button", name="仍然提交工单").click()
    expect(page.locator("#ticket-number")).to_have_text(re.compile(r"PD\d{6}"))


SCREENS = [
    ("home", "/"),
    ("search", "/search?q=退货提示没有权限"),
    ("article", "/articles/refund-void-permission"),
    ("code", "/codes/58"),
    ("ticket-form", "/tickets/new"),
]
DESK_SCREENS = [
    ("agent-queue", "/agent/"),
    ("agent-ticket", "/agent/tickets/3"),
    ("agent-search", "/agent/search?q=开通权限"),
]


def test_main_pages_fit_desktop_and_phone(app, live_server, page_at, agent_account, triager, tmp_path):
    """Screenshots of the main pages; on a phone nothing may be wider than the screen."""
    from webapp.db import get_desk
    from webapp.desk.tickets import file_ticket

    with app.app_context():
        for text in ("商户被冻结了，刷不了卡", "昨天的钱到现在还没到账", "退货提示没有权限，应答码58，手机13812345678"):
            file_ticket(get_desk(), text, name="王女士", phone="13812345678", triager=triager)
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = page_at(viewport)
        for name, path in SCREENS:
            page.goto(live_server + path)
            if name == "ticket-form":  # show the live suggestions
                page.fill("textarea[name=description]", "退货的时候提示该商户没有权限")
                page.locator("#suggest-panel .result").first.wait_for()
            _check_and_shoot(page, folder / f"{name}-{label}.png", viewport)
        page.fill("input[name=name]", "王女士")
        page.fill("input[name=phone]", "13812345678")
        page.get_by_role("button", name="提交工单").click()
        page.locator("#ticket-number").wait_for()
        _check_and_shoot(page, folder / f"ticket-filed-{label}.png", viewport)
        log_in(page, live_server, *agent_account)
        for name, path in DESK_SCREENS:
            page.goto(live_server + path)
            _check_and_shoot(page, folder / f"{name}-{label}.png", viewport)


def log_in(page, live_server: str, username: str, password: str, then: str = "") -> None:
    """Log `page` in to the desk through its login form (and on to `then`, a desk path)."""
    page.goto(live_server + "/agent/login" + (f"?next={then}" if then else ""))
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="登录").click()


def _check_and_shoot(page, path: Path, viewport: dict) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= viewport["width"], f"{page.url} is {width}px wide on a {viewport['width']}px screen"
    page.screenshot(path=str(path), full_page=True)


def test_the_merchant_loop_photo_template_reply_status_link_and_rating(
    app, live_server, page_at, agent_account, tmp_path
):
    """Issue 11's loop: a merchant files with a photo; an agent answers with a template and an article;
    the merchant opens the status link on a phone, sees the answer, replies, marks it solved and rates."""
    from PIL import Image
    from playwright.sync_api import expect

    from webapp.db import get_desk
    from webapp.desk.reply_templates import save_template

    save_template(
        get_desk(app), "开通退货权限", "您好，工单 {工单号}（商户号 {商户号}）：请按文章操作：{文章链接}", None, "boss"
    )
    photo = tmp_path / "slip.jpg"
    Image.new("RGB", (640, 480), (200, 180, 150)).save(photo, "JPEG")
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    merchant = page_at(PHONE)
    merchant.goto(live_server + "/tickets/new")
    merchant.fill("input[name=name]", "王女士")
    merchant.fill("input[name=phone]", "13812345678")
    merchant.fill("input[name=merchant_no]", "898310048990001")
    merchant.fill("textarea[name=description]", "今天做退货，终端提示该商户没有权限，应答码58")
    expect(merchant.locator("#suggest-panel")).to_be_visible()  # seen while typing: no second step
    merchant.set_input_files("input[name=photos]", str(photo))
    merchant.get_by_role("button", name="提交工单").click()
    expect(merchant.locator("h1")).to_have_text("工单已提交")
    number = merchant.locator("#ticket-number").inner_text()
    status_url = merchant.locator("#status-url").input_value()
    assert re.fullmatch(rf"{re.escape(live_server)}/tickets/track/[A-Za-z0-9_-]{{32,}}", status_url)

    agent = page_at()
    log_in(agent, live_server, *agent_account)
    agent.get_by_role("link", name=number).click()
    expect(agent.locator(".photo-list img, .attachments img").first).to_be_visible()  # the merchant's photo
    agent.select_option("#article", value="refund-void-permission")
    agent.get_by_role("link", name="开通退货权限").click()  # the template, filled in for this ticket
    body = agent.locator("#reply textarea[name=body]")
    expect(body).to_have_value(re.compile(rf"工单 {number}（商户号 898310048990001）"))
    agent.select_option("#article", value="refund-void-permission")
    agent.locator("#reply").get_by_role("button", name="发送公开回复").click()
    expect(agent.locator("#replies")).to_contain_text("请按文章操作")
    _check_and_shoot(agent, folder / "loop-agent-ticket-desktop.png", DESKTOP)

    merchant.goto(status_url)
    expect(merchant.locator("#replies")).to_contain_text("请按文章操作")
    expect(merchant.locator("#replies .reply-article a")).to_have_text("退货或撤销提示无权限：如何开通")
    expect(merchant.locator("#ticket-text img, .photo-list img").first).to_be_visible()
    _check_and_shoot(merchant, folder / "loop-status-answered-phone.png", PHONE)
    merchant.fill("#reply-form textarea[name=body]", "按文章联系了收单机构，现在可以退货了，谢谢")
    merchant.locator("#reply-form").get_by_role("button", name="发送").click()
    expect(merchant.locator("#replies")).to_contain_text("现在可以退货了")
    merchant.locator("#solved-form").get_by_role("button", name="问题已解决").click()
    expect(merchant.locator("#status")).to_have_text("已解决")
    merchant.locator("#rating-form input[value='5']").check()
    merchant.fill("#rating-form textarea[name=comment]", "回复很快")
    merchant.locator("#rating-form").get_by_role("button", name="提交评价").click()
    expect(merchant.locator("#rating")).to_contain_text("5 分")
    _check_and_shoot(merchant, folder / "loop-status-rated-phone.png", PHONE)


def test_the_team_desk_assign_find_bulk_close_and_audit(app, live_server, page_at, agent_account, triager, tmp_path):
    """Issue 12's walk: one agent assigns a ticket to herself, finds a ticket by 商户号 and bulk-closes
    three duplicates; the other agent no longer sees them unassigned; an admin finds it all audited."""
    from playwright.sync_api import expect

    from webapp.db import get_desk
    from webapp.desk.accounts import create_user
    from webapp.desk.tickets import file_ticket

    desk = get_desk(app)
    create_user(desk, "wang", "agent-pass-2", "agent")
    create_user(desk, "boss", "admin-pass-1", "admin")
    refund = file_ticket(desk, "退货提示没有权限，应答码58", merchant_no="898310048990001", triager=triager)
    duplicates = [file_ticket(desk, f"POS机签到失败，屏幕显示通讯错误 {n}", triager=triager) for n in range(3)]
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    lina = page_at()
    log_in(lina, live_server, *agent_account)
    lina.goto(live_server + "/agent/?view=unassigned")
    lina.get_by_role("link", name=refund.number).click()
    lina.get_by_role("button", name="指派给我").click()
    expect(lina.locator("#assignee")).to_contain_text(agent_account[0])

    lina.fill(".desk-find input[name=q]", "898310048990001")
    lina.press(".desk-find input[name=q]", "Enter")
    expect(lina.get_by_role("link", name=refund.number)).to_be_visible()
    _check_and_shoot(lina, folder / "team-find-by-mid-desktop.png", DESKTOP)

    lina.goto(live_server + "/agent/?view=unassigned")
    for ticket in duplicates:
        lina.check(f"input[aria-label='选择 {ticket.number}']")
    lina.locator("#bulk select[name=status]").select_option("closed")
    _check_and_shoot(lina, folder / "team-queue-bulk-desktop.png", DESKTOP)
    lina.locator("#bulk").get_by_role("button", name="应用到所选工单").click()
    expect(lina.locator(".flash-success")).to_be_visible()

    wang = page_at()
    log_in(wang, live_server, "wang", "agent-pass-2")
    wang.goto(live_server + "/agent/?view=unassigned")
    for ticket in [refund, *duplicates]:
        expect(wang.get_by_role("link", name=ticket.number)).to_have_count(0)

    boss = page_at()
    log_in(boss, live_server, "boss", "admin-pass-1")
    boss.goto(live_server + "/agent/admin/audit")
    log = boss.locator("table")
    expect(log).to_contain_text("批量处理工单")
    expect(log).to_contain_text(agent_account[0])
    expect(log).to_contain_text("登录成功")
    _check_and_shoot(boss, folder / "team-audit-log-desktop.png", DESKTOP)
