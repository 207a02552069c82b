"""The admin page for notices (/agent/admin/notices): the banners on the merchant pages, current,
scheduled and past, a form to publish one (times in China time, as the desk shows them everywhere)
and a button to withdraw one. `?text=...` prefills the form (the dashboard's "发布公告" on a burst)."""

from __future__ import annotations

import datetime as dt

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import DateTimeLocalField, TextAreaField
from wtforms.validators import InputRequired

from webapp.admin import bp
from webapp.audit_views import audit
from webapp.db import get_desk
from webapp.desk import notices
from webapp.desk.storage import now
from webapp.forms import ActionForm, DeskForm
from webapp.notices import notice_cache
from webapp.render import CHINA_TIME

TIME_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends
STATE_LABELS = {"active": "展示中", "scheduled": "未开始", "ended": "已结束", "withdrawn": "已撤下"}
DEFAULT_HOURS = 2  # the end time the form suggests


class NoticeForm(DeskForm):
    """A notice: its text, and from when to when it shows (China time, to the minute)."""

    text = TextAreaField(
        "公告内容", validators=[InputRequired("请填写公告内容")], render_kw={"maxlength": notices.TEXT_MAX_CHARS}
    )
    starts = DateTimeLocalField("开始时间", format=TIME_FORMAT, validators=[InputRequired("请填写开始时间")])
    ends = DateTimeLocalField("结束时间", format=TIME_FORMAT, validators=[InputRequired("请填写结束时间")])


def _china(moment: dt.datetime) -> dt.datetime:
    """A form's naive time as China time."""
    return moment.replace(tzinfo=CHINA_TIME)


def _page(form: NoticeForm, status: int = 200):
    at = now()
    page = render_template(
        "admin/notices.html",
        notices=notices.list_notices(get_desk(), at),
        at=at,
        state_labels=STATE_LABELS,
        form=form,
        action_form=ActionForm(),
        max_text=notices.TEXT_MAX_CHARS,
    )
    return page, status


@bp.route("/notices", methods=["GET", "POST"])
def notice_list():
    """List the notices and publish one."""
    form = NoticeForm()
    if form.validate_on_submit():
        desk = get_desk()
        try:
            with desk.write():
                notice = notices.publish(
                    desk,
                    form.text.data,
                    _china(form.starts.data),
                    _china(form.ends.data),
                    current_user.username,
                    dt.datetime.now(dt.UTC),
                )
                audit("notice.publish", f"notice:{notice.id}", {"text": notice.text, "ends": notice.ends})
        except notices.NoticeError as e:
            flash(f"未能发布：{e.message}", "error")
            return _page(form, 400)
        notice_cache().forget()
        flash("公告已发布，商户页面将在开始时间显示。", "success")
        return redirect(url_for(".notice_list"))
    if not form.is_submitted():
        start = dt.datetime.now(CHINA_TIME).replace(second=0, microsecond=0, tzinfo=None)
        form.starts.data = start
        form.ends.data = start + dt.timedelta(hours=DEFAULT_HOURS)
        form.text.data = (request.args.get("text") or "")[: notices.TEXT_MAX_CHARS]
    return _page(form, 400 if form.errors else 200)


@bp.post("/notices/<id:notice_id>/withdraw")
def notice_withdraw(notice_id: int):
    """Take a notice down: the merchant pages stop showing it at once."""
    if not ActionForm().validate_on_submit():
        flash("操作未完成：请刷新页面后重试。", "error")
        return redirect(url_for(".notice_list"))
    desk = get_desk()
    with desk.write():
        withdrawn = notices.withdraw(desk, notice_id, dt.datetime.now(dt.UTC))
        if withdrawn:
            audit("notice.withdraw", f"notice:{notice_id}", {"text": withdrawn.text})
    if withdrawn:
        notice_cache().forget()
        flash("公告已撤下。", "success")
    else:
        flash("这条公告已结束或已撤下。", "error")
    return redirect(url_for(".notice_list"))
