"""The admin page of the audit log (a route of the admin blueprint, admins only): newest first, paged,
filtered by actor, action and dates in the URL. Read-only: no route edits or deletes an entry."""

from __future__ import annotations

import datetime as dt
import json

from flask import render_template, request

from webapp.admin import bp
from webapp.db import get_desk
from webapp.desk import audit
from webapp.render import CHINA_TIME

# What the page calls each action (an action not listed shows as stored).
ACTION_LABELS = {
    "login.success": "登录成功",
    "login.failure": "登录失败",
    "user.create": "新建账号",
    "user.password": "重设密码",
    "user.role": "更改角色",
    "user.activate": "启用账号",
    "user.deactivate": "停用账号",
    "token.create": "新建 API 令牌",
    "token.revoke": "吊销 API 令牌",
    "webhook.create": "新建 Webhook",
    "webhook.activate": "启用 Webhook",
    "webhook.deactivate": "停用 Webhook",
    "template.create": "新建回复模板",
    "template.update": "修改回复模板",
    "template.delete": "删除回复模板",
    "sla.update": "修改时限规则",
    "sla.delete": "删除时限规则",
    "notice.publish": "发布公告",
    "notice.withdraw": "撤下公告",
    "ticket.update": "修改工单",
    "ticket.merge": "合并工单",
    "ticket.bulk": "批量处理工单",
    "article.create": "新建文章",
    "article.save": "修改文章",
    "article.revert": "恢复文章版本",
    "article.publish": "发布文章",
    "article.unpublish": "下线文章",
}


@bp.app_template_filter("audit_value")
def audit_value(value: object) -> str:
    """A detail's value as the page shows it: text as it is, anything else as JSON (Chinese kept
    readable, never a Python repr)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _day(value: str | None) -> str:
    """An ISO date from the URL, or "" for none (or nonsense)."""
    try:
        return dt.date.fromisoformat((value or "").strip()).isoformat()
    except ValueError:
        return ""


def _utc(day: str, days_later: int = 0) -> str | None:
    """The stored (UTC) time at which a China-time day starts, `days_later` days on."""
    if not day:
        return None
    start = dt.datetime.combine(dt.date.fromisoformat(day) + dt.timedelta(days=days_later), dt.time(), CHINA_TIME)
    return start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@bp.get("/audit")
def audit_log():
    """The audit log: who did what, when and from where."""
    filters = {
        "actor": (request.args.get("actor") or "").strip()[:200],
        "action": (request.args.get("action") or "").strip()[:100],
        "since": _day(request.args.get("since")),
        "until": _day(request.args.get("until")),
    }
    page = max(1, request.args.get("page", 1, type=int) or 1)
    desk = get_desk()
    since, until = _utc(filters["since"]), _utc(filters["until"], 1)
    result = audit.entries(desk, filters["actor"], filters["action"], since, until, page=page, until_exclusive=True)
    known = sorted(set(ACTION_LABELS) | set(audit.actions(desk)))
    return render_template(
        "admin/audit.html",
        result=result,
        filters={k: v for k, v in filters.items() if v},
        actions=known,
        action_labels=ACTION_LABELS,
    )
