"""The admin pages of the desk (admins only): desk accounts, API tokens and webhooks."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from webapp.agent import desk_context
from webapp.audit_views import audit
from webapp.auth import require_admin
from webapp.db import get_desk
from webapp.desk import accounts, outbox, webhooks
from webapp.errors import person_message
from webapp.forms import ROLE_LABELS, ActionForm, PasswordForm, RoleForm, TokenForm, UserForm, WebhookForm
from webapp.jobs import enqueue_delivery

bp = Blueprint("admin", __name__, url_prefix="/agent/admin")


@bp.before_request
def _admin_required():
    """Anonymous visitors log in first; agents who are not admins get 403."""
    return require_admin()


bp.context_processor(desk_context)
bp.context_processor(lambda: {"role_labels": ROLE_LABELS})


@bp.get("/")
def index():
    """The admin home is the account list."""
    return redirect(url_for(".users"))


def _users_page(form: UserForm, status: int = 200):
    page = render_template(
        "admin/users.html",
        users=accounts.list_users(get_desk()),
        form=form,
        action_form=ActionForm(),
        role_form=RoleForm(),
        password_form=PasswordForm(),
    )
    return page, status


@bp.route("/users", methods=["GET", "POST"])
def users():
    """List the desk accounts and add one."""
    form = UserForm()
    if form.validate_on_submit():
        desk = get_desk()
        try:
            with desk.write():
                user = accounts.create_user(desk, form.username.data, form.password.data, form.role.data)
                audit("user.create", f"user:{user.username}", {"role": user.role})
        except accounts.AccountError as e:
            flash(f"未能添加账号：{person_message(e)}", "error")
            return _users_page(form, 400)
        flash(f"已添加账号 {user.username}。", "success")
        return redirect(url_for(".users"))
    return _users_page(form, 400 if form.errors else 200)


def _account_action(action, success: str, audited: str, username: str, detail: dict | None = None):
    """Run an account change and record it in the audit log, in one transaction."""
    desk = get_desk()
    try:
        with desk.write():
            action()
            audit(audited, f"user:{username}", detail)
        flash(success, "success")
    except accounts.AccountError as e:
        flash(f"操作未完成：{person_message(e)}", "error")
    return redirect(url_for(".users"))


@bp.post("/users/<username>/role")
def user_role(username: str):
    """Make an account an agent or an admin."""
    form = RoleForm()
    if not form.validate_on_submit():
        flash("操作未完成：请选择角色。", "error")
        return redirect(url_for(".users"))
    return _account_action(
        lambda: accounts.set_role(get_desk(), username, form.role.data),
        f"{username} 的角色已更新。",
        "user.role",
        username,
        {"role": form.role.data},
    )


@bp.post("/users/<username>/disable")
def user_disable(username: str):
    """Disable an account (it can no longer log in)."""
    if username == current_user.username:
        flash("不能停用自己的账号。", "error")
        return redirect(url_for(".users"))
    return _account_action(
        lambda: accounts.set_active(get_desk(), username, False), f"{username} 已停用。", "user.deactivate", username
    )


@bp.post("/users/<username>/enable")
def user_enable(username: str):
    """Enable a disabled account."""
    return _account_action(
        lambda: accounts.set_active(get_desk(), username, True), f"{username} 已启用。", "user.activate", username
    )


@bp.post("/users/<username>/password")
def user_password(username: str):
    """Set a new password for an account."""
    form = PasswordForm()
    if not form.validate_on_submit():
        flash("操作未完成：密码至少 8 位。", "error")
        return redirect(url_for(".users"))
    return _account_action(
        lambda: accounts.set_password(get_desk(), username, form.password.data),
        f"{username} 的密码已重置。",
        "user.password",
        username,
    )


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    """List the API tokens and create one (its secret is shown on this page, once)."""
    form = TokenForm()
    secret = created = None
    status = 200
    if form.validate_on_submit():
        desk = get_desk()
        try:
            with desk.write():
                created, secret = accounts.create_token(desk, form.name.data, current_user.username)
                audit("token.create", f"token:{created.name}", {"prefix": created.prefix})
            form = TokenForm(formdata=None)
        except accounts.AccountError as e:
            flash(f"未能创建令牌：{person_message(e)}", "error")
            status = 400
    elif form.errors:
        status = 400
    page = render_template(
        "admin/tokens.html",
        tokens=accounts.list_tokens(get_desk()),
        form=form,
        action_form=ActionForm(),
        created=created,
        secret=secret,
    )
    return page, status


@bp.post("/tokens/<id:token_id>/revoke")
def token_revoke(token_id: int):
    """Revoke a token: integrations using it get 401 from then on."""
    desk = get_desk()
    try:
        with desk.write():
            token = accounts.revoke_token_by_id(desk, token_id)
            audit("token.revoke", f"token:{token.name}", {"prefix": token.prefix})
        flash(f"令牌 {token.name} 已吊销。", "success")
    except accounts.AccountError as e:
        flash(f"操作未完成：{person_message(e)}", "error")
    return redirect(url_for(".tokens"))


@bp.route("/webhooks", methods=["GET", "POST"])
def webhook_list():
    """List the webhooks and add one (its secret is shown on this page, once)."""
    form = WebhookForm()
    added = secret = None
    status = 200
    if form.validate_on_submit():
        try:
            added, secret = webhooks.add_webhook(get_desk(), form.url.data, form.secret.data, current_user.username)
            audit("webhook.create", f"webhook:{added.id}", {"url": added.url})
            form = WebhookForm(formdata=None)
        except webhooks.WebhookError as e:
            flash(f"未能添加：{person_message(e)}", "error")
            status = 400
    elif form.errors:
        status = 400
    page = render_template(
        "admin/webhooks.html",
        webhooks=webhooks.list_webhooks(get_desk()),
        form=form,
        action_form=ActionForm(),
        added=added,
        secret=secret,
    )
    return page, status


@bp.get("/webhooks/<id:webhook_id>")
def webhook_detail(webhook_id: int):
    """One webhook's latest deliveries: event, status, attempts, what the receiver answered."""
    webhook = webhooks.get_webhook(get_desk(), webhook_id)
    if webhook is None:
        abort(404)
    deliveries = webhooks.recent_deliveries(get_desk(), webhook_id)
    return render_template("admin/webhook.html", webhook=webhook, deliveries=deliveries, action_form=ActionForm())


def _switch(webhook_id: int, active: bool):
    if not ActionForm().validate_on_submit():
        flash("操作未完成：请刷新页面后重试。", "error")
        return redirect(url_for(".webhook_list"))
    try:
        webhook = webhooks.set_active(get_desk(), webhook_id, active)
    except webhooks.WebhookError:
        abort(404)
    audit("webhook.activate" if active else "webhook.deactivate", f"webhook:{webhook_id}", {"url": webhook.url})
    flash(f"{webhook.url} 已{'启用' if active else '停用'}。", "success")
    return redirect(url_for(".webhook_list"))


@bp.post("/webhooks/<id:webhook_id>/deactivate")
def webhook_deactivate(webhook_id: int):
    """Stop sending events to a webhook (its waiting deliveries wait until it is enabled again)."""
    return _switch(webhook_id, False)


@bp.post("/webhooks/<id:webhook_id>/activate")
def webhook_activate(webhook_id: int):
    """Send events to a webhook again."""
    return _switch(webhook_id, True)


@bp.post("/webhooks/deliveries/<id:delivery_id>/redeliver")
def webhook_redeliver(delivery_id: int):
    """Send a delivery again now (same delivery id: a receiver that already has it can tell)."""
    webhook_id = webhooks.delivery_webhook(get_desk(), delivery_id)
    if webhook_id is None:
        abort(404)
    if ActionForm().validate_on_submit() and outbox.redeliver(get_desk(), delivery_id):
        enqueue_delivery()
        flash("已重新排队投递。", "success")
    else:
        flash("操作未完成：请刷新页面后重试。", "error")
    return redirect(url_for(".webhook_detail", webhook_id=webhook_id))


# Their routes: the audit log, the due-time policy (/agent/admin/sla), reply templates.
from webapp import admin_audit, admin_models, admin_notices, admin_sla, admin_templates  # noqa: E402, F401
