"""The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real server: an
admin opens it on a desk with some data; every chart is drawn, nothing logs an error, and it fits a
desktop and a phone. Set POSDESK_SCREENSHOTS to a folder (docs/screenshots) to keep the screenshots
(dashboard.png, dashboard-phone.png)."""

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import insert
from stats_helpers import add_event, add_ticket, stamp
from test_browser import CHROMIUM, DESKTOP, PHONE, browser, live_server, log_in, page_at  # noqa: F401 (fixtures)

from webapp.desk.stats import CHINA_TIME

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]

SIGN_ON = ["终端签到失败，提示主机连接失败", "签到失败，一直连不上主机", "POS 签到不了，主机连接失败怎么办"]
PAPER = ["打印小票没有纸了，换纸以后打不出来", "换了打印纸还是打印不出小票", "小票打印机不出纸，换纸也不行"]


@pytest.fixture
def app(make_app, triager):
    """The desk with the real trained model (its features cluster the low-confidence tickets)."""
    return make_app(TRIAGER_LOADER=lambda model_dir: triager)


def _seed(desk) -> None:
    """A week of tickets with agents' decisions, a burst, merchant-page events and votes."""
    from webapp.desk.schema import article_votes

    now = dt.datetime.now(CHINA_TIME)
    categories = ["settlement", "network-host", "txn-not-enabled", "operation", "limits"]
    for day in range(7):
        for n, category in enumerate(categories[: 2 + day % 4]):
            agent = category if n % 3 else "operation"
            when = now - dt.timedelta(days=day, hours=4 + n)
            add_ticket(desk, when, category, agent=agent, responded=when + dt.timedelta(minutes=30 + 20 * n))
    for _ in range(6):  # the burst
        add_ticket(desk, now - dt.timedelta(minutes=40), "network-host", codes=("A0",), text="签到失败 应答码A0")
    for text in SIGN_ON + PAPER:
        add_ticket(desk, now - dt.timedelta(hours=6), "network-host", needs_review=True, confidence=0.3, text=text)
    add_ticket(desk, now - dt.timedelta(hours=5), "limits", in_scope=False, agent="settlement")
    start = now - dt.timedelta(hours=3)
    for n in range(5):
        visitor = f"v{n}"
        add_event(desk, start, "suggest", visitor, query="签到失败", results=3)
        if n % 2:
            add_event(desk, start + dt.timedelta(minutes=1), "article", visitor, query="签到失败", slug="sign-on")
        if n == 4:
            add_event(desk, start + dt.timedelta(minutes=5), "ticket", visitor, ticket_id=1)
        add_event(desk, start, "search", visitor, query=["蓝屏", "花呗", "结算"][n % 3], results=0 if n < 3 else 2)
    with desk.write() as conn:
        for n, slug in enumerate(["refund-void-permission", "network-failure", "refund-void-permission"]):
            conn.execute(
                insert(article_votes).values(
                    slug=slug,
                    visitor=f"v{n}",
                    helpful=n % 2,
                    comment="步骤清楚" if n else "",
                    created=stamp(now),
                )
            )


def _errors_of(page) -> list[str]:
    """The console errors and uncaught exceptions of the page, as they happen."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def test_an_admin_sees_every_chart_drawn_on_desktop_and_phone(app, live_server, page_at, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    from webapp.db import get_desk
    from webapp.desk.accounts import create_user

    desk = get_desk(app)
    create_user(desk, "boss", "admin-pass-1", "admin")
    _seed(desk)
    folder = Path(os.environ.get("POSDESK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    for name, viewport in (("dashboard", DESKTOP), ("dashboard-phone", PHONE)):
        page = page_at(viewport)
        errors = _errors_of(page)
        log_in(page, live_server, "boss", "admin-pass-1", then="/agent/dashboard")
        expect(page.locator("h1")).to_have_text("数据看板")
        expect(page.locator("#bursts")).to_contain_text("应答码 A0")
        expect(page.locator("#bursts").get_by_role("link", name="发布公告").first).to_be_visible()
        canvases = page.locator("canvas[data-chart]")
        page.wait_for_load_state("load")  # the h1 shows before the chart scripts at the end of the body run
        drawn = page.evaluate(
            """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => [
                c.dataset.chart, !!Chart.getChart(c), c.width > 0 && c.height > 0])"""
        )
        assert len(drawn) == canvases.count() == 13, drawn  # every chart has data here
        assert all(has_chart and sized for _, has_chart, sized in drawn), drawn
        expect(page.locator("#chart-clusters")).to_contain_text("签到")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"the dashboard is {width}px wide on a {viewport['width']}px screen"
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        assert errors == []
