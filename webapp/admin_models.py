"""The model history page (/agent/admin/models): every trained version with its status and its
evaluation beside the model it was compared with; retraining as a background run whose progress the
page polls; rolling back, and promoting a refused candidate anyway (confirmed, with a note)."""

from __future__ import annotations

from pathlib import Path

from flask import abort, current_app, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from wtforms import BooleanField, TextAreaField
from wtforms.validators import DataRequired, Length

from triage import versions
from webapp.admin import bp
from webapp.audit_views import audit
from webapp.db import get_desk
from webapp.desk import model_versions
from webapp.forms import ActionForm, DeskForm
from webapp.jobs import enqueue_training
from webapp.retraining import STAGE_LABELS, make_current, tolerances

NOTE_MAX_CHARS = 500


class PromoteAnywayForm(DeskForm):
    """Promoting a refused candidate: an explicit confirmation and the reason for it."""

    confirm = BooleanField("我已知晓该版本未通过评估，仍要发布", validators=[DataRequired("请勾选确认")])
    note = TextAreaField(
        "发布原因",
        validators=[
            DataRequired("请填写仍然发布的原因"),
            Length(max=NOTE_MAX_CHARS, message=f"原因不能超过 {NOTE_MAX_CHARS} 个字"),
        ],
    )


def _page(promote_form: PromoteAnywayForm | None = None, status: int = 200):
    desk = get_desk()
    model_dir = Path(current_app.config["MODEL_DIR"])
    history = model_versions.list_versions(desk)
    runs = model_versions.recent_runs(desk, 5)
    page = render_template(
        "admin/models.html",
        history=history,
        on_disk={v.version: versions.has_files(model_dir, v.version) for v in history},
        active=next((r for r in runs if r.active), None),
        last=runs[0] if runs else None,
        stage_labels=STAGE_LABELS,
        tolerances=tolerances(current_app),
        keep_refused=current_app.config["MODEL_KEEP_REFUSED"],
        action_form=ActionForm(),
        promote_form=promote_form or PromoteAnywayForm(formdata=None),
        failed_version=getattr(promote_form, "version", None),
    )
    return page, status


@bp.get("/models")
def models():
    """The model history, with the run under way (if any)."""
    return _page()


@bp.post("/models/train")
def models_train():
    """Queue a retraining run (one at a time) and start it in the background."""
    if not ActionForm().validate_on_submit():
        flash("操作未完成：请刷新页面后重试。", "error")
        return redirect(url_for(".models"))
    desk = get_desk()
    try:
        run = model_versions.request_run(desk, current_user.username, current_app.config["TRAINING_STALE_MINUTES"])
    except model_versions.RunBusy as e:
        flash(str(e), "error")
        return redirect(url_for(".models"))
    audit("model.train", f"training_run:{run.id}")
    enqueue_training(run.id)
    flash("已开始重新训练：训练出的候选模型会与当前模型对比，通过评估才会发布。", "success")
    return redirect(url_for(".models"))


@bp.get("/models/runs/<id:run_id>")
def models_run(run_id: int):
    """A training run's status, stage and progress, as JSON (the page polls it)."""
    run = model_versions.get_run(get_desk(), run_id)
    if run is None:
        abort(404)
    return jsonify({**run.as_json(), "stage_label": STAGE_LABELS.get(run.stage or "queued", run.stage)})


@bp.post("/models/<version>/rollback")
def models_rollback(version: str):
    """Make an earlier (retired) version current again."""
    if not ActionForm().validate_on_submit():
        flash("操作未完成：请刷新页面后重试。", "error")
        return redirect(url_for(".models"))
    known = model_versions.get_version(get_desk(), version)
    if known is None:
        abort(404)
    if known.status == "refused":
        flash("该版本未通过评估，不能直接回滚；如确需发布，请用“仍然发布”并填写原因。", "error")
        return redirect(url_for(".models"))
    try:
        make_current(current_app._get_current_object(), version, current_user.username)
    except (model_versions.VersionStateError, versions.VersionError) as e:
        flash(f"未能回滚：{e}", "error")
        return redirect(url_for(".models"))
    audit("model.rollback", f"model:{version}")
    flash(f"已回滚：当前模型为 {version}，各节点会自动加载。", "success")
    return redirect(url_for(".models"))


@bp.post("/models/<version>/promote")
def models_promote(version: str):
    """Promote a refused candidate anyway: needs the confirmation box and a note (audit-logged)."""
    known = model_versions.get_version(get_desk(), version)
    if known is None:
        abort(404)
    form = PromoteAnywayForm()
    if known.status != "refused":
        flash("只有未通过评估的版本需要“仍然发布”。", "error")
        return redirect(url_for(".models"))
    if not form.validate_on_submit():
        form.version = version
        flash("未能发布：" + "；".join(e for errors in form.errors.values() for e in errors), "error")
        return _page(form, 400)
    note = form.note.data.strip()
    reason = f"{known.reason}；{current_user.username} 仍然发布：{note}"
    try:
        make_current(current_app._get_current_object(), version, current_user.username, reason)
    except (model_versions.VersionStateError, versions.VersionError) as e:
        flash(f"未能发布：{e}", "error")
        return redirect(url_for(".models"))
    audit("model.promote_anyway", f"model:{version}", {"note": note})
    flash(f"已发布未通过评估的版本 {version}。", "success")
    return redirect(url_for(".models"))
