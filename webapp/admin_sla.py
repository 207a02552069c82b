"""The admin page for due times (/agent/admin/sla): the policy rows per category and priority, added,
replaced or removed by admins, with the built-in defaults and the business hours shown beside them."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import IntegerField, SelectChoice, SelectField
from wtforms.validators import InputRequired, NumberRange, ValidationError

from kb.store import list_categories
from webapp.admin import bp
from webapp.db import get_desk, get_kb
from webapp.desk import sla
from webapp.desk.tickets import PRIORITIES
from webapp.forms import ActionForm, DeskForm
from webapp.ticket_priority import business_hours_text

DEFAULT_CATEGORY = ""  # the form's value for the default row (every category)


class MinutesField(IntegerField):
    """A whole number of minutes, with the Chinese message for text that is not one."""

    def process_formdata(self, valuelist) -> None:
        """Read the number; a value that is not a whole number becomes a Chinese error."""
        try:
            super().process_formdata(valuelist)
        except ValueError:
            raise ValueError("请填写整数分钟数") from None


class PolicyForm(DeskForm):
    """One policy row: category (or the default), priority and the two times in minutes."""

    category = SelectField("分类", default=DEFAULT_CATEGORY)
    priority = SelectField(
        "优先级", choices=[SelectChoice(p, sla.PRIORITY_LABELS[p]) for p in reversed(PRIORITIES)], default="normal"
    )
    first_response_minutes = MinutesField(
        "首次响应时限（分钟）",
        validators=[
            InputRequired("请填写首次响应时限"),
            NumberRange(1, sla.MAX_MINUTES, f"首次响应时限须为 1 到 {sla.MAX_MINUTES} 分钟"),
        ],
    )
    resolution_minutes = MinutesField(
        "解决时限（分钟）",
        validators=[
            InputRequired("请填写解决时限"),
            NumberRange(1, sla.MAX_MINUTES, f"解决时限须为 1 到 {sla.MAX_MINUTES} 分钟"),
        ],
    )

    def validate_resolution_minutes(self, field) -> None:
        """The resolution time may not be shorter than the first response time."""
        first = self.first_response_minutes.data
        if field.data is not None and first is not None and field.data < first:
            raise ValidationError("解决时限不能短于首次响应时限")

    def with_categories(self, categories) -> PolicyForm:
        """Offer the default row and these categories; return the form."""
        self.category.choices = [SelectChoice(DEFAULT_CATEGORY, "全部分类（默认）")]
        self.category.choices += [SelectChoice(c.slug, c.name) for c in categories]
        return self


def _page(form: PolicyForm, status: int = 200):
    page = render_template(
        "admin/sla.html",
        policies=sla.list_policies(get_desk()),
        built_in=[(p, *sla.BUILT_IN_MINUTES[p]) for p in reversed(PRIORITIES)],
        business_hours=business_hours_text(),
        form=form,
        action_form=ActionForm(),
    )
    return page, status


@bp.route("/sla", methods=["GET", "POST"])
def sla_policies():
    """List the due-time policy and add or replace one row."""
    categories = list_categories(get_kb(), "agent")
    form = PolicyForm().with_categories(categories)
    if form.validate_on_submit():
        category = form.category.data or None
        try:
            sla.set_policy(
                get_desk(),
                category,
                form.priority.data,
                form.first_response_minutes.data,
                form.resolution_minutes.data,
                current_user.username,
                {c.slug for c in categories},
            )
        except sla.PolicyError as e:
            flash(f"未能保存：{e}", "error")
            return _page(form, 400)
        _audit("sla.update", {"category": category, "priority": form.priority.data})
        flash("时限已保存，之后提交或修改优先级的工单按新时限计算。", "success")
        return redirect(url_for(".sla_policies"))
    return _page(form, 400 if form.errors else 200)


@bp.post("/sla/<id:policy_id>/delete")
def sla_policy_delete(policy_id: int):
    """Remove one row: its category and priority fall back to the default row or the built-in times."""
    if not ActionForm().validate_on_submit():
        flash("操作未完成：请刷新页面后重试。", "error")
    elif sla.delete_policy(get_desk(), policy_id):
        _audit("sla.delete", {"policy": policy_id})
        flash("已删除这条时限。", "success")
    else:
        flash("这条时限已不存在。", "error")
    return redirect(url_for(".sla_policies"))


def _audit(action: str, detail: dict) -> None:
    """An audit entry for a settings change (engineer D's audit log, when it is there)."""
    try:
        from webapp.audit_views import audit
    except ImportError:
        return
    audit(action, "sla", detail)
