"""In a real browser: an admin publishes a notice on /agent/admin/notices and a merchant's phone (a
fresh browser context) shows the banner; a merchant typing a ticket sees suggestions, opens one, and
the site events then show that suggestion and that article open with one query and one visitor.
Set POSDESK_SCREENSHOTS to a folder (docs/screenshots) to keep notice-banner.png."""

import os
from pathlib import Path

import test_browser
from conftest import wait_for
from sqlalchemy import select

from webapp.backlog import worker
from webapp.db import get_desk
from webapp.deferred import deferred
from webapp.desk.accounts import create_user
from webapp.desk.schema import site_events

TEXT = "部分终端签到失败，正在处理"
PHONE = test_browser.PHONE
pytestmark = test_browser.pytestmark
# The browser tests' fixtures: one Chromium, the app on the trained model, a live server, fresh contexts.
browser, app = test_browser.browser, test_browser.app
live_server, page_at = test_browser.live_server, test_browser.page_at


def test_an_admin_publishes_a_notice_that_a_merchants_phone_then_shows(app, live_server, page_at, tmp_path):
    from playwright.sync_api import expect

    create_user(get_desk(app), "boss", "admin-pass-1", "admin")
    admin = page_at()
    test_browser.log_in(admin, live_server, "boss", "admin-pass-1")
    admin.get_by_role("link", name="公告").click()
    expect(admin.locator("h1")).to_have_text("公告")
    admin.fill("textarea[name=text]", TEXT)
    admin.get_by_role("button", name="发布").click()
    expect(admin.locator(".flash-success")).to_contain_text("公告已发布")
    expect(admin.locator("#notices")).to_contain_text("展示中")

    merchant = page_at(PHONE)
    merchant.goto(live_server + "/articles/printer-issue")
    shown = merchant.get_by_role("status").filter(has_text=TEXT)
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("预计持续至")
    width = merchant.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the banner makes the page {width}px wide on a phone"
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    merchant.goto(live_server + "/")
    expect(merchant.get_by_role("status").filter(has_text=TEXT)).to_be_visible()
    merchant.screenshot(path=str(folder / "notice-banner.png"))

    admin.get_by_role("button", name="撤下").click()
    expect(admin.locator(".flash-success")).to_contain_text("公告已撤下")
    merchant.reload()
    expect(merchant.locator(".notice-banner")).to_have_count(0)


def test_a_suggestion_opened_is_recorded_with_its_query_and_visitor(app, live_server, page_at):
    from playwright.sync_api import expect

    merchant = page_at()
    merchant.goto(live_server + "/tickets/new")
    merchant.fill("textarea[name=description]", "退货的时候提示该商户没有权限")
    panel = merchant.locator("#suggest-panel")
    expect(panel).to_be_visible()
    first = panel.locator(".result-title").first
    slug = first.get_attribute("href").rsplit("/", 1)[-1]
    with merchant.context.expect_page() as opened:
        first.click()
    article = opened.value
    expect(article.locator("h1")).to_be_visible()
    assert wait_for(lambda: any(e.kind == "article" for e in deferred(app).pending()[2]))
    worker(app).flush_writes()
    with get_desk(app).read() as conn:
        rows = conn.execute(select(site_events).order_by(site_events.c.id)).all()
    suggested = [r for r in rows if r.kind == "suggest"]
    opened_rows = [r for r in rows if r.kind == "article"]
    assert suggested and suggested[-1].query == "退货的时候提示该商户没有权限" and suggested[-1].results >= 1
    assert len(opened_rows) == 1
    assert opened_rows[0].slug == slug
    assert opened_rows[0].query == suggested[-1].query
    assert opened_rows[0].visitor and opened_rows[0].visitor == suggested[-1].visitor
    # The ticket form carries the same visitor id, for the ticket row.
    assert merchant.locator("input[name=visitor]").input_value() == suggested[-1].visitor
