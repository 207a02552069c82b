"""Priority and due times on the desk: the app's settings for the rules (amount threshold, business
hours), an agent setting a ticket's priority, and what the queue and the ticket page show (priority
labels, due times, the 已超时 mark)."""

from __future__ import annotations

from flask import current_app
from flask_login import current_user
from wtforms import SelectChoice, SelectField
from wtforms.validators import DataRequired

from webapp.agent import _act, bp
from webapp.db import get_desk
from webapp.desk import priority, sla
from webapp.desk.tickets import PRIORITIES
from webapp.forms import DeskForm

OVERDUE_LABELS = {"first_response": "首次响应已超时", "resolution": "解决已超时"}


class PriorityForm(DeskForm):
    """An agent sets a ticket's priority."""

    priority = SelectField(
        "优先级",
        choices=[SelectChoice(p, sla.PRIORITY_LABELS[p]) for p in PRIORITIES],
        validators=[DataRequired("请选择优先级")],
    )


def overdue(ticket) -> str | None:
    """Template filter: which due time the ticket has passed ("first_response", "resolution") or None."""
    return sla.overdue(ticket)


@bp.app_context_processor
def priority_context() -> dict:
    """What the queue and the ticket page need to show priorities and due times."""
    return {
        "priority_labels": sla.PRIORITY_LABELS,
        "overdue_labels": OVERDUE_LABELS,
        "priority_form": lambda current: PriorityForm(formdata=None, priority=current),
    }


bp.add_app_template_filter(overdue, "overdue")


@bp.post("/tickets/<id:ticket_id>/priority")
def ticket_priority(ticket_id: int):
    """Set the ticket's priority (recorded in its history; the due times follow)."""
    form = PriorityForm()
    return _act(
        ticket_id,
        form,
        lambda f: priority.set_priority(get_desk(), ticket_id, f.priority.data, current_user.username),
        "优先级已更新。",
    )


def business_hours_text() -> str:
    """The configured business hours as the admin page shows them."""
    hours = sla.settings_from(current_app.config).business_hours
    if hours is None:
        return "未设置（按 7×24 小时计算）"
    return f"周一至周五 {hours.start:%H:%M}-{hours.end:%H:%M}（北京时间）"
