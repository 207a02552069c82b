"""Bulk actions from the queue: the tickets ticked there get an assignee, a status, a category or a
priority together (one POST with its CSRF token, one history entry per ticket, one audit entry)."""

from __future__ import annotations

import json

from flask import flash, redirect, request, url_for
from flask_login import current_user
from wtforms import SelectChoice, SelectField

from kb.store import list_categories
from triage.prediction import OUT_OF_SCOPE
from webapp.agent import bp
from webapp.db import get_desk, get_kb
from webapp.desk import sla
from webapp.desk.accounts import list_users
from webapp.desk.bulk import UNASSIGNED, BulkChanges, bulk_update
from webapp.desk.tickets import PRIORITIES, STATUSES, TicketError
from webapp.forms import OUT_OF_SCOPE_NAME, STATUS_LABELS, DeskForm
from webapp.jobs import enqueue_delivery

KEEP = "_keep"  # the select option that leaves a field as it is
KEEP_LABEL = "不修改"


class BulkForm(DeskForm):
    """The queue's bulk bar: what to set on the ticked tickets (the choices are set by `bulk_form`)."""

    assignee = SelectField("指派给", default=KEEP)
    status = SelectField("状态", default=KEEP)
    category = SelectField("分类", default=KEEP)
    priority = SelectField("优先级", default=KEEP)


def bulk_form(formdata=None) -> BulkForm:
    """The bulk bar's form with its choices: active accounts, statuses, categories, priorities."""
    form = BulkForm(formdata=formdata)
    keep = [SelectChoice(KEEP, KEEP_LABEL)]
    users = [SelectChoice(u.username, u.username) for u in list_users(get_desk()) if u.active]
    form.assignee.choices = [*keep, SelectChoice(UNASSIGNED, "取消指派"), *users]
    form.status.choices = [*keep, *(SelectChoice(s, STATUS_LABELS[s]) for s in STATUSES)]
    categories = [SelectChoice(c.slug, c.name) for c in list_categories(get_kb(), "agent")]
    form.category.choices = [*keep, *categories, SelectChoice(OUT_OF_SCOPE, OUT_OF_SCOPE_NAME)]
    form.priority.choices = [*keep, *(SelectChoice(p, sla.PRIORITY_LABELS[p]) for p in PRIORITIES)]
    return form


@bp.context_processor
def bulk_context() -> dict:
    """The queue page builds its bulk bar with `bulk_form()`."""
    return {"bulk_form": bulk_form}


FIELD_LABELS = {"assignee": "处理人", "status": "状态", "category": "分类", "priority": "优先级"}


def bulk_changes(raw: str | None) -> str:
    """Template filter: a `bulk` history entry's changes in Chinese ("状态：新建 → 已解决；…")."""
    try:
        diff = json.loads(raw or "{}")
    except ValueError:
        return raw or ""
    names = {c.slug: c.name for c in list_categories(get_kb(), "agent")} | {OUT_OF_SCOPE: OUT_OF_SCOPE_NAME}
    labels = {"status": STATUS_LABELS, "priority": sla.PRIORITY_LABELS, "category": names}
    parts = []
    for key in ("assignee", "status", "category", "priority"):
        if key in diff:
            old, new = (labels.get(key, {}).get(v, v) if v else "无" for v in diff[key])
            parts.append(f"{FIELD_LABELS[key]}：{old} → {new}")
    return "；".join(parts)


bp.add_app_template_filter(bulk_changes, "bulk_changes")


def _value(field) -> str | None:
    return None if field.data == KEEP else field.data


def _ticket_ids() -> list[int] | None:
    try:
        return [int(v) for v in request.form.getlist("ticket")]
    except ValueError:
        return None


@bp.post("/bulk")
def bulk():
    """Apply the bulk bar's choices to the ticked tickets, then show the queue again (same filters)."""
    back = request.form.get("next") or ""
    target = back if back.startswith("/agent") and "//" not in back else url_for(".queue")
    form = bulk_form(request.form)
    ids = _ticket_ids()
    if not form.validate_on_submit() or ids is None:
        flash("批量操作未完成：请刷新页面后重试。", "error")
        return redirect(target)
    if not ids:
        flash("批量操作未完成：请先勾选工单。", "error")
        return redirect(target)
    changes = BulkChanges(
        assignee=_value(form.assignee),
        status=_value(form.status),
        category=_value(form.category),
        priority=_value(form.priority),
    )
    if not changes.any():
        flash("批量操作未完成：请至少选择一项要修改的内容。", "error")
        return redirect(target)
    known = {c.slug for c in list_categories(get_kb(), "agent")}
    desk = get_desk()
    try:
        with desk.write():  # the tickets and the audit entry, in one commit
            result = bulk_update(desk, ids, changes, current_user.username, known)
            _audit(ids, changes, result)
    except TicketError as e:
        flash(f"批量操作未完成：{getattr(e, 'message', e)}。", "error")
        return redirect(target)
    if changes.status is not None:  # status events for the webhooks
        enqueue_delivery()
    message = f"已批量更新 {len(result.changed)} 个工单"
    if result.unchanged:
        message += f"，{len(result.unchanged)} 个无需修改"
    if result.missing:
        message += f"，{len(result.missing)} 个工单不存在"
    flash(message + "。", "success")
    return redirect(target)


def _audit(ids: list[int], changes: BulkChanges, result) -> None:
    """The audit entry `ticket.bulk` (engineer D's audit log, when it is there)."""
    try:
        from webapp.audit_views import audit
    except ImportError:
        return
    detail = {
        "tickets": ids,
        "changed": result.changed,
        "changes": {k: v for k, v in changes.__dict__.items() if v is not None},
    }
    audit("ticket.bulk", f"tickets:{len(ids)}", detail)
