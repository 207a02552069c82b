"""Notices: an admin publishes a banner ("部分终端签到失败，正在处理") on /agent/admin/notices; every
merchant page shows it from its start to its end time, or until it is withdrawn, cached pages
included (the ETag follows the banner and max-age never reaches past its end); only admins publish,
with a CSRF token, and every publish and withdrawal is in the audit log."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import text_of
from sqlalchemy import event, select

from webapp.db import get_desk
from webapp.desk import audit, notices
from webapp.desk.schema import notices as notices_table
from webapp.render import CHINA_TIME

TEXT = "部分终端签到失败，正在处理"
MERCHANT_PAGES = [
    "/",
    "/categories/txn-not-enabled",
    "/articles/printer-issue",
    "/codes/",
    "/codes/58",
    "/search?q=退货提示没有权限",
    "/tickets/new",
    "/tickets/status",
]


def china(minutes: int = 0) -> str:
    """The form's value for now plus `minutes`, in China time."""
    return (dt.datetime.now(CHINA_TIME) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def stored(minutes: float) -> str:
    """The stored (UTC) time `minutes` from now."""
    return (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def publish(admin_client, csrf, text: str = TEXT, starts: str | None = None, ends: str | None = None):
    """Publish through the admin page."""
    token = csrf(admin_client, "/agent/admin/notices")
    data = {"text": text, "starts": starts or china(-1), "ends": ends or china(120), "csrf_token": token}
    return admin_client.post("/agent/admin/notices", data=data)


def travel(monkeypatch, minutes: float) -> str:
    """Make the pages (merchant and admin) take now to be `minutes` from now (fixed from here on);
    return that moment as stored."""
    at = stored(minutes)
    for module in ("webapp.notices", "webapp.admin_notices"):
        monkeypatch.setattr(f"{module}.now", lambda: at)
    return at


def banner(response) -> str | None:
    """The text of the page's banner, or None."""
    match = re.search(r'<div class="notice-banner" role="status">(.*?)</div>\s*</div>', text_of(response), re.S)
    return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip() if match else None


def test_an_admin_publishes_a_notice_and_every_merchant_page_shows_it(app, admin_client, client, csrf, file):
    response = publish(admin_client, csrf)
    assert response.status_code == 302
    page = text_of(admin_client.get("/agent/admin/notices"))
    assert "公告已发布" in page and TEXT in page and "展示中" in page
    ticket = file("POS机签到失败，一直提示通讯错误", name="王女士", phone="13812345678")
    for url in [*MERCHANT_PAGES, f"/tickets/track/{ticket.status_key}"]:
        response = client.get(url)
        assert response.status_code == 200, url
        shown = banner(response)
        assert shown and TEXT in shown, url
        ends = dt.datetime.now(CHINA_TIME) + dt.timedelta(minutes=120)
        assert ends.strftime("%m月%d日 %H:%M") in shown, url  # with its end time
    assert banner(admin_client.get("/agent/")) is None  # the desk has no merchant banner


def test_without_a_notice_no_banner(client):
    assert all(banner(client.get(url)) is None for url in MERCHANT_PAGES)


def test_a_notice_is_gone_after_its_end_time(app, admin_client, client, csrf, monkeypatch):
    publish(admin_client, csrf, ends=china(30))
    assert TEXT in banner(client.get("/"))
    travel(monkeypatch, 31)
    assert banner(client.get("/")) is None
    assert banner(client.get("/tickets/new")) is None
    assert "已结束" in text_of(admin_client.get("/agent/admin/notices"))


def test_a_scheduled_notice_shows_from_its_start(app, admin_client, client, csrf, monkeypatch):
    publish(admin_client, csrf, starts=china(60), ends=china(120))
    assert banner(client.get("/")) is None
    assert "未开始" in text_of(admin_client.get("/agent/admin/notices"))
    travel(monkeypatch, 61)
    assert TEXT in banner(client.get("/"))


def test_a_withdrawn_notice_is_gone_at_once_and_audited(app, admin_client, client, csrf, app_desk):
    publish(admin_client, csrf)
    assert banner(client.get("/articles/printer-issue"))
    notice = notices.list_notices(app_desk, stored(0))[0]
    token = csrf(admin_client, "/agent/admin/notices")
    response = admin_client.post(f"/agent/admin/notices/{notice.id}/withdraw", data={"csrf_token": token})
    assert response.status_code == 302
    assert "公告已撤下" in text_of(admin_client.get("/agent/admin/notices"))
    assert banner(client.get("/articles/printer-issue")) is None
    again = admin_client.post(f"/agent/admin/notices/{notice.id}/withdraw", data={"csrf_token": token})
    assert again.status_code == 302
    assert "已结束或已撤下" in text_of(admin_client.get("/agent/admin/notices"))
    entries = audit.entries(app_desk).entries
    assert [(e.action, e.actor, e.target) for e in entries if e.action.startswith("notice.")] == [
        ("notice.withdraw", "boss", f"notice:{notice.id}"),
        ("notice.publish", "boss", f"notice:{notice.id}"),
    ]


def test_the_etag_changes_with_the_banner_and_no_stale_304_is_served(app, admin_client, client, csrf):
    before = client.get("/articles/printer-issue")
    etag = before.headers["ETag"]
    assert client.get("/articles/printer-issue", headers={"If-None-Match": etag}).status_code == 304
    publish(admin_client, csrf)
    after = client.get("/articles/printer-issue", headers={"If-None-Match": etag})
    assert after.status_code == 200 and TEXT in banner(after)
    assert after.headers["ETag"] != etag
    assert client.get("/articles/printer-issue", headers={"If-None-Match": after.headers["ETag"]}).status_code == 304


def test_max_age_never_reaches_past_the_notices_end(app, admin_client, client, csrf, monkeypatch):
    ends_at = china(10)  # whole minutes: between 9 and 10 minutes from now
    publish(admin_client, csrf, ends=ends_at)
    response = client.get("/codes/")
    assert response.cache_control.public
    assert response.cache_control.max_age == 60  # PUBLIC_PAGE_MAX_AGE: the notice ends later
    end = dt.datetime.fromisoformat(ends_at).replace(tzinfo=CHINA_TIME)
    minutes = (end - dt.datetime.now(CHINA_TIME)).total_seconds() / 60 - 0.5
    at = travel(monkeypatch, minutes)  # about 30 s before its end, whatever the second it runs in
    max_age = client.get("/codes/").cache_control.max_age
    assert 0 <= max_age < 60
    moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00")) + dt.timedelta(seconds=max_age)
    ends = notices.list_notices(get_desk(app), stored(0))[0].ends
    assert moment.strftime("%Y-%m-%dT%H:%M:%SZ") <= ends


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"text": "停"}, "公告内容须为 2 到 200 个字"),
        ({"text": "   "}, "公告内容须为 2 到 200 个字"),
        ({"text": "停" * 201}, "公告内容须为 2 到 200 个字"),
        ({"starts": china(60), "ends": china(30)}, "结束时间必须晚于开始时间"),
        ({"starts": china(-120), "ends": china(-60)}, "结束时间必须晚于现在"),
        ({"ends": china(31 * 24 * 60)}, "结束时间最多在 30 天之后"),
        ({"ends": "明天"}, "请填写有效的日期和时间"),
    ],
)
def test_bad_notices_are_refused_in_chinese_and_nothing_is_stored(app, admin_client, csrf, app_desk, fields, message):
    response = publish(admin_client, csrf, **fields)
    assert response.status_code == 400
    assert message in text_of(response)
    with app_desk.read() as conn:
        assert conn.execute(select(notices_table)).all() == []


def test_only_admins_publish_and_withdraw(app, agent_client, client, csrf, app_desk):
    assert agent_client.get("/agent/admin/notices").status_code == 403
    token = csrf(agent_client, "/agent/")
    data = {"text": TEXT, "starts": china(-1), "ends": china(60), "csrf_token": token}
    assert agent_client.post("/agent/admin/notices", data=data).status_code == 403
    anonymous = client.get("/agent/admin/notices")
    assert anonymous.status_code == 302 and "/agent/login" in anonymous.headers["Location"]
    with app_desk.read() as conn:
        assert conn.execute(select(notices_table)).all() == []


def test_publishing_needs_the_csrf_token(app, admin_client, app_desk):
    data = {"text": TEXT, "starts": china(-1), "ends": china(60)}
    assert admin_client.post("/agent/admin/notices", data=data).status_code == 400
    with app_desk.read() as conn:
        assert conn.execute(select(notices_table)).all() == []


def test_the_form_is_prefilled_from_the_dashboard_and_linked_from_the_admin_nav(admin_client):
    page = text_of(admin_client.get("/agent/admin/notices?text=" + TEXT))
    assert re.search(rf'<textarea[^>]*name="text"[^>]*>\s*{TEXT}</textarea>', page)
    assert china(0)[:13] in page  # the start defaults to now, in China time
    assert 'href="/agent/admin/notices"' in text_of(admin_client.get("/agent/admin/users"))


def test_pages_read_the_notices_once_per_cache_period(make_app):
    app = make_app(NOTICE_CACHE_SECONDS=3600)
    client, desk = app.test_client(), get_desk(app)
    reads = []

    def count(conn, cursor, statement, *args):
        if "FROM notices" in statement:
            reads.append(statement)

    event.listen(desk.engine, "before_cursor_execute", count)
    try:
        for url in MERCHANT_PAGES:
            client.get(url)
        assert len(reads) == 1
        # Another node publishes: this process shows it once its copy is older than the period.
        at = dt.datetime.now(dt.UTC)
        notices.publish(desk, TEXT, at, at + dt.timedelta(hours=1), "boss", at)
        assert banner(client.get("/")) is None
        from webapp.notices import notice_cache

        notice_cache(app).forget()
        assert TEXT in banner(client.get("/"))
    finally:
        event.remove(desk.engine, "before_cursor_execute", count)


def test_the_notices_module_directly(desk):
    at = dt.datetime(2026, 12, 1, 8, 0, tzinfo=dt.UTC)
    first = notices.publish(desk, "  部分终端签到失败，\n正在处理  ", at, at + dt.timedelta(hours=2), "boss", at)
    assert first.text == "部分终端签到失败， 正在处理"
    later = notices.publish(desk, "今晚系统升级", at + dt.timedelta(hours=1), at + dt.timedelta(hours=3), "boss", at)
    assert [n.id for n in notices.active(desk, "2026-12-01T08:30:00Z")] == [first.id]
    assert [n.id for n in notices.active(desk, "2026-12-01T09:30:00Z")] == [first.id, later.id]
    assert [n.id for n in notices.active(desk, "2026-12-01T10:00:00Z")] == [later.id]  # ends is exclusive
    assert notices.withdraw(desk, later.id, at).withdrawn == "2026-12-01T08:00:00Z"
    assert notices.withdraw(desk, later.id, at) is None
    assert notices.active(desk, "2026-12-01T09:30:00Z") == [first]
    assert notices.withdraw(desk, 999, at) is None
