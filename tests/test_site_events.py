"""What merchants do on the FAQ site is captured as the dashboard reads it: one `site_events` row per
suggestion answered, search submitted, article opened and ticket filed, with the visitor id the page
script sent (none under Do-Not-Track), the query redacted, written in batches (never inside a
request) and pruned after SITE_EVENTS_DAYS. Bad beacons are refused in Chinese and store nothing."""

from __future__ import annotations

import re

import pytest
from conftest import text_of, ticket_form
from sqlalchemy import insert, select
from test_webapp_caching import desk_commits

from webapp.backlog import worker
from webapp.deferred import deferred
from webapp.desk.schema import site_events
from webapp.desk.site_events import SiteEvent, prune_events, record_events, redact_query, retention_cutoff

VISITOR = "Zk3vQ9xLm2Tb8WcR1yHs0A"  # what static/js/events.js makes: 16 random bytes, url-safe base64
OTHER_VISITOR = "q" * 22


def events(app_desk) -> list[dict]:
    """The site_events rows, oldest first, without their ids."""
    with app_desk.read() as conn:
        rows = conn.execute(select(site_events).order_by(site_events.c.id)).all()
    return [{k: v for k, v in r._mapping.items() if k != "id"} for r in rows]


def flushed(app, app_desk) -> list[dict]:
    """Write what the app noted (as its background worker does) and return the rows."""
    worker(app).flush_writes()
    return events(app_desk)


def suggest(client, text: str, visitor: str | None = VISITOR, headers: dict | None = None):
    """The ticket form's live suggestions, as static/js/suggest.js asks for them."""
    page = text_of(client.get("/tickets/new"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post(
        "/tickets/suggestions",
        json={"q": text, "visitor": visitor},
        headers={"X-CSRFToken": token, **(headers or {})},
    )


def test_suggestions_shown_while_typing_are_one_row_each(app, client, app_desk):
    response = suggest(client, "退货提示没有权限")
    assert response.status_code == 200
    shown = response.get_json()["results"]
    assert shown and shown[0]["url"].startswith("/articles/")
    assert "no-store" in response.headers["Cache-Control"]
    rows = flushed(app, app_desk)
    assert len(rows) == 1
    row = rows[0]
    assert row["kind"] == "suggest" and row["query"] == "退货提示没有权限" and row["results"] == len(shown)
    assert row["visitor"] == VISITOR and row["slug"] is None and row["ticket_id"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["at"])


def test_suggestions_need_the_forms_csrf_token_and_text(app, client, app_desk):
    assert client.post("/tickets/suggestions", json={"q": "退货提示没有权限"}).status_code == 400
    refused = suggest(client, "   ")
    assert refused.status_code == 400 and "请填写问题描述" in text_of(refused)
    assert flushed(app, app_desk) == []


def test_a_submitted_search_is_a_row_with_its_result_count(app, client, app_desk):
    page = text_of(client.get(f"/search?q=退货提示没有权限&visitor={VISITOR}"))
    shown = page.count('class="result-title"')
    assert shown > 0
    assert "没有找到" in text_of(client.get("/search?q=火星移民签证"))
    client.get("/search?q=")  # the empty search page: nothing searched
    rows = flushed(app, app_desk)
    assert [(r["kind"], r["query"], r["results"], r["visitor"]) for r in rows] == [
        ("search", "退货提示没有权限", shown, VISITOR),
        ("search", "火星移民签证", 0, None),
    ]


def test_api_and_agent_searches_are_not_site_events(app, client, agent_client, app_desk):
    assert client.get("/api/v1/search?q=退货").status_code == 200
    assert client.post("/api/v1/search", json={"q": "退货", "limit": "5"}).status_code == 200
    assert agent_client.get("/agent/search?q=退货").status_code == 200
    assert flushed(app, app_desk) == []


def test_the_no_script_deflection_step_is_a_search_and_filing_is_a_ticket_row(app, client, csrf, app_desk):
    token = csrf(client, "/tickets/new")
    first = client.post("/tickets/new", data=ticket_form(token, visitor=VISITOR))
    assert "先看看这些文章" in text_of(first)
    shown = text_of(first).count('target="_blank" rel="noopener"')
    filed = client.post("/tickets/new", data=ticket_form(token, visitor=VISITOR, reviewed="1"))
    assert filed.status_code == 302
    rows = flushed(app, app_desk)
    assert [r["kind"] for r in rows] == ["search", "ticket"]
    assert rows[0]["query"] == ticket_form("")["description"] and rows[0]["results"] == shown > 0
    assert rows[1]["ticket_id"] == 1 and rows[1]["query"] is None
    assert rows[0]["visitor"] == rows[1]["visitor"] == VISITOR


def test_a_forged_visitor_field_is_ignored_not_refused(app, client, csrf, app_desk):
    token = csrf(client, "/tickets/new")
    filed = client.post("/tickets/new", data=ticket_form(token, visitor="<script>", reviewed="1"))
    assert filed.status_code == 302
    assert [(r["kind"], r["visitor"]) for r in flushed(app, app_desk)] == [("ticket", None)]


def test_an_opened_article_is_reported_with_the_query_that_led_there(app, client, app_desk):
    beacon = {"kind": "article", "slug": "refund-void-permission", "query": "退货提示没有权限", "visitor": VISITOR}
    assert client.post("/events", data=beacon).status_code == 204
    assert client.post("/events", data={"kind": "article", "slug": "printer-issue"}).status_code == 204
    rows = flushed(app, app_desk)
    assert [(r["kind"], r["slug"], r["query"], r["visitor"]) for r in rows] == [
        ("article", "refund-void-permission", "退货提示没有权限", VISITOR),
        ("article", "printer-issue", None, None),
    ]


def test_the_beacon_sets_no_cookie_and_needs_no_csrf_token(client):
    response = client.post("/events", data={"kind": "article", "slug": "printer-issue", "visitor": VISITOR})
    assert response.status_code == 204
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(
    "beacon, message",
    [
        ({"kind": "search", "slug": "printer-issue"}, "只接受打开文章"),
        ({"slug": "printer-issue"}, "只接受打开文章"),
        ({"kind": "article"}, "文章不存在或未公开"),
        ({"kind": "article", "slug": "no-such-article"}, "文章不存在或未公开"),
        ({"kind": "article", "slug": "agent-enable-permission"}, "文章不存在或未公开"),  # internal
        ({"kind": "article", "slug": "printer-issue", "query": "长" * 201}, "不能超过 200 个字"),
        ({"kind": "article", "slug": "printer-issue", "visitor": "not a visitor"}, "访客标识格式不正确"),
        ({"kind": "article", "slug": "printer-issue", "visitor": "short"}, "访客标识格式不正确"),
        ({"kind": "article", "slug": "printer-issue", "ticket_id": "3"}, "不认识的字段"),
    ],
)
def test_bad_beacons_get_400_with_a_chinese_message_and_store_nothing(app, client, app_desk, beacon, message):
    response = client.post("/events", data=beacon)
    assert response.status_code == 400
    assert message in text_of(response)
    assert flushed(app, app_desk) == []


@pytest.mark.parametrize("header", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_do_not_track_and_global_privacy_control_record_no_visitor(app, client, csrf, app_desk, header):
    suggest(client, "退货提示没有权限", headers=header)
    client.get(f"/search?q=退货&visitor={VISITOR}", headers=header)
    client.post("/events", data={"kind": "article", "slug": "printer-issue", "visitor": VISITOR}, headers=header)
    token = csrf(client, "/tickets/new")
    client.post("/tickets/new", data=ticket_form(token, visitor=VISITOR, reviewed="1"), headers=header)
    rows = flushed(app, app_desk)
    assert [r["kind"] for r in rows] == ["suggest", "search", "article", "ticket"]
    assert [r["visitor"] for r in rows] == [None] * 4


def test_queries_are_stored_redacted(app, client, app_desk):
    suggest(client, "手机13812345678，卡号4111 1111 1111 1111刷不了")
    client.get("/search?q=身份证110101199003078888 开户")
    client.post("/events", data={"kind": "article", "slug": "printer-issue", "query": "卡号4111111111111111"})
    stored = [r["query"] for r in flushed(app, app_desk)]
    assert stored == [
        "手机138****5678，卡号411111******1111刷不了",
        "身份证110101********8888 开户",
        "卡号411111******1111",
    ]


def test_nothing_is_written_inside_a_request_and_one_flush_writes_it_all(app, client, csrf, app_desk):
    client.get("/codes/")  # the first request of a process creates any missing tables
    with desk_commits(app) as commits:
        suggest(client, "退货提示没有权限")
        client.get("/search?q=退货")
        client.post("/events", data={"kind": "article", "slug": "printer-issue"})
        assert not commits, "noting a site event committed"
        assert events(app_desk) == []
        worker(app).flush_writes()
        assert len(commits) == 1
    assert [r["kind"] for r in events(app_desk)] == ["suggest", "search", "article"]


def test_a_clean_shutdown_writes_the_events_still_noted(app, client, app_desk):
    client.post("/events", data={"kind": "article", "slug": "printer-issue"})
    worker(app).stop()
    assert [r["kind"] for r in events(app_desk)] == ["article"]


def test_a_failed_batch_keeps_its_events_for_the_next(app, app_desk, monkeypatch):
    noted = deferred(app)
    noted.note_event(SiteEvent("article", "2026-12-01T08:30:00Z", slug="printer-issue"))

    def broken(desk, events):
        raise RuntimeError("database is locked")

    monkeypatch.setattr("webapp.deferred.record_events", broken)
    with pytest.raises(RuntimeError):
        noted.flush(app_desk)
    monkeypatch.undo()
    noted.flush(app_desk)
    assert [r["slug"] for r in events(app_desk)] == ["printer-issue"]


def test_events_older_than_the_retention_are_pruned_by_the_workers_round(make_app):
    app = make_app(SITE_EVENTS_DAYS=30)
    from webapp.db import get_desk

    desk = get_desk(app)
    record_events(
        desk,
        [
            SiteEvent("search", retention_cutoff(31), query="旧的搜索", results=0),
            SiteEvent("search", retention_cutoff(29), query="新的搜索", results=2),
        ],
    )
    assert worker(app).prune() == 1
    assert [r["query"] for r in events(desk)] == ["新的搜索"]


def test_record_and_prune_directly(desk):
    record_events(desk, [SiteEvent("ticket", "2026-01-01T00:00:00Z", visitor=VISITOR, ticket_id=7)])
    with desk.write() as conn:
        conn.execute(insert(site_events).values(at="2026-03-01T00:00:00Z", kind="article", slug="printer-issue"))
    assert prune_events(desk, "2026-02-01T00:00:00Z") == 1
    assert [(r["kind"], r["slug"]) for r in events(desk)] == [("article", "printer-issue")]


def test_site_events_refuse_what_the_contract_does_not_allow():
    with pytest.raises(ValueError):
        SiteEvent("view", "2026-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        SiteEvent("article", "2026-01-01T00:00:00Z", visitor="a b")
    assert redact_query("  ") is None
    assert redact_query("查" * 300) == "查" * 200
