"""End to end in a real browser (Debian's Chromium driven by Playwright): an admin edits an article with
its live preview, saves it, sees the merchant page change, opens the history and reverts it, and the
merchant page is as before. Screenshots of the editor and the history go to POSDESK_SCREENSHOTS
(docs/screenshots) when it is set."""

import os
from pathlib import Path

import pytest
from conftest import _account
from test_browser import CHROMIUM, DESKTOP, browser, live_server, log_in, page_at  # noqa: F401,F811  (fixtures)

from kb.paths import data_dir

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]

SLUG = "refund-void-permission"
ORIGINAL = (data_dir() / "articles" / f"{SLUG}.md").read_text(encoding="utf-8")
ADDED = "隔日退货请先在商户App提交开通申请，一般一个工作日内生效。"


def _merchant_page(open_page, server: str):
    """The article as a merchant sees it, in a fresh browser (no cached copy of the page)."""
    merchant = open_page()
    merchant.goto(f"{server}/articles/{SLUG}")
    return merchant


def test_an_admin_edits_an_article_then_reverts_it(app, live_server, page_at, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    _account(app, "boss", "admin-pass-1", "admin")
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    expect(_merchant_page(page_at, live_server).locator(".prose")).not_to_contain_text(ADDED)

    admin = page_at(DESKTOP)
    log_in(admin, live_server, "boss", "admin-pass-1")
    admin.get_by_role("link", name="文章编辑").click()
    expect(admin.locator("h1")).to_have_text("文章编辑")
    admin.locator(f"#article-{SLUG}").get_by_role("link", name="编辑").click()
    expect(admin.locator("h1")).to_have_text("编辑文章")

    source = admin.locator("textarea[name=source]")
    # A mistake first: the live preview lists it in Chinese beside the form.
    source.fill(ORIGINAL.replace("category: txn-not-enabled", "category: refunds"))
    expect(admin.locator("#editor-errors")).to_contain_text("分类（category）：“refunds”不是知识库的分类")
    source.fill(ORIGINAL.replace("## 处理步骤\n", f"## 处理步骤\n\n{ADDED}\n", 1))
    expect(admin.locator("#preview .prose")).to_contain_text(ADDED)  # updated while typing, not saved yet
    expect(admin.locator("#editor-errors")).to_be_hidden()
    admin.locator("#preview .prose p", has_text=ADDED).scroll_into_view_if_needed()  # the preview pane scrolls
    admin.evaluate("window.scrollTo(0, 0)")
    admin.screenshot(path=str(folder / "editor-edit.png"), full_page=True)
    expect(_merchant_page(page_at, live_server).locator(".prose")).not_to_contain_text(ADDED)

    admin.get_by_role("button", name="保存").click()
    expect(admin.locator(".flash-success")).to_have_text("已保存为第 2 版。")
    expect(_merchant_page(page_at, live_server).locator(".prose")).to_contain_text(ADDED)

    admin.get_by_role("link", name="修改历史").click()
    expect(admin.locator("#revision-2")).to_contain_text("boss")
    expect(admin.locator("#revision-2 .diff-add").first).to_have_text(f"+{ADDED}")
    expect(admin.locator("#revision-1")).to_contain_text("data/ 原文")
    admin.screenshot(path=str(folder / "editor-history.png"), full_page=True)
    admin.locator("#revision-1").get_by_role("button", name="恢复到此版本").click()
    expect(admin.locator(".flash-success")).to_have_text("已恢复到第 1 版（保存为新的一版）。")
    expect(admin.locator("textarea[name=source]")).to_have_value(ORIGINAL)
    merchant = _merchant_page(page_at, live_server)
    expect(merchant.locator("h1")).to_have_text("退货或撤销提示无权限：如何开通")
    expect(merchant.locator(".prose")).not_to_contain_text(ADDED)
