"""The support lead's dashboard (/agent/dashboard, agents and admins): every figure of
`webapp.desk.stats` for a range of days as charts with table fallbacks, one CSV per chart, and the
bursts flagged at the top (admins get a link to announce one on the merchant pages).
`/api/v1/stats` answers the same figures through `current_stats`."""

from __future__ import annotations

import json

from flask import Response, abort, current_app, flash, render_template, request, url_for
from flask_login import current_user

from kb.store import list_articles, list_categories
from triage.prediction import OUT_OF_SCOPE
from webapp.agent import bp
from webapp.dashboard_charts import CHART_IDS, charts
from webapp.db import get_desk, get_kb
from webapp.desk.stats import RangeError, Stats, StatsRange, StatsSettings, collect, parse_range
from webapp.desk.stats_bursts import Burst
from webapp.forms import OUT_OF_SCOPE_NAME
from webapp.model import current_triager


def current_stats(args) -> tuple[StatsRange, Stats]:
    """The figures for the `from`/`to` of a query string (default: the last 30 days); RangeError
    for bad dates."""
    span = parse_range(args.get("from") or None, args.get("to") or None)
    config = current_app.config
    settings = StatsSettings(
        burst_hours=int(config["BURST_HOURS"]),
        burst_min=int(config["BURST_MIN"]),
        cluster_tickets=int(config["GAP_CLUSTER_TICKETS"]),
    )
    return span, collect(get_desk(), span, settings, current_triager())


def _names() -> tuple[dict[str, str], dict[str, str]]:
    categories = {c.slug: c.name for c in list_categories(get_kb(), "agent")} | {OUT_OF_SCOPE: OUT_OF_SCOPE_NAME}
    titles = {a.slug: a.title for a in list_articles(get_kb(), audience="agent")}
    return categories, titles


# What a banner tells merchants while a cause bursts: what they see and that it is being handled,
# never that the cause is theirs (operation, cards, limits are what a merchant can check himself).
BURST_NOTICES = {
    "txn-not-enabled": "部分终端交易提示“该商户没有权限”，我们正在核查处理，请稍后再试。",
    "merchant-risk-status": "部分商户交易受限，我们正在核查处理，结果会通过工单回复，请留意。",
    "merchant-info": "近期商户资料审核的咨询较多，我们正在加快处理，请耐心等待审核结果。",
    "terminal-binding": "部分终端提示未登记或被停用，我们正在核查处理，请稍后再试。",
    "terminal-software": "部分终端签到失败或提示重新签到，我们正在处理，请稍后再试。",
    "operation": "近期交易操作类问题咨询较多，请先查看帮助中心的操作指南，仍有问题请提交工单。",
    "limits": "近期交易限额类问题咨询较多，请先查看帮助中心的限额说明，仍有问题请提交工单。",
    "card-issuer": "近期部分银行卡交易被拒较多，请让持卡人联系发卡行，或换卡重试。",
    "network-host": "部分终端出现通讯失败或连接超时，我们正在处理，请稍后再试。",
    "device-hardware": "近期设备故障报修较多，我们正在加快处理，请耐心等待。",
    "settlement": "部分商户的交易款到账延迟，我们正在核查处理，资金安全，无需重复提交工单。",
    "fees": "近期费率和收费问题咨询较多，我们正在逐一核实，结果会通过工单回复。",
    "illegal-acquiring": "近期有冒充客服、以“POS机停用/升级/降费率”为由的诈骗短信和电话，请勿点击链接或透露验证码。",
    "service-requests": "近期业务办理咨询较多，我们正在加快处理，请耐心等待工单回复。",
}


def notice_text(burst: Burst, category_names: dict[str, str]) -> str:
    """A banner an admin may publish for this burst (editable before it goes out)."""
    if burst.kind == "code":
        return f"部分终端交易返回应答码 {burst.key}，我们正在处理，请稍后再试。"
    name = category_names.get(burst.key, burst.key)
    return BURST_NOTICES.get(burst.key, f"近期“{name}”相关问题增多，我们正在处理，请稍后再试。")


def notice_link(text: str) -> str:
    """The notices page (webapp.admin_notices) with the banner text filled in."""
    return url_for("admin.notice_list", text=text)


@bp.get("/dashboard")
def dashboard():
    """The dashboard for the range asked for (a bad range: the default one, with a message)."""
    status = 200
    try:
        span, stats = current_stats(request.args)
    except RangeError as e:
        flash(f"日期有误：{e.message}。已显示最近 30 天。", "error")
        span, stats = current_stats({})
        status = 400
    category_names, titles = _names()
    drawn = charts(stats, category_names, titles)
    bursts = [
        {
            "burst": b,
            "name": category_names.get(b.key, b.key) if b.kind == "category" else f"应答码 {b.key}",
            "notice": notice_link(notice_text(b, category_names)) if current_user.is_admin else None,
        }
        for b in stats.bursts
    ]
    page = render_template(
        "agent/dashboard.html",
        span=span,
        stats=stats,
        charts=drawn,
        bursts=bursts,
        can_edit_articles=current_user.can_edit_articles,
        chart_data=json.dumps({c.id: c.config() for c in drawn}, ensure_ascii=False).replace("<", "\\u003c"),
        csv_args={"from": span.start.isoformat(), "to": span.end.isoformat()},
    )
    return page, status


@bp.get("/dashboard/<chart>.csv")
def dashboard_csv(chart: str):
    """One chart's numbers as a CSV file (UTF-8 with BOM), for the same range as the page."""
    if chart not in CHART_IDS:
        abort(404)
    try:
        span, stats = current_stats(request.args)
    except RangeError as e:  # a download has no page to show a message on: the file says it
        return Response(f"日期有误：{e.message}\n", 400, mimetype="text/plain")
    category_names, titles = _names()
    found = next(c for c in charts(stats, category_names, titles) if c.id == chart)
    name = f"posdesk-{chart}-{span.start.isoformat()}-{span.end.isoformat()}.csv"
    return Response(
        found.csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "text/csv; charset=utf-8"},
    )
