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


def notice_text(burst: Burst, category_names: dict[str, str]) -> str:
    """A banner an admin may publish for this burst (editable before it goes out)."""
    if burst.kind == "code":
        return f"部分终端交易返回应答码 {burst.key}，我们正在处理，请稍后再试。"
    name = category_names.get(burst.key, burst.key)
    return f"部分商户反映“{name}”相关问题增多，我们正在处理，请稍后再试。"


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
    except RangeError as e:
        abort(400, description=e.message)
    category_names, titles = _names()
    found = next(c for c in charts(stats, category_names, titles) if c.id == chart)
    name = f"posdesk-{chart}-{span.start.isoformat()}-{span.end.isoformat()}.csv"
    return Response(
        found.csv(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Content-Type": "text/csv; charset=utf-8"},
    )
