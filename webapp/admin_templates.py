"""The admin pages of reply templates (routes of the admin blueprint, admins only): list, add, edit and
delete the canned public replies agents insert, per category."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from wtforms import SelectChoice

from kb.store import list_categories
from webapp.admin import bp
from webapp.db import get_desk, get_kb
from webapp.desk.reply_templates import PLACEHOLDERS, delete_template, get_template, list_templates, save_template
from webapp.desk.tickets import TicketError
from webapp.errors import person_message
from webapp.forms import ActionForm, ReplyTemplateForm


def _form(**values) -> ReplyTemplateForm:
    form = ReplyTemplateForm(**values)
    form.category.choices = [SelectChoice("", "全部分类")] + [
        SelectChoice(c.slug, c.name) for c in list_categories(get_kb(), "agent")
    ]
    return form


def _known(category: str) -> str | None:
    """The chosen category, or None for all; a category that does not exist is refused (400)."""
    if category and category not in {c.slug for c in list_categories(get_kb(), "agent")}:
        abort(400, description="未知的分类")
    return category or None


@bp.route("/templates", methods=["GET", "POST"])
def reply_templates():
    """List the reply templates and add one."""
    form = _form()
    status = 200
    if form.validate_on_submit():
        try:
            saved = save_template(
                get_desk(), form.name.data, form.body.data, _known(form.category.data), current_user.username
            )
            flash(f"已添加模板“{saved.name}”。", "success")
            return redirect(url_for(".reply_templates"))
        except TicketError as e:
            flash(f"未能保存模板：{person_message(e)}", "error")
            status = 400
    elif form.errors:
        status = 400
    return _page(form, None), status


@bp.route("/templates/<id:template_id>", methods=["GET", "POST"])
def reply_template(template_id: int):
    """Edit one reply template."""
    template = get_template(get_desk(), template_id) or abort(404)
    form = _form(obj=None, name=template.name, body=template.body, category=template.category or "")
    status = 200
    if form.validate_on_submit():
        try:
            save_template(
                get_desk(),
                form.name.data,
                form.body.data,
                _known(form.category.data),
                current_user.username,
                template_id,
            )
            flash("模板已保存。", "success")
            return redirect(url_for(".reply_templates"))
        except TicketError as e:
            flash(f"未能保存模板：{person_message(e)}", "error")
            status = 400
        except LookupError:
            abort(404)
    elif form.errors:
        status = 400
    return _page(form, template), status


def _page(form: ReplyTemplateForm, editing) -> str:
    """The templates page: the list, and the form adding one (or editing `editing`)."""
    return render_template(
        "admin/reply_templates.html",
        templates=list_templates(get_desk(), every=True),
        form=form,
        editing=editing,
        action_form=ActionForm(),
        placeholders=PLACEHOLDERS,
    )


@bp.post("/templates/<id:template_id>/delete")
def reply_template_delete(template_id: int):
    """Delete a reply template."""
    if not ActionForm().validate_on_submit():
        abort(400)
    if not delete_template(get_desk(), template_id):
        abort(404)
    flash("模板已删除。", "success")
    return redirect(url_for(".reply_templates"))
