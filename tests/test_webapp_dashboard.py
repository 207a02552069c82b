"""The dashboard page, its CSV files and `GET /api/v1/stats`: who may see them, the range they cover,
bad dates refused in Chinese, and the same numbers everywhere."""

import csv
import datetime as dt
import io
import json
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from conftest import text_of
from stats_helpers import add_event, add_ticket

from webapp.desk.stats import CHINA_TIME


@pytest.fixture
def busy_desk(app_desk):
    """Today: 6 sign-on failures in the last hour (a burst), a confirmed and a corrected ticket, and a
    visitor who saw suggestions and filed."""
    now = dt.datetime.now(CHINA_TIME)
    for _ in range(6):
        add_ticket(app_desk, now - dt.timedelta(minutes=20), "network-host", codes=("A0",), text="签到失败 应答码A0")
    add_ticket(app_desk, now - dt.timedelta(minutes=10), "settlement", agent="settlement")
    add_ticket(app_desk, now - dt.timedelta(minutes=10), "settlement", agent="limits")
    add_event(app_desk, now - dt.timedelta(hours=2), "suggest", "v1", query="签到失败", results=3)
    add_event(app_desk, now - dt.timedelta(hours=2) + dt.timedelta(minutes=1), "ticket", "v1", ticket_id=1)
    add_event(app_desk, now - dt.timedelta(hours=2), "search", "v2", query="蓝屏", results=0)
    return app_desk


def chart_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_the_dashboard_needs_a_desk_login(client):
    response = client.get("/agent/dashboard")
    assert response.status_code == 302 and "/agent/login" in response.headers["Location"]
    assert client.get("/agent/dashboard/volume.csv").status_code == 302


def test_an_agent_sees_the_charts_and_the_burst_but_no_notice_link(agent_client, busy_desk):
    response = agent_client.get("/agent/dashboard")
    page = text_of(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "数据看板" in page and "每日工单量（按分类）" in page and "下载 CSV" in page
    assert "应答码 A0" in page and "签到失败" in page  # the burst, with an example
    assert "发布公告" not in page
    data = chart_data(page)
    assert data["volume"]["labels"][-1] == dt.datetime.now(CHINA_TIME).date().isoformat()
    assert sum(data["volume"]["series"][0]["values"]) == 6  # the largest category first
    assert data["funnel"]["series"][0]["values"][:4] == [1, 0, 0, 1]  # shown, opened, abandoned, filed
    assert "<script>" not in page.replace('<script type="application/json"', "")  # no inline script (CSP)


def test_an_admin_gets_a_notice_link_with_suggested_text(admin_client, busy_desk):
    page = text_of(admin_client.get("/agent/dashboard"))
    links = re.findall(r'href="([^"]*notices\?text=[^"]*)"', page)
    assert links, "no 发布公告 link"
    texts = [parse_qs(urlsplit(unquote(link.replace("&amp;", "&"))).query)["text"][0] for link in links]
    assert any("应答码 A0" in t and "正在处理" in t for t in texts)
    # A cause burst is announced by what merchants see, not by the cause's name.
    assert "部分终端出现通讯失败或连接超时，我们正在处理，请稍后再试。" in texts


def test_a_bad_range_on_the_page_says_so_and_shows_the_last_30_days(agent_client):
    response = agent_client.get("/agent/dashboard?from=2026-02-30")
    assert response.status_code == 400
    assert "日期有误" in text_of(response) and "每日工单量" in text_of(response)
    download = agent_client.get("/agent/dashboard/volume.csv?from=xx")
    assert download.status_code == 400 and text_of(download).startswith("日期有误：")


def test_csv_has_a_bom_a_header_and_the_numbers_the_chart_plots(agent_client, busy_desk):
    today = dt.datetime.now(CHINA_TIME).date()
    args = f"from={today - dt.timedelta(days=6)}&to={today}"
    data = chart_data(text_of(agent_client.get(f"/agent/dashboard?{args}")))
    for chart in ("volume", "funnel", "triage", "confusion"):
        response = agent_client.get(f"/agent/dashboard/{chart}.csv?{args}")
        assert response.status_code == 200 and response.mimetype == "text/csv"
        assert response.headers["Content-Disposition"].startswith("attachment")
        body = response.get_data()
        assert body.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        plotted = data[chart]
        assert rows[0][1 : 1 + len(plotted["series"])] == [s["name"] for s in plotted["series"]]
        assert [r[0] for r in rows[1:]] == plotted["labels"]
        for i, series in enumerate(plotted["series"], start=1):
            assert [r[i] for r in rows[1:]] == ["" if v is None else str(v) for v in series["values"]]
    volume = list(
        csv.reader(io.StringIO(agent_client.get(f"/agent/dashboard/volume.csv?{args}").text.lstrip("\ufeff")))
    )
    assert len(volume) == 1 + 7 and volume[-1][0] == today.isoformat()
    assert agent_client.get("/agent/dashboard/nothing.csv").status_code == 404
    assert agent_client.get("/agent/dashboard/volume.csv?to=yesterday").status_code == 400


def test_the_api_needs_a_token(client):
    response = client.get("/api/v1/stats")
    assert response.status_code == 401 and response.json["ok"] is False


def test_the_api_answers_the_last_30_days_by_default_with_the_page_numbers(
    client, agent_client, api_headers, busy_desk
):
    response = client.get("/api/v1/stats", headers=api_headers)
    body = response.json
    assert response.status_code == 200 and body["ok"] is True
    today = dt.datetime.now(CHINA_TIME).date()
    assert (body["start"], body["end"]) == ((today - dt.timedelta(days=29)).isoformat(), today.isoformat())
    assert len(body["volume"]["days"]) == 30
    assert sum(body["volume"]["counts"]["network-host"]) == 6
    (version,) = body["triage"]
    assert (version["decided"], version["confirmed"], version["accuracy"]) == (2, 1, 0.5)
    assert [(c["predicted"], c["actual"]) for c in version["confusions"]] == [("settlement", "limits")]
    assert body["funnel"]["outcome"] == {"filed": 1, "abandoned": 0, "still_open": 0}
    assert body["gaps"]["searches"]["no_result"][0]["query"] == "蓝屏"
    assert {(b["kind"], b["key"]) for b in body["bursts"]} >= {("code", "A0"), ("category", "network-host")}
    page = chart_data(text_of(agent_client.get("/agent/dashboard")))
    assert page["volume"]["labels"] == body["volume"]["days"]
    assert {s["name"]: s["values"] for s in page["volume"]["series"]}["网络通讯/主机故障"] == body["volume"]["counts"][
        "network-host"
    ]


@pytest.mark.parametrize(
    "query, message",
    [
        ("from=2026-1-1", "from 必须是 YYYY-MM-DD"),
        ("to=2026-02-30", "to 必须是 YYYY-MM-DD"),
        ("from=2026-03-01&to=2026-02-01", "不能早于"),
        ("from=2024-01-01&to=2026-01-01", "最多 366 天"),
        ("start=2026-01-01", "不认识的字段"),
    ],
)
def test_the_api_refuses_bad_dates_in_chinese(client, api_headers, query, message):
    response = client.get(f"/api/v1/stats?{query}", headers=api_headers)
    assert response.status_code == 400
    assert response.json["ok"] is False and response.json["status"] == 400
    assert message in response.json["message"]


def test_stats_are_listed_in_the_desk_navigation(agent_client):
    page = text_of(agent_client.get("/agent/"))
    assert 'href="/agent/dashboard"' in page and "数据看板" in page


def test_a_range_without_tickets_shows_empty_charts(agent_client):
    page = text_of(agent_client.get("/agent/dashboard?from=2020-01-01&to=2020-01-31"))
    assert "这段时间没有数据" in page
    assert chart_data(page)["volume"]["series"] == []


def test_articles_past_their_reverify_date_are_listed_on_the_page_and_in_the_api(
    client, admin_client, api_headers, app_desk
):
    from webapp.desk import article_edits

    article = article_edits.get_article(app_desk, "printer-issue")
    stale = re.sub(r"^reverify_by: .*$", "reverify_by: 2020-01-31", article.source, count=1, flags=re.M)
    article_edits.save(app_desk, "printer-issue", stale, "lina", is_admin=True)

    listed = client.get("/api/v1/stats", headers=api_headers).get_json()["reverify"]
    assert {"slug": "printer-issue", "title": article.article.title, "reverify_by": "2020-01-31"} in listed
    page = admin_client.get("/agent/dashboard").get_data(as_text=True)
    assert "已过复核日期的文章" in page and "/agent/articles/printer-issue/edit" in page and "2020-01-31" in page
